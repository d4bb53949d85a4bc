"""OC-SORT (Cao et al., CVPR 2023): observation-centric SORT.

SORT's Kalman filter and IoU association, with three fixes for occlusion and non-linear motion:

* OCM (momentum): the association cost adds the consistency of the track's motion direction (from
  an observation ``delta_t`` back to its last one) with the direction to each detection.
* OCR (recovery): detections left unmatched get a second IoU matching against the LAST OBSERVED
  boxes of unmatched tracks (where a briefly occluded person was last seen).
* ORU (re-update): when a lost track is matched again, its filter is rewound to the loss and
  re-run along a virtual trajectory interpolated between the two observations, undoing the error
  accumulated while coasting.

With ``det_thresh: 0.6, max_age: 1.0, delta_t: 0.1, output_filtered: false`` and a 30 fps video this
is the reference implementation (noahcao/OC_SORT) box for box; ``use_byte`` is its optional
ByteTrack-style association of low-score detections.  Durations are in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtmc.errors import ConfigError
from trackers import TRACKERS
from trackers.base import TrackerBase, sort_style_output
from trackers.matching import associate_iou, box_centres, iou_matrix
from trackers.sort import SortTrack, coast_tracks, predict_tracks


@dataclass
class OcSortParams:
    det_thresh: float = 0.6  # detections scoring more take part in association and start tracks
    max_age: float = 1.0  # seconds a track coasts without a match (the paper's 30 frames at 30 fps)
    min_hits: int = 3  # consecutive matches before a track is output (a count, not a duration)
    iou_threshold: float = 0.3  # minimum IoU of a match
    delta_t: float = 0.1  # seconds back for the direction estimate (the paper's 3 frames at 30 fps)
    inertia: float = 0.2  # weight of the direction-consistency term (OCM)
    use_byte: bool = False  # also match low-score detections (low_thresh, det_thresh] to unmatched tracks
    low_thresh: float = 0.1  # detections at or below are ignored (with use_byte)
    output_filtered: bool = True  # output the Kalman estimate (the reference outputs the last detection)

    def validate(self, key_path: str = "") -> None:
        p = f"{key_path}." if key_path else ""
        for name in ("det_thresh", "iou_threshold", "low_thresh"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{p}{name}: expected a number in [0, 1], got {getattr(self, name)}")
        if self.max_age <= 0 or self.delta_t <= 0 or self.min_hits < 0 or self.inertia < 0:
            raise ConfigError(f"{p}max_age/delta_t: expected positive seconds; min_hits/inertia: non-negative")


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-6)


class _Track(SortTrack):
    """SORT's track state plus the recent observations OC-SORT's fixes look at."""

    __slots__ = ("observations", "last_obs", "velocity")

    def __init__(self, box: np.ndarray, track_id: int, score: float):
        super().__init__(box, track_id, score)
        self.observations: dict[int, np.ndarray] = {}  # age -> observed box (the creating box is not one)
        self.last_obs: np.ndarray | None = None
        self.velocity = np.zeros(2)  # unit direction (dx, dy) of recent motion; 0 when unknown

    def previous_obs(self, delta: int) -> np.ndarray | None:
        """The observation ``delta`` frames back (or the nearest more recent one), else the last one."""
        for dt in range(delta, 0, -1):
            box = self.observations.get(self.age - dt)
            if box is not None:
                return box
        return self.last_obs

    def update(self, box: np.ndarray, score: float, delta: int) -> None:
        if self.last_obs is not None:
            self.velocity = _unit(box_centres(box) - box_centres(self.previous_obs(delta)))
            if self.kf.frozen:  # ORU: the track was lost for time_since_update frames
                self.kf.reupdate(self.last_obs, box, self.time_since_update)
        self.kf.thaw()
        self.last_obs = box
        self.observations[self.age] = box
        for old in [a for a in self.observations if a < self.age - delta]:
            del self.observations[old]  # only the last delta_t frames are ever looked up
        super().update(box, score)


class OcSort(TrackerBase):
    """Observation-centric SORT."""

    def __init__(self, params: OcSortParams, frame_rate: float):
        super().__init__(frame_rate)
        self.params = params
        self.max_age = self.frames(params.max_age)
        self.delta = self.frames(params.delta_t)
        self.tracks: list[_Track] = []

    def _direction_cost(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """OCM: (tracks, dets) bonus for detections in the direction the track has been moving."""
        prev = [t.previous_obs(self.delta) for t in self.tracks]
        valid = np.array([b is not None for b in prev])
        prev_c = box_centres(np.stack([b if b is not None else np.zeros(4) for b in prev]))
        direction = _unit(box_centres(boxes)[None, :, :] - prev_c[:, None, :])  # (T, D, 2)
        vel = np.stack([t.velocity for t in self.tracks])
        cos = np.clip(np.einsum("tdk,tk->td", direction, vel), -1.0, 1.0)
        angle = (np.pi / 2.0 - np.abs(np.arccos(cos))) / np.pi  # in [-1/2, 1/2], 0 when no velocity
        return angle * valid[:, None] * self.params.inertia * scores[None, :]

    def _match(self, trk: np.ndarray, det: np.ndarray, boxes, scores, iou, bonus=None, shortcut=True):
        """Associate tracks ``trk`` with detections ``det`` on ``iou`` (+ ``bonus``), update the matched
        tracks; return the unmatched track and detection indices."""
        m, ut, ud = associate_iou(iou, self.params.iou_threshold, bonus, shortcut)
        for i, j in m:
            self.tracks[trk[i]].update(boxes[det[j]], scores[det[j]], self.delta)
        return trk[ut], det[ud]

    def _recover(self, trk: np.ndarray, det: np.ndarray, boxes, scores):
        """OCR: unmatched detections vs the last observed boxes of unmatched tracks."""
        # a track never observed since its creation has no last box: a zero box overlaps nothing
        last = np.array([self.tracks[t].last_obs if self.tracks[t].last_obs is not None else np.zeros(4)
                         for t in trk]).reshape(-1, 4)
        return self._match(trk, det, boxes, scores, iou_matrix(last, boxes[det]), shortcut=False)

    def _associate_low(self, trk: np.ndarray, predicted: np.ndarray, boxes, scores) -> np.ndarray:
        """BYTE (``use_byte``): low-score detections vs the predicted boxes of the unmatched tracks."""
        p = self.params
        low = np.flatnonzero((scores > p.low_thresh) & (scores < p.det_thresh))
        return self._match(trk, low, boxes, scores, iou_matrix(predicted[trk], boxes[low]), shortcut=False)[0]

    def _step(self, boxes, scores, embeddings):
        p = self.params
        self.tracks, predicted = predict_tracks(self.tracks)
        high = np.flatnonzero(scores > p.det_thresh)
        # first round: IoU with the predicted boxes + direction consistency (OCM)
        bonus = self._direction_cost(boxes[high], scores[high]) if self.tracks else None
        um_t, um_d = self._match(np.arange(len(self.tracks)), high, boxes, scores,
                                 iou_matrix(predicted, boxes[high]), bonus)
        if p.use_byte:
            um_t = self._associate_low(um_t, predicted, boxes, scores)
        um_t, um_d = self._recover(um_t, um_d, boxes, scores)
        for t in um_t:
            self.tracks[t].kf.freeze()  # remember the state at the loss, for ORU
        for d in um_d:
            self.tracks.append(_Track(boxes[d], self.next_id(), scores[d]))

        def box_of(t):
            return t.kf.box if p.output_filtered or t.last_obs is None else t.last_obs

        out = sort_style_output(self.tracks, p.min_hits, self.frame_count, box_of)
        self.tracks = [t for t in self.tracks if t.time_since_update <= self.max_age]
        return out

    def _coast(self):
        self.tracks, out = coast_tracks(self.tracks, self.params.min_hits, self.frame_count, self.max_age)
        return out


@TRACKERS.register("ocsort", params=OcSortParams)
def build_ocsort(params: OcSortParams, frame_rate: float = 30.0) -> OcSort:
    return OcSort(params, frame_rate)
