"""Bookkeeping shared by the trackers: ids, input checks, frame-rate conversion, output boxes."""

from __future__ import annotations

import numpy as np

from mtmc.boxes import BOX_DTYPE, make_boxes, xyxy
from mtmc.errors import ConfigError, MtmcError


def seconds_to_frames(seconds: float, frame_rate: float) -> int:
    """A duration in seconds as a whole number of frames (at least 1)."""
    return max(1, int(round(seconds * frame_rate)))


def check_frame_rate(frame_rate: float) -> float:
    try:
        fr = float(frame_rate)
    except (TypeError, ValueError):
        raise ConfigError(f"frame_rate: expected a positive number, got {frame_rate!r}") from None
    if not np.isfinite(fr) or fr <= 0:
        raise ConfigError(f"frame_rate: expected a positive number, got {frame_rate!r}")
    return fr


def sort_style_output(tracks, min_hits: int, frame_count: int, box_of) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SORT's output rule: tracks updated this frame that are confirmed (hit streak >= ``min_hits``),
    or any updated track during the first ``min_hits`` frames.  ``box_of(track)`` gives the box to output."""
    out_boxes, out_ids, out_scores = [], [], []
    for t in tracks:
        if t.time_since_update < 1 and (t.hit_streak >= min_hits or frame_count <= min_hits):
            out_boxes.append(box_of(t))
            out_ids.append(t.id)
            out_scores.append(t.score)
    return np.array(out_boxes).reshape(-1, 4), np.array(out_ids, dtype=np.int64), np.array(out_scores)


class TrackerBase:
    """Common state of a per-camera tracker.

    Subclasses implement :meth:`_coast` (a frame without detections, :meth:`predict`) and :meth:`_step` taking ``(boxes_xyxy (N, 4), scores (N,), embeddings (N, D) | None)``
    and returning ``(boxes_xyxy (K, 4), ids (K,), scores (K,))`` of the tracks to output this frame.
    Ids are 1-based and unique within one tracker instance.
    """

    uses_embeddings: bool = False  # motion-only; an appearance tracker wants an embedding per detection
    # detections scoring below this are never compared by appearance: the pipeline need not embed them
    min_embedding_score: float = 0.0

    def __init__(self, frame_rate: float):
        self.frame_rate = check_frame_rate(frame_rate)
        self.frame_count = 0  # number of update() calls so far
        self._last_id = 0
        self._frame = 0
        self._camera = 0

    def next_id(self) -> int:
        self._last_id += 1
        return self._last_id

    def frames(self, seconds: float) -> int:
        return seconds_to_frames(seconds, self.frame_rate)

    def update(
        self, detections: np.ndarray, frame: np.ndarray | None = None, embeddings: np.ndarray | None = None
    ) -> np.ndarray:
        """Feed one frame of detections (BOX_DTYPE); return the confirmed tracks with ``id`` set.

        ``embeddings`` (optional) are row-aligned with ``detections``.  The output keeps ``frame`` and
        ``camera`` of the input (an empty frame continues from the previous one).
        """
        if not isinstance(detections, np.ndarray) or detections.dtype != BOX_DTYPE:
            raise MtmcError("tracker input: expected a BOX_DTYPE array of detections")
        if embeddings is not None:
            embeddings = np.asarray(embeddings, dtype=np.float64)
            if embeddings.ndim != 2 or len(embeddings) != len(detections):
                raise MtmcError(
                    f"tracker input: expected embeddings of shape ({len(detections)}, D), got {embeddings.shape}"
                )
        self.frame_count += 1
        if len(detections):
            self._frame = int(detections["frame"][0])
            self._camera = int(detections["camera"][0])
        else:
            self._frame += 1
        boxes = xyxy(detections)
        valid = np.all(np.isfinite(boxes), axis=1) & (detections["w"] > 0) & (detections["h"] > 0)
        if not valid.all():  # degenerate boxes cannot be filtered (zero height): drop them
            boxes = boxes[valid]
            detections = detections[valid]
            embeddings = embeddings[valid] if embeddings is not None else None
        out_xyxy, ids, scores = self._step(boxes, detections["score"].astype(np.float64), embeddings)
        return self._to_boxes(out_xyxy, ids, scores)

    def predict(self) -> np.ndarray:
        """A frame without detections (the detection schedule skipped it, :mod:`mtmc.camera_stage`): every
        track moves on its motion model; return the tracks that would be output, at their predicted boxes.

        A predicted frame is neither a hit nor a miss: no track starts, is confirmed or is lost, and the
        output keeps the ids and scores of the last detection frame."""
        self.frame_count += 1  # durations in frames (lost buffers, re-acquisition gaps) count real frames
        self._frame += 1
        return self._to_boxes(*self._coast())

    def _step(
        self, boxes: np.ndarray, scores: np.ndarray, embeddings: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _coast(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance the tracks one frame without detections; ``(boxes_xyxy, ids, scores)`` to output."""
        raise NotImplementedError

    def _to_boxes(self, boxes_xyxy: np.ndarray, ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        boxes_xyxy = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        out = make_boxes(len(boxes_xyxy))
        out["frame"] = self._frame
        out["camera"] = self._camera
        out["id"] = ids
        out["x"], out["y"] = boxes_xyxy[:, 0], boxes_xyxy[:, 1]
        out["w"], out["h"] = boxes_xyxy[:, 2] - boxes_xyxy[:, 0], boxes_xyxy[:, 3] - boxes_xyxy[:, 1]
        out["score"] = scores
        if len(out):
            out = out[np.argsort(out["id"], kind="stable")]
        return out
