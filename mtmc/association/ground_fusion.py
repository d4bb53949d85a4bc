"""Ground-plane measurement model of the ``ground`` association: point uncertainty, fusion, Kalman steps.

A foot point seen by a camera is uncertain mostly along the camera's viewing ray: a vertical pixel
error moves the point by (pixel error) x (distance / camera height), roughly, so far people seen by
low cameras spread into long ellipses pointing at the camera.
"""

from __future__ import annotations

import numpy as np

from trackers.matching import linear_assignment

H = np.hstack([np.eye(2), np.zeros((2, 2))])  # state (x, y, vx, vy) -> position


def ray_covariances(pts: np.ndarray, centre: np.ndarray | None, point_noise: float, range_noise: float
                    ) -> np.ndarray:
    """(N, 2, 2) covariances: ``point_noise`` across the ray, plus ``range_noise`` x slant range / height along it."""
    base = point_noise**2
    covs = np.repeat((np.eye(2) * base)[None], len(pts), axis=0)
    if centre is None or len(pts) == 0 or centre[2] <= 0:
        return covs
    d = np.nan_to_num(pts - centre[:2])
    flat = np.linalg.norm(d, axis=1)
    ray = d / np.maximum(flat, 1e-9)[:, None]
    slant = np.sqrt(flat**2 + centre[2] ** 2) / centre[2]  # 1 / sin(depression angle)
    along = base + (range_noise * slant) ** 2
    covs += (along - base)[:, None, None] * ray[:, :, None] * ray[:, None, :]
    return covs


def fuse(points: list[np.ndarray], covs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Information-weighted mean of points with covariances, and its covariance."""
    infos = [np.linalg.inv(c) for c in covs]
    cov = np.linalg.inv(sum(infos))
    return cov @ sum(i @ p for i, p in zip(infos, points)), cov


def constant_velocity(fps: float, accel_noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Transition F and process noise Q of a 2D constant-velocity model (white-noise acceleration)."""
    dt = 1.0 / fps
    F = np.eye(4)
    F[0, 2] = F[1, 3] = dt
    g = np.array([[dt * dt / 2, 0], [0, dt * dt / 2], [dt, 0], [0, dt]])
    return F, accel_noise**2 * g @ g.T


def kalman_update(x: np.ndarray, P: np.ndarray, z: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kalman update of state (x, P) with a position measurement z of covariance R."""
    S = H @ P @ H.T + R
    K = P @ H.T @ np.linalg.inv(S)
    return x + K @ (z - H @ x), (np.eye(4) - K @ H) @ P


def match_points(pts: np.ndarray, covs: np.ndarray, pos: np.ndarray, P: np.ndarray, gate: float,
                 max_distance: float, nll: bool = True, credit: np.ndarray | None = None) -> list[tuple[int, int]]:
    """(track, point) pairs of a min-cost assignment of points (N, 2; covariances (N, 2, 2)) to tracks at
    ``pos`` (T, 2; covariances ``P`` (T, 2, 2)).  The cost is the squared Mahalanobis distance, plus
    log det of the innovation covariance with ``nll`` (the negative log-likelihood), minus ``credit`` (T, N);
    pairs beyond ``gate`` (squared Mahalanobis) or ``max_distance`` (m) are never made."""
    diff = pts[None, :, :] - pos[:, None, :]  # (T, N, 2)
    S = P[:, None] + covs[None, :]
    d2 = np.einsum("tni,tnij,tnj->tn", diff, np.linalg.inv(S), diff)
    valid = (d2 <= gate) & (np.linalg.norm(diff, axis=2) <= max_distance)
    cost = d2 + np.log(np.linalg.det(S)) if nll else d2.copy()
    if credit is not None:
        cost = cost - credit
    matches, _, _ = linear_assignment(np.where(valid, cost, 1e6))
    return [(r, c) for r, c in matches.tolist() if valid[r, c]]
