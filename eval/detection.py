"""Detection quality against ground truth: precision, recall and AP at one IoU threshold.

Detections are matched to the gt of their (camera, frame) greedily in falling score order,
each to the unmatched gt box it overlaps most (IoU >= threshold), as in the PASCAL VOC and
COCO evaluations; AP is the area under the precision envelope (all-point interpolation).
Because matching goes best score first, the matches of the detections above any score
threshold are the matches those detections alone would get: one pass gives both AP and
precision / recall at the threshold.  Gt boxes flagged ``ignore`` (e.g. barely visible
people) neither count as misses nor turn the detection that covers them into a false positive.
"""

from __future__ import annotations

import numpy as np

from mtmc.boxes import xyxy
from trackers.matching import iou_matrix


def _keys(boxes: np.ndarray) -> np.ndarray:
    return boxes["camera"].astype(np.int64) * (1 << 32) + boxes["frame"].astype(np.int64)


def match_detections(gt: np.ndarray, det: np.ndarray, iou: float = 0.5,
                     ignore: np.ndarray | None = None) -> np.ndarray:
    """Per detection: 1 true positive, 0 false positive, -1 matched an ignored gt box (left out)."""
    ignore = np.zeros(len(gt), bool) if ignore is None else np.asarray(ignore, bool)
    out = np.zeros(len(det), np.int8)
    gt_keys, det_keys = _keys(gt), _keys(det)
    for key in np.unique(det_keys):
        d_idx = np.flatnonzero(det_keys == key)
        d_idx = d_idx[np.argsort(-det["score"][d_idx], kind="stable")]
        g_idx = np.flatnonzero(gt_keys == key)
        if not len(g_idx):
            continue
        overlap = iou_matrix(xyxy(det[d_idx]), xyxy(gt[g_idx]))
        # ignored gt last: a detection takes a real person first when it covers both
        order = np.argsort(ignore[g_idx], kind="stable")
        taken = np.zeros(len(g_idx), bool)
        for row, d in enumerate(d_idx):
            free = order[(~taken[order]) & (overlap[row, order] >= iou)]
            if not len(free):
                continue
            real = free[~ignore[g_idx[free]]]
            best = real[np.argmax(overlap[row, real])] if len(real) else free[np.argmax(overlap[row, free])]
            taken[best] = True
            out[d] = -1 if ignore[g_idx[best]] else 1
    return out


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the monotone precision envelope of a PR curve (points in falling-score order)."""
    r = np.concatenate([[0.0], recall, [recall[-1] if len(recall) else 0.0]])
    p = np.concatenate([[1.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    return float(np.sum((r[1:] - r[:-1]) * p[1:]))


def detection_metrics(gt: np.ndarray, det: np.ndarray, iou: float = 0.5, conf: float = 0.5,
                      ignore: np.ndarray | None = None) -> dict[str, float]:
    """AP (all scores), and precision / recall / counts of the detections scoring >= ``conf``."""
    flags = match_detections(gt, det, iou, ignore)
    keep = flags >= 0
    scores, tp = det["score"][keep], flags[keep] == 1
    order = np.argsort(-scores, kind="stable")
    scores, tp = scores[order], tp[order]
    n_gt = int(len(gt) - (0 if ignore is None else np.count_nonzero(ignore)))
    ctp = np.cumsum(tp)
    recall = ctp / max(n_gt, 1)
    precision = ctp / np.arange(1, len(tp) + 1)
    f1 = 2 * ctp / np.maximum(np.arange(1, len(tp) + 1) + n_gt, 1)
    best = int(np.argmax(f1)) if len(f1) else -1  # the operating point a user would pick from the PR curve
    above = scores >= conf
    n_tp, n_det = int(tp[above].sum()), int(above.sum())
    return {
        "ap": average_precision(recall, precision) if n_gt else 0.0,
        "precision": n_tp / n_det if n_det else 0.0,
        "recall": n_tp / n_gt if n_gt else 0.0,
        "conf": float(conf),
        "iou": float(iou),
        "gt": n_gt,
        "detections": n_det,
        "true_positives": n_tp,
        "best_f1": {"conf": float(scores[best]), "precision": float(precision[best]), "recall": float(recall[best])}
        if best >= 0 else None,
    }
