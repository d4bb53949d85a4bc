"""Ground-plane metrics: detection (MODA/MODP) and tracking (MOTA/IDF1/HOTA) on ground positions.

The protocols of the multi-view detection and tracking papers (WILDTRACK, MVDet, MVFlow,
EarlyBird): every person is a point on the ground; a prediction matches a ground-truth point
when they are at most ``threshold`` metres apart (0.5 m for detection, 1 m for tracking).

* **MODA** = 1 - (FP + FN) / GT and **MODP** = mean (1 - d / threshold) over matches, with each
  frame matched on its own (min-cost assignment of distances, no identities);
* **MOTA / IDF1 / IDP / IDR / IDsw** from py-motmetrics on the Euclidean distance matrix
  (identity-aware CLEAR-MOT matching); MOTP is reported like MODP (percent, 1 - d / threshold);
* **HOTA / DetA / AssA** from trackeval with similarity ``max(0, 1 - d / threshold)``.

Predictions are one point per (frame, id): :func:`ground_points` fuses a multi-camera result
(per-camera boxes with ground positions, e.g. ``global.txt``) by the median over the cameras.
"""

from __future__ import annotations

from collections.abc import Sequence

import motmetrics as mm  # after eval/__init__ installed the NumPy 2 shim (eval._compat)
import numpy as np
from scipy.optimize import linear_sum_assignment

from eval.frames import Frame, group_by_key
from eval.hota import hota_metric, sequence_data, summarize
from eval.mot import MM_METRICS, _accumulate_frames
from eval.report import MetricsReport, display_row
from mtmc.boxes import make_boxes
from mtmc.errors import ConfigError, DataError

THRESHOLDS = (0.5, 1.0)  # metres: detection papers use 0.5 m, tracking papers 1 m
_EMPTY = np.empty(0, dtype=np.intp)


def row_name(threshold: float) -> str:
    """Report row of a threshold: ``GROUND@0.5m``, ``GROUND@1m``."""
    return f"GROUND@{threshold:g}m"


def ground_points(tracks: np.ndarray) -> np.ndarray:
    """One ground point per (frame, id): the median position of that id's located boxes in that frame."""
    located = tracks[np.isfinite(tracks["gx"]) & np.isfinite(tracks["gy"]) & (tracks["id"] >= 0)]
    if len(located) == 0:
        return make_boxes(0)
    keys = np.stack([located["frame"], located["id"]], axis=1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    out = make_boxes(len(uniq))
    out["frame"], out["id"], out["camera"], out["w"], out["h"] = uniq[:, 0], uniq[:, 1], -1, 0.0, 0.0
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(len(uniq)))
    for name in ("gx", "gy"):
        parts = np.split(located[name][order], starts[1:])
        out[name] = [np.median(p) for p in parts]
    return out


def ground_frames(gt: np.ndarray, pred: np.ndarray, threshold: float) -> list[Frame]:
    """Per frame (union of frames): gt / pred indices and distances divided by ``threshold`` (no NaN)."""
    by_gt, by_pred = group_by_key(gt["frame"]), group_by_key(pred["frame"])
    gxy = np.stack([gt["gx"], gt["gy"]], axis=1)
    pxy = np.stack([pred["gx"], pred["gy"]], axis=1)
    frames = []
    for key in sorted(by_gt.keys() | by_pred.keys()):
        g, p = by_gt.get(key, _EMPTY), by_pred.get(key, _EMPTY)
        dist = np.linalg.norm(gxy[g][:, None, :] - pxy[p][None, :, :], axis=2) / threshold
        frames.append(Frame(int(key), g, p, dist.reshape(len(g), len(p))))
    return frames


def detection_counts(frames: Sequence[Frame]) -> dict[str, float]:
    """MODA / MODP with each frame matched on its own (distances normalised: a match needs d <= 1)."""
    tp = fp = fn = 0
    overlap = 0.0
    for f in frames:
        n, m = f.dist.shape
        matched = np.zeros(0)
        if n and m:
            big = 1.0 + n + m  # any valid pair is cheaper than giving up one: the most matches, then the closest
            cost = np.where(f.dist <= 1.0, f.dist, big)
            rows, cols = linear_sum_assignment(cost)
            matched = f.dist[rows, cols][cost[rows, cols] < big]
        tp += len(matched)
        fp += m - len(matched)
        fn += n - len(matched)
        overlap += float(np.sum(1.0 - matched))
    gt = tp + fn
    return {
        "moda": 1.0 - (fp + fn) / gt if gt else float("nan"),
        "modp": overlap / tp if tp else float("nan"),
        "det_tp": float(tp), "det_fp": float(fp), "det_fn": float(fn),
    }


