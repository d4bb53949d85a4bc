"""CLEAR-MOT, identity (IDF1) and HOTA metrics of tracks against ground truth, per camera and jointly.

Three kinds of rows:

* one per camera: that camera's tracks against its ground truth;
* ``OVERALL``: motmetrics' pooling of the per-camera results (counts summed, ratios recomputed) - the
  usual "all sequences" figure, in which an identity only has to be consistent within a camera;
* ``MULTICAM``: ONE accumulator over every (camera, frame) pair with global ids, so a person who carries
  a different track id in another camera is an identity error there (IDF1 drops, ID switch counted).

Matching uses IoU >= ``iou_threshold`` (motmetrics' ``iou_matrix`` with ``max_iou = 1 - threshold``).
MOTP is reported as the mean IoU overlap of matched pairs in percent (motmetrics' own ``motp``, the mean
IoU *distance*, stays in ``MetricsReport.raw``).  HOTA/DetA/AssA come from trackeval when installed.
"""

from __future__ import annotations

from collections.abc import Sequence

import motmetrics as mm  # after eval/__init__ installed the NumPy 2 shim (eval._compat)
import numpy as np

from eval.frames import Frame, match_frames
from eval.hota import hota_metric, sequence_data, summarize
from eval.report import MetricsReport, display_row

__all__ = ["MULTICAM", "OVERALL", "MetricsReport", "accumulate", "evaluate"]
from mtmc.errors import ConfigError, DataError

OVERALL = "OVERALL"
MULTICAM = "MULTICAM"

# motmetrics metrics computed for every row (all of them support motmetrics' OVERALL pooling).
MM_METRICS = [
    "num_frames", "idf1", "idp", "idr", "recall", "precision", "num_unique_objects", "mostly_tracked",
    "partially_tracked", "mostly_lost", "num_false_positives", "num_misses", "num_switches",
    "num_fragmentations", "mota", "motp", "num_objects", "num_predictions", "num_detections",
    "idtp", "idfp", "idfn",
]  # fmt: skip


def _check_threshold(iou_threshold: float) -> float:
    if not 0.0 < float(iou_threshold) <= 1.0:
        raise ConfigError(f"eval.iou_threshold: expected a number in (0, 1], got {iou_threshold!r}")
    return float(iou_threshold)


def _accumulate_frames(frames: Sequence[Frame], gt_ids: np.ndarray, pred_ids: np.ndarray, iou_threshold: float):
    acc = mm.MOTAccumulator(auto_id=False)
    max_dist = 1.0 - iou_threshold
    for f in frames:
        # NaN = "may not be paired", exactly as iou_matrix(max_iou=1 - threshold) would mark it
        dist = np.where(f.dist > max_dist, np.nan, f.dist)
        acc.update(gt_ids[f.gt], pred_ids[f.pred], dist, frameid=f.key)
    return acc


def accumulate(gt: np.ndarray, pred: np.ndarray, iou_threshold: float = 0.5) -> mm.MOTAccumulator:
    """motmetrics accumulator of one camera's ``pred`` boxes against ``gt`` (frames = union of frames)."""
    iou_threshold = _check_threshold(iou_threshold)
    frames = match_frames(gt, gt["frame"], pred, pred["frame"])
    return _accumulate_frames(frames, gt["id"], pred["id"], iou_threshold)


def _check_boxes(boxes: np.ndarray, what: str, notes: list[str]) -> None:
    """Reject boxes without identity; note (not hide) an id used twice in one frame, which is scored as is."""
    if len(boxes) == 0:
        return
    if (boxes["id"] < 0).any():
        frame = int(boxes["frame"][np.argmax(boxes["id"] < 0)])
        raise DataError(f"{what}: box without an identity (id -1) in frame {frame}; expected tracks with ids")
    pairs = np.stack([boxes["frame"], boxes["id"]], axis=1)
    uniq, counts = np.unique(pairs, axis=0, return_counts=True)
    dup = counts > 1
    if dup.any():
        frame, ident = uniq[np.argmax(dup)]
        notes.append(
            f"{what}: {int((counts[dup] - 1).sum())} duplicate (frame, id) boxes, first id {ident} in frame "
            f"{frame}; scored as given"
        )


def _camera_keys(parts: list[np.ndarray], stride: int) -> np.ndarray:
    """A unique integer key per (camera, frame): camera-major, so each camera's frames stay in order."""
    keys = [cam * stride + p["frame"].astype(np.int64) for cam, p in enumerate(parts)]
    return np.concatenate(keys) if keys else np.empty(0, dtype=np.int64)


