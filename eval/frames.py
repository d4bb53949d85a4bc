"""Ground truth and predictions grouped by frame key, with their IoU distances (shared by MOT and HOTA)."""

from __future__ import annotations

from dataclasses import dataclass

import motmetrics as mm  # after eval/__init__ installed the NumPy 2 shim (eval._compat)
import numpy as np

from mtmc.boxes import tlwh

_EMPTY = np.empty(0, dtype=np.intp)


@dataclass
class Frame:
    """One evaluation time step: indices into the gt / pred arrays and their IoU distance matrix."""

    key: int
    gt: np.ndarray  # (n,) indices into the ground-truth boxes
    pred: np.ndarray  # (m,) indices into the predicted boxes
    dist: np.ndarray  # (n, m) 1 - IoU, no NaN


def group_by_key(keys: np.ndarray) -> dict[int, np.ndarray]:
    """key -> indices with that key, by one sort and split (not one mask over the array per key)."""
    keys = np.asarray(keys)
    order = np.argsort(keys, kind="stable")
    uniq, starts = np.unique(keys[order], return_index=True)
    return dict(zip(uniq.tolist(), np.split(order, starts[1:])))


def match_frames(gt: np.ndarray, gt_keys: np.ndarray, pred: np.ndarray, pred_keys: np.ndarray) -> list[Frame]:
    """Pair gt and predictions per key over the union of keys, sorted by key.

    A key present in only one of them still becomes a step (all misses or all false positives).
    """
    by_gt = group_by_key(gt_keys)
    by_pred = group_by_key(pred_keys)
    gt_tlwh, pred_tlwh = tlwh(gt), tlwh(pred)
    frames = []
    for key in sorted(by_gt.keys() | by_pred.keys()):
        g = by_gt.get(key, _EMPTY)
        p = by_pred.get(key, _EMPTY)
        if len(g) and len(p):
            dist = mm.distances.iou_matrix(gt_tlwh[g], pred_tlwh[p], max_iou=1.0)  # 1 - IoU, never NaN here
        else:
            dist = np.zeros((len(g), len(p)))
        frames.append(Frame(int(key), g, p, dist))
    return frames
