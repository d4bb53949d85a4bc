"""Association primitives shared by all trackers: IoU, cosine distance, gating and the LAP solver.

Everything is vectorised over the (tracks x detections) matrix; the assignment is solved
with ``lap.lapjv`` (Jonker-Volgenant), which handles rectangular matrices via ``extend_cost``.
"""

from __future__ import annotations

import lap
import numpy as np

from mtmc.vectors import l2_normalize as unit_vectors

_EMPTY_MATCHES = np.empty((0, 2), dtype=np.int64)


def box_centres(b: np.ndarray) -> np.ndarray:
    """(..., 4) x1, y1, x2, y2 -> (..., 2) centre x, y."""
    b = np.asarray(b, dtype=np.float64)
    return (b[..., :2] + b[..., 2:4]) / 2.0


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) x1, y1, x2, y2 boxes -> (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0.0, None) * np.clip(iy2 - iy1, 0.0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return out


def linear_assignment(
    cost: np.ndarray, thresh: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-cost assignment; pairs costing more than ``thresh`` are not matched.

    Returns ``(matches (K, 2) [row, col], unmatched_rows, unmatched_cols)``.  ``thresh=None``
    solves the full rectangular problem (every row or column that can be matched is).
    """
    cost = np.asarray(cost, dtype=np.float64)
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return _EMPTY_MATCHES.copy(), np.arange(rows), np.arange(cols)
    if thresh is None:
        _, x, _ = lap.lapjv(cost, extend_cost=True)
    else:
        # pairs above the limit must never be chosen; lapjv's cost_limit adds the "unmatched" option
        clipped = np.where(cost > thresh, thresh + 1.0, cost)
        _, x, _ = lap.lapjv(clipped, extend_cost=True, cost_limit=thresh)
    matched_rows = np.flatnonzero(x >= 0)
    matches = np.stack([matched_rows, x[matched_rows]], axis=1).astype(np.int64)
    if thresh is not None and len(matches):
        matches = matches[cost[matches[:, 0], matches[:, 1]] <= thresh]
    unmatched_rows = np.setdiff1d(np.arange(rows), matches[:, 0], assume_unique=True)
    unmatched_cols = np.setdiff1d(np.arange(cols), matches[:, 1], assume_unique=True)
    return matches, unmatched_rows, unmatched_cols


def associate_iou(
    iou: np.ndarray, threshold: float, bonus: np.ndarray | None = None, shortcut: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SORT's association on a (rows, cols) IoU matrix.

    With ``shortcut``, when the pairs above ``threshold`` already form a one-to-one matching they are
    taken as they are; otherwise the assignment maximising IoU (plus ``bonus``, e.g. OC-SORT's direction
    consistency) is solved.  Pairs with IoU below ``threshold`` are then dropped.
    Returns ``(matches (K, 2) [row, col], unmatched_rows, unmatched_cols)``.
    """
    iou = np.asarray(iou, dtype=np.float64)
    rows, cols = iou.shape
    if rows == 0 or cols == 0:
        return _EMPTY_MATCHES.copy(), np.arange(rows), np.arange(cols)
    above = iou > threshold
    if shortcut and above.sum(1).max() == 1 and above.sum(0).max() == 1:
        matches = np.stack(np.nonzero(above), axis=1).astype(np.int64)
    else:
        matches, _, _ = linear_assignment(-(iou if bonus is None else iou + bonus))
    matches = matches[iou[matches[:, 0], matches[:, 1]] >= threshold]
    return (
        matches,
        np.setdiff1d(np.arange(rows), matches[:, 0], assume_unique=True),
        np.setdiff1d(np.arange(cols), matches[:, 1], assume_unique=True),
    )


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in float64, the trackers' precision (zero rows stay zero)."""
    return unit_vectors(np.asarray(x, dtype=np.float64))


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise ``1 - cos`` of (N, D) and (M, D) vectors -> (N, M) in [0, 2]."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    return np.clip(1.0 - l2_normalize(a) @ l2_normalize(b).T, 0.0, 2.0)


def gate(cost: np.ndarray, allowed: np.ndarray, value: float = np.inf) -> np.ndarray:
    """Copy of ``cost`` with ``value`` where ``allowed`` is False (pairs the solver must not pick)."""
    return np.where(allowed, cost, value)


def fuse_score(iou_cost: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ByteTrack's score fusion: IoU similarity scaled by the detection confidence, as a cost."""
    if iou_cost.size == 0:
        return iou_cost
    return 1.0 - (1.0 - iou_cost) * np.asarray(scores, dtype=np.float64)[None, :]
