"""Offline smoothing of the ``ground`` association (mtmc/association/ground_smooth.py)."""

from __future__ import annotations

import numpy as np

from mtmc.association.ground_fusion import constant_velocity, kalman_update
from mtmc.association.ground_smooth import PointLog, reassign, smooth, trajectories

FPS = 2.0
F, Q = constant_velocity(FPS, 0.5)


def log_of(frames, cams, xy, std=0.1) -> PointLog:
    n = len(frames)
    return PointLog(np.asarray(frames, np.int64), np.asarray(cams, np.int64), np.arange(n, dtype=np.int64),
                    np.asarray(xy, float).reshape(n, 2), np.repeat((np.eye(2) * std**2)[None], n, axis=0))


def test_the_smoother_beats_the_filter_and_bridges_a_step_without_points():
    rng = np.random.default_rng(3)
    frames = [f for f in range(1, 21) if f != 10]  # nobody saw the person at frame 10
    truth = {f: np.array([0.5 * f, 2.0]) for f in range(1, 21)}  # 1 m/s along x
    log = log_of(frames, [0] * len(frames), [truth[f] + rng.normal(0, 0.3, 2) for f in frames], std=0.3)
    traj = smooth({f: [k] for k, f in enumerate(frames)}, log, F, Q, init_speed=1.0)
    assert traj.first_frame == 1 and len(traj.x) == 20
    # the same filter, forwards only
    x, P, filtered = np.array([*log.xy[0], 0.0, 0.0]), np.diag([0.09, 0.09, 1.0, 1.0]), {1: log.xy[0]}
    for k, f in enumerate(frames[1:], start=1):
        for _ in range(f - frames[k - 1]):
            x, P = F @ x, F @ P @ F.T + Q
        x, P = kalman_update(x, P, log.xy[k], log.cov[k])
        filtered[f] = x[:2]
    err_smooth = np.mean([np.linalg.norm(traj.x[traj.at(f), :2] - truth[f]) for f in frames])
    err_filter = np.mean([np.linalg.norm(filtered[f] - truth[f]) for f in frames])
    assert err_smooth < 0.8 * err_filter
    assert np.linalg.norm(traj.x[traj.at(10), :2] - truth[10]) < 0.3  # between its neighbours
    assert traj.at(0) == -1 and traj.at(21) == -1


def test_points_given_to_a_neighbour_are_taken_back():
    # Two people walk side by side, 1 m apart, seen by cameras 0 and 1.  At frame 5 camera 0's point of B
    # went to A's label (and camera 0's point of A to nobody); the trajectories say otherwise.
    frames, cams, xy, labels = [], [], [], []
    for f in range(1, 10):
        for cam in (0, 1):
            for lab, y in ((1, 0.0), (2, 1.0)):
                frames.append(f)
                cams.append(cam)
                xy.append((0.5 * f, y))
                labels.append(lab)
    labels = np.array(labels)
    wrong_b = next(k for k, (f, c, lab) in enumerate(zip(frames, cams, labels)) if (f, c, lab) == (5, 0, 2))
    lost_a = next(k for k, (f, c, lab) in enumerate(zip(frames, cams, labels)) if (f, c, lab) == (5, 0, 1))
    labels[wrong_b], labels[lost_a] = 1, -1
    frames.append(5)  # and a stray, very uncertain point of camera 0 far from both, carrying A's label too
    cams.append(0)
    xy.append((30.0, 30.0))
    labels = np.r_[labels, 1]
    log = log_of(frames, cams, xy)
    log.cov[-1] = np.eye(2) * 100.0
    traj = trajectories(log, labels, F, Q, init_speed=1.0)
    out = reassign(log, labels, traj, gate=9.0, max_distance=1.5)
    assert out[wrong_b] == 2 and out[lost_a] == 1
    assert out[-1] == -1  # nobody's: its label went to a point that fits it
    assert (out[:-1][labels[:-1] >= 0] == labels[:-1][labels[:-1] >= 0]).sum() >= len(labels) - 3
