"""Offline smoothing of the ``ground`` association: whole-trajectory positions, and points re-assigned to them.

Online, a ground track's position at a step is a Kalman *filter* estimate: it knows only the past, so where
people crowd it lags, and a point that went to the wrong track pulls it aside.  At the end of the run every
re-linked trajectory is known: a Rauch-Tung-Striebel smoother gives each one its position at every step from
all of its points, before and after.  Each camera's points are then matched to those smoothed positions
again (one point per trajectory and camera, the same likelihood and gates as online), which takes back
points that went to a neighbour, and the trajectories are smoothed once more from what they now hold.  The
boxes then carry the smoothed positions (``relocate``), so ``global.txt`` and the ground metrics use them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtmc.association.ground_fusion import fuse, kalman_update, match_points


@dataclass
class PointLog:
    """Every located point of the run, one row each: when, which camera and tracklet, where, how certain."""

    frame: np.ndarray  # (N,) int
    camera: np.ndarray  # (N,) int
    local_id: np.ndarray  # (N,) int, the camera tracker's id
    xy: np.ndarray  # (N, 2) ground point (m)
    cov: np.ndarray  # (N, 2, 2) its covariance

    @classmethod
    def from_steps(cls, steps: list[tuple[int, int, list[int], np.ndarray, np.ndarray]]) -> PointLog:
        """Rows from per-step, per-camera (frame, camera, local ids, points (n, 2), covariances (n, 2, 2))."""
        sizes = [len(ids) for _, _, ids, _, _ in steps]
        return cls(np.repeat([f for f, *_ in steps], sizes).astype(np.int64),
                   np.repeat([c for _, c, *_ in steps], sizes).astype(np.int64),
                   np.concatenate([np.asarray(ids, np.int64) for _, _, ids, _, _ in steps]),
                   np.concatenate([pts for *_, pts, _ in steps]).reshape(-1, 2),
                   np.concatenate([covs for *_, covs in steps]).reshape(-1, 2, 2))

    def keys(self) -> list[tuple[int, int, int]]:
        """(camera, frame, local id) of every row."""
        return list(zip(self.camera.tolist(), self.frame.tolist(), self.local_id.tolist()))


@dataclass
class Trajectory:
    first_frame: int
    x: np.ndarray  # (T, 4) smoothed state (x, y, vx, vy) at first_frame .. first_frame + T - 1
    P: np.ndarray  # (T, 4, 4) its covariance

    def at(self, frame: int) -> int:
        """Row of ``frame`` (-1 outside the trajectory)."""
        k = frame - self.first_frame
        return k if 0 <= k < len(self.x) else -1


def smooth(steps: dict[int, list[int]], log: PointLog, F: np.ndarray, Q: np.ndarray, init_speed: float
           ) -> Trajectory:
    """RTS-smoothed constant-velocity trajectory through the points ``steps`` (frame -> point rows), from the
    first frame to the last, coasting over the frames without points."""
    first, last = min(steps), max(steps)
    n = last - first + 1
    filt_x, filt_P = np.zeros((n, 4)), np.zeros((n, 4, 4))
    pred_x, pred_P = np.zeros((n, 4)), np.zeros((n, 4, 4))
    x = P = None
    for k in range(n):
        rows = steps.get(first + k, [])
        if x is None:  # the first step: start at the fused points, velocity unknown
            mean, cov = fuse(list(log.xy[rows]), list(log.cov[rows]))
            x, P = np.array([*mean, 0.0, 0.0]), np.zeros((4, 4))
            P[:2, :2], P[2:, 2:] = cov, np.eye(2) * init_speed**2
            pred_x[k], pred_P[k] = x, P
        else:
            x, P = F @ x, F @ P @ F.T + Q
            pred_x[k], pred_P[k] = x, P
            for r in rows:
                x, P = kalman_update(x, P, log.xy[r], log.cov[r])
        filt_x[k], filt_P[k] = x, P
    return Trajectory(first, *backward_pass(filt_x, filt_P, pred_x, pred_P, F))


def backward_pass(filt_x: np.ndarray, filt_P: np.ndarray, pred_x: np.ndarray, pred_P: np.ndarray, F: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The Rauch-Tung-Striebel backward recursion: filtered (past-only) states -> smoothed (whole-run) ones."""
    xs, Ps = filt_x.copy(), filt_P.copy()
    for k in range(len(xs) - 2, -1, -1):
        gain = filt_P[k] @ F.T @ np.linalg.inv(pred_P[k + 1])
        xs[k] = filt_x[k] + gain @ (xs[k + 1] - pred_x[k + 1])
        Ps[k] = filt_P[k] + gain @ (Ps[k + 1] - pred_P[k + 1]) @ gain.T
    return xs, Ps


