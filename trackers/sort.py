"""SORT (Bewley et al., "Simple Online and Realtime Tracking", ICIP 2016), as in the reference code.

Kalman box filter on ``[cx, cy, area, aspect]``, IoU association solved with the Hungarian/JV
algorithm, a track is output on frames where it was matched once it has ``min_hits`` consecutive
hits (or during the first ``min_hits`` frames).  ``max_age`` is in FRAMES (the reference value 1 is
"delete after one missed frame" whatever the frame rate); it is the only frame-count parameter in
this package.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtmc.errors import ConfigError
from trackers import TRACKERS
from trackers.base import TrackerBase, sort_style_output
from trackers.kalman import SortKalman
from trackers.matching import iou_matrix, linear_assignment


@dataclass
class SortParams:
    max_age: int = 1  # frames a track survives without a match (reference value; frames, not seconds)
    min_hits: int = 3  # consecutive matches before a track is output
    iou_threshold: float = 0.3  # minimum IoU for a match

    def validate(self, key_path: str = "") -> None:
        p = f"{key_path}." if key_path else ""
        if self.max_age < 0 or self.min_hits < 0:
            raise ConfigError(f"{p}max_age/min_hits: expected non-negative integers")
        if not 0.0 <= self.iou_threshold <= 1.0:
            raise ConfigError(f"{p}iou_threshold: expected a number in [0, 1], got {self.iou_threshold}")


class SortTrack:
    """SORT's per-track state: a box Kalman filter plus the hit / miss counters of its output rule."""

    __slots__ = ("kf", "id", "hits", "hit_streak", "time_since_update", "age", "score")

    def __init__(self, box: np.ndarray, track_id: int, score: float):
        self.kf = SortKalman(box)
        self.id = track_id
        self.hits = 0
        self.hit_streak = 0
        self.time_since_update = 0
        self.age = 0
        self.score = score

    def predict(self) -> np.ndarray:
        box = self.kf.predict()
        self.age += 1
        if self.time_since_update > 0:
            self.hit_streak = 0
        self.time_since_update += 1
        return box

    def update(self, box: np.ndarray, score: float) -> None:
        self.time_since_update = 0
        self.hits += 1
        self.hit_streak += 1
        self.score = score
        self.kf.update(box)


def associate_iou(dets: np.ndarray, trks: np.ndarray, iou_threshold: float) -> tuple[np.ndarray, ...]:
    """SORT's association: maximise total IoU, then drop pairs below ``iou_threshold``.

    When the thresholded IoU matrix is already a one-to-one matching it is taken as is.
    Returns (matches [det, trk], unmatched dets, unmatched trks).
    """
    iou = iou_matrix(dets, trks)
    if min(iou.shape) == 0:
        return np.empty((0, 2), dtype=np.int64), np.arange(len(dets)), np.arange(len(trks))
    above = iou > iou_threshold
    if above.sum(1).max() == 1 and above.sum(0).max() == 1:
        matches = np.stack(np.nonzero(above), axis=1)
    else:
        matches, _, _ = linear_assignment(-iou)
    matches = matches[iou[matches[:, 0], matches[:, 1]] >= iou_threshold]
    um_d = np.setdiff1d(np.arange(len(dets)), matches[:, 0])
    um_t = np.setdiff1d(np.arange(len(trks)), matches[:, 1])
    return matches, um_d, um_t


class Sort(TrackerBase):
    """The reference SORT tracker."""

    def __init__(self, params: SortParams, frame_rate: float):
        super().__init__(frame_rate)
        self.params = params
        self.tracks: list[SortTrack] = []

    def _step(self, boxes, scores, embeddings):
        p = self.params
        predicted = np.array([t.predict() for t in self.tracks]).reshape(-1, 4)
        ok = np.all(np.isfinite(predicted), axis=1)
        if not ok.all():
            self.tracks = [t for t, k in zip(self.tracks, ok) if k]
            predicted = predicted[ok]
        matches, um_d, _ = associate_iou(boxes, predicted, p.iou_threshold)
        for d, t in matches:
            self.tracks[t].update(boxes[d], scores[d])
        for d in um_d:
            self.tracks.append(SortTrack(boxes[d], self.next_id(), scores[d]))
        out = sort_style_output(self.tracks, p.min_hits, self.frame_count, lambda t: t.kf.box)
        self.tracks = [t for t in self.tracks if t.time_since_update <= p.max_age]
        return out


@TRACKERS.register("sort", params=SortParams)
def build_sort(params: SortParams, frame_rate: float = 30.0) -> Sort:
    return Sort(params, frame_rate)