def _check(points: np.ndarray, what: str) -> None:
    if len(points) == 0:
        return
    if not (np.isfinite(points["gx"]).all() and np.isfinite(points["gy"]).all()):
        raise DataError(f"{what}: ground positions must be finite")
    pairs = np.stack([points["frame"], points["id"]], axis=1)
    if len(np.unique(pairs, axis=0)) != len(pairs):
        raise DataError(f"{what}: one (frame, id) has two ground points; expected one point per person and frame")


def evaluate_ground(
    gt: np.ndarray, pred: np.ndarray, thresholds: Sequence[float] = THRESHOLDS, hota: bool = True
) -> MetricsReport:
    """Ground-plane rows (one per threshold, metres) of ``pred`` points against ``gt`` points (frame, id, gx, gy)."""
    if not thresholds:
        raise ConfigError("ground evaluation: no distance threshold given")
    for t in thresholds:
        if not np.isfinite(t) or t <= 0:
            raise ConfigError(f"ground evaluation: distance threshold must be > 0 metres, got {t!r}")
    _check(gt, "ground truth")
    _check(pred, "ground predictions")
    raw: dict[str, dict[str, float]] = {}
    notes: list[str] = []
    metric, why = hota_metric() if hota else (None, None)
    if hota and metric is None:
        notes.append(str(why))
    host = mm.metrics.create()
    for threshold in thresholds:
        frames = ground_frames(gt, pred, threshold)
        # distances are normalised by the threshold, so "may be paired" is dist <= 1 (IoU threshold 0)
        acc = _accumulate_frames(frames, gt["id"], pred["id"], 0.0)
        name = row_name(threshold)
        values = {str(k): float(v) for k, v in host.compute(acc, metrics=MM_METRICS, name=name).loc[name].items()}
        values.update(detection_counts(frames))
        if metric is not None:
            values.update(summarize(metric.eval_sequence(sequence_data(frames, gt["id"], pred["id"]))))
        raw[name] = values
    rows = {name: display_row(values) for name, values in raw.items()}
    notes.append("GROUND rows: ground positions matched within the row's distance; MODP/MOTP = mean 1 - d/threshold")
    return MetricsReport(rows=rows, raw=raw, iou_threshold=float("nan"), notes=notes)


def projection_errors(scene) -> np.ndarray:
    """Ground distance (m) between each gt box's projected foot point and the person's ``world_gt`` position.

    Boxes cut by the image border (no visible feet, or a shifted bottom centre) are left out.
    """
    from mtmc.boxes import foot_points
    from mtmc.camera_stage import FOOT_MARGIN_PX

    world = scene.load_world_gt()
    if world is None or not scene.calibration:
        raise DataError("the scene needs world_gt.txt and calibration.json", path=scene.root)
    index = {(int(f), int(i)): k for k, (f, i) in enumerate(zip(world["frame"], world["id"]))}
    errors = [np.zeros(0)]
    for cam in scene.cameras:
        gt, calib = scene.load_gt(cam.index), scene.camera_calibration(cam.index)
        if gt is None or calib is None:
            continue
        w, h = calib.image_size
        gt = gt[(gt["y"] + gt["h"] < h - FOOT_MARGIN_PX) & (gt["x"] > 0) & (gt["x"] + gt["w"] < w)]
        k = np.array([index.get((int(f), int(i)), -1) for f, i in zip(gt["frame"], gt["id"])], dtype=np.int64)
        gt, k = gt[k >= 0], k[k >= 0]
        truth = np.stack([world["gx"][k], world["gy"][k]], axis=1)
        errors.append(np.linalg.norm(calib.image_to_ground(foot_points(gt)) - truth, axis=1))
    return np.concatenate(errors)