def trajectories(log: PointLog, labels: np.ndarray, F: np.ndarray, Q: np.ndarray, init_speed: float
                 ) -> dict[int, Trajectory]:
    """One smoothed trajectory per label (>= 0) from the points carrying it."""
    by_label: dict[int, dict[int, list[int]]] = {}
    for r in np.flatnonzero(labels >= 0).tolist():
        by_label.setdefault(int(labels[r]), {}).setdefault(int(log.frame[r]), []).append(r)
    return {lab: smooth(steps, log, F, Q, init_speed) for lab, steps in by_label.items()}


def reassign(log: PointLog, labels: np.ndarray, traj: dict[int, Trajectory], gate: float, max_distance: float,
             nll: bool = True) -> np.ndarray:
    """Labels after matching each camera's points of each frame to the trajectories there (the online
    matching's cost, :func:`match_points`, within ``gate`` (squared Mahalanobis) and ``max_distance`` (m)).  A point that no
    trajectory takes keeps its label unless another point of its camera took that label."""
    out = labels.copy()
    names = np.array(sorted(traj), dtype=np.int64)
    firsts = np.array([traj[n].first_frame for n in names], dtype=np.int64)
    lasts = np.array([traj[n].first_frame + len(traj[n].x) - 1 for n in names], dtype=np.int64)
    keys = log.frame * (int(log.camera.max(initial=0)) + 1) + log.camera
    order = np.argsort(keys, kind="stable")
    bounds = np.flatnonzero(np.diff(keys[order])) + 1
    for rows in np.split(order, bounds):
        if not len(rows):
            continue
        frame = int(log.frame[rows[0]])
        alive = np.flatnonzero((firsts <= frame) & (lasts >= frame))
        if not len(alive):
            continue
        pos = np.stack([traj[int(names[a])].x[frame - firsts[a], :2] for a in alive])
        P = np.stack([traj[int(names[a])].P[frame - firsts[a], :2, :2] for a in alive])
        pairs = match_points(log.xy[rows], log.cov[rows], pos, P, gate, max_distance, nll)
        taken = {n: int(names[alive[t]]) for t, n in pairs}
        given = set(taken.values())
        for n, r in enumerate(rows.tolist()):
            if n in taken:
                out[r] = taken[n]
            elif out[r] in given:
                out[r] = -1
    return out


def smooth_and_reassign(log: PointLog, labels: np.ndarray, F: np.ndarray, Q: np.ndarray, init_speed: float,
                        gate: float, max_distance: float, passes: int, nll: bool = True
                        ) -> tuple[np.ndarray, dict[int, Trajectory]]:
    """Labels after ``passes`` rounds of smoothing and re-assignment, and the final smoothed trajectories."""
    traj = trajectories(log, labels, F, Q, init_speed)
    for _ in range(passes):
        labels = reassign(log, labels, traj, gate, max_distance, nll)
        traj = trajectories(log, labels, F, Q, init_speed)
    return labels, traj


def smoothed_position(traj: dict[int, Trajectory], label: int, frame: int) -> np.ndarray | None:
    """The smoothed (x, y) of ``label`` at ``frame``, None where it has none."""
    t = traj.get(label)
    k = -1 if t is None else t.at(frame)
    return None if k < 0 else t.x[k, :2]