def evaluate(
    gt_by_camera: dict[str, np.ndarray],
    pred_by_camera: dict[str, np.ndarray],
    iou_threshold: float = 0.5,
    hota: bool = True,
) -> MetricsReport:
    """Evaluate tracks (global ids) against ground truth (global ids), camera by camera and jointly.

    Both mappings must have the same camera names.  Returns per-camera rows (in ``gt_by_camera`` order),
    ``OVERALL`` and ``MULTICAM``.
    """
    iou_threshold = _check_threshold(iou_threshold)
    cameras = list(gt_by_camera)
    if not cameras:
        raise DataError("no cameras with ground truth to evaluate")
    for name in cameras:
        if name in (OVERALL, MULTICAM):
            raise DataError(f"camera name {name!r} is reserved for a pooled row; rename the camera")
        if name not in pred_by_camera:
            raise DataError(f"camera {name!r}: no tracking results (ground truth exists)")
    extra = [name for name in pred_by_camera if name not in gt_by_camera]
    if extra:
        raise DataError(f"camera {extra[0]!r}: tracking results but no ground truth")
    notes: list[str] = []
    for name in cameras:
        _check_boxes(gt_by_camera[name], f"camera {name!r} ground truth", notes)
        _check_boxes(pred_by_camera[name], f"camera {name!r} results", notes)

    gts = [gt_by_camera[c] for c in cameras]
    preds = [pred_by_camera[c] for c in cameras]
    frames = [match_frames(g, g["frame"], p, p["frame"]) for g, p in zip(gts, preds)]
    accs = [_accumulate_frames(f, g["id"], p["id"], iou_threshold) for f, g, p in zip(frames, gts, preds)]
    if len(cameras) == 1:
        joint = (frames[0], gts[0], preds[0])  # one camera: the joint evaluation is the camera's own
        joint_acc = accs[0]
    else:
        stride = 1 + max([int(a["frame"].max()) for a in gts + preds if len(a)], default=0)
        gt_all, pred_all = np.concatenate(gts), np.concatenate(preds)
        joint_frames = match_frames(gt_all, _camera_keys(gts, stride), pred_all, _camera_keys(preds, stride))
        joint = (joint_frames, gt_all, pred_all)
        joint_acc = _accumulate_frames(joint_frames, gt_all["id"], pred_all["id"], iou_threshold)

    host = mm.metrics.create()
    summary = host.compute_many(accs, metrics=MM_METRICS, names=cameras, generate_overall=True)
    multicam = host.compute(joint_acc, metrics=MM_METRICS, name=MULTICAM)
    raw: dict[str, dict[str, float]] = {name: _floats(summary.loc[name]) for name in [*cameras, OVERALL]}
    raw[MULTICAM] = _floats(multicam.loc[MULTICAM])
    # motmetrics' pooled MOTP is NaN as soon as one camera has no match (NaN * 0); weight it ourselves.
    raw[OVERALL]["motp"] = _pooled_motp([raw[c] for c in cameras])

    if hota:
        metric, why = hota_metric()
        if metric is None:
            notes.append(str(why))
        else:
            per_cam = {
                c: metric.eval_sequence(sequence_data(f, g["id"], p["id"]))
                for c, f, g, p in zip(cameras, frames, gts, preds)
            }
            for c, res in per_cam.items():
                raw[c].update(summarize(res))
            raw[OVERALL].update(summarize(metric.combine_sequences(per_cam)))
            joint_res = per_cam[cameras[0]] if len(cameras) == 1 else metric.eval_sequence(
                sequence_data(joint[0], joint[1]["id"], joint[2]["id"])
            )
            raw[MULTICAM].update(summarize(joint_res))
    rows = {name: display_row(values) for name, values in raw.items()}
    return MetricsReport(rows=rows, raw=raw, iou_threshold=iou_threshold, notes=notes)


def _floats(series) -> dict[str, float]:
    return {str(k): float(v) for k, v in series.items()}


def _pooled_motp(rows: list[dict[str, float]]) -> float:
    matched = [(r["motp"], r["num_detections"]) for r in rows if r["num_detections"] > 0]
    total = sum(n for _, n in matched)
    return sum(m * n for m, n in matched) / total if total else float("nan")
