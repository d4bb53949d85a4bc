"""SORT (Bewley et al., "Simple Online and Realtime Tracking", ICIP 2016), as in the reference code.

Kalman box filter on ``[cx, cy, area, aspect]``, IoU association solved with the Hungarian/JV
algorithm, a track is output on frames where it was matched once it has ``min_hits`` consecutive
hits (or during the first ``min_hits`` frames).  ``max_age`` is in seconds like every duration in this
package, rounded to whole frames and at least one: the default 0.04 s is the reference's one frame at
any frame rate up to 37 fps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtmc.errors import ConfigError
from trackers import TRACKERS
from trackers.base import TrackerBase, sort_style_output
from trackers.kalman import SortKalman
from trackers.matching import associate_iou, iou_matrix


@dataclass
class SortParams:
    max_age: float = 0.04  # seconds a track survives unmatched (>= 1 frame; the reference's 1 frame)
    min_hits: int = 3  # consecutive matches before a track is output
    iou_threshold: float = 0.3  # minimum IoU for a match

    def validate(self, key_path: str = "") -> None:
        p = f"{key_path}." if key_path else ""
        if not self.max_age > 0:
            raise ConfigError(f"{p}max_age: expected a positive number of seconds, got {self.max_age}")
        if self.min_hits < 0:
            raise ConfigError(f"{p}min_hits: expected a non-negative integer, got {self.min_hits}")
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


def predict_tracks(tracks: list) -> tuple[list, np.ndarray]:
    """Advance every track one frame; drop those whose prediction is not finite.
    Returns (the kept tracks, their predicted x1, y1, x2, y2 boxes (K, 4))."""
    predicted = np.array([t.predict() for t in tracks]).reshape(-1, 4)
    ok = np.all(np.isfinite(predicted), axis=1)
    if ok.all():
        return tracks, predicted
    return [t for t, k in zip(tracks, ok) if k], predicted[ok]


def coast_tracks(tracks: list, min_hits: int, frame_count: int, max_age: int) -> tuple[list, tuple]:
    """SORT-style trackers on a frame without detections: every track moves on its filter; tracks matched
    on the last detection frame stay matched and are output (a skipped frame is no miss), lost ones count
    the frame towards ``max_age``.  Returns (the surviving tracks, ``sort_style_output`` of this frame)."""
    kept = []
    for t in tracks:
        t.age += 1  # OC-SORT keys its observations by age: ages stay in real frames
        if t.time_since_update > 0:
            t.time_since_update += 1
        if np.all(np.isfinite(t.kf.predict())):
            kept.append(t)
    out = sort_style_output(kept, min_hits, frame_count, lambda t: t.kf.box)
    return [t for t in kept if t.time_since_update <= max_age], out


class Sort(TrackerBase):
    """The reference SORT tracker."""

    def __init__(self, params: SortParams, frame_rate: float):
        super().__init__(frame_rate)
        self.params = params
        self.max_age = self.frames(params.max_age)
        self.tracks: list[SortTrack] = []

    def _step(self, boxes, scores, embeddings):
        p = self.params
        self.tracks, predicted = predict_tracks(self.tracks)
        matches, um_d, _ = associate_iou(iou_matrix(boxes, predicted), p.iou_threshold)
        for d, t in matches:
            self.tracks[t].update(boxes[d], scores[d])
        for d in um_d:
            self.tracks.append(SortTrack(boxes[d], self.next_id(), scores[d]))
        out = sort_style_output(self.tracks, p.min_hits, self.frame_count, lambda t: t.kf.box)
        self.tracks = [t for t in self.tracks if t.time_since_update <= self.max_age]
        return out

    def _coast(self):
        self.tracks, out = coast_tracks(self.tracks, self.params.min_hits, self.frame_count, self.max_age)
        return out


@TRACKERS.register("sort", params=SortParams)
def build_sort(params: SortParams, frame_rate: float = 30.0) -> Sort:
    return Sort(params, frame_rate)
