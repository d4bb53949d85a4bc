"""ByteTrack (Zhang et al., ECCV 2022): associate every detection box, low-score ones included.

High-score detections are matched first to all tracks (tracked and recently lost) by IoU fused
with the detection score; low-score detections then rescue the still-unmatched tracked tracks
(occluded people get low scores); unconfirmed (one-frame) tracks take what is left, and remaining
high-score detections above ``new_track_thresh`` start new tracks, output once matched in
``min_hits`` consecutive frames after their birth (1 in the paper).  Lost tracks are kept for
``track_buffer`` seconds.  :class:`ByteTracker` is also the skeleton of the appearance tracker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtmc.errors import ConfigError
from trackers import TRACKERS
from trackers.base import TrackerBase
from trackers.kalman import BatchKalman
from trackers.matching import fuse_score, iou_matrix, linear_assignment

TRACKED, LOST, REMOVED = 0, 1, 2


@dataclass
class ByteTrackParams:
    track_thresh: float = 0.6  # detections at or above: first association; below (and > low_thresh): second
    low_thresh: float = 0.1  # detections at or below are discarded
    new_track_thresh: float = 0.7  # an unmatched detection starts a track only above this score
    match_thresh: float = 0.8  # max cost (1 - IoU * score) of a first-stage match
    second_match_thresh: float = 0.5  # max IoU distance of a second-stage (low-score) match
    unconfirmed_match_thresh: float = 0.7  # max cost for tracks seen only once
    track_buffer: float = 1.0  # seconds a lost track is kept (the paper's 30 frames at 30 fps)
    fuse_score: bool = True  # multiply IoU by the detection score (the paper's setting, not for MOT20)
    duplicate_iou: float = 0.85  # a lost track overlapping a tracked one this much is a duplicate
    min_hits: int = 1  # consecutive matches after its birth before a new track is output (SORT's meaning)

    def validate(self, key_path: str = "") -> None:
        p = f"{key_path}." if key_path else ""
        for name in ("track_thresh", "low_thresh", "new_track_thresh", "match_thresh", "second_match_thresh",
                     "unconfirmed_match_thresh", "duplicate_iou"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"{p}{name}: expected a number in [0, 1], got {v}")
        if self.min_hits < 0:
            raise ConfigError(f"{p}min_hits: expected a non-negative integer, got {self.min_hits}")
        if self.track_buffer <= 0:
            raise ConfigError(f"{p}track_buffer: expected a positive number of seconds, got {self.track_buffer}")


class STrack:
    """One track: Kalman state, life-cycle state and (for appearance trackers) a smoothed feature."""

    __slots__ = ("mean", "cov", "id", "state", "activated", "score", "start", "last", "tracklet_len", "feat",
                 "obs")

    def __init__(self, box: np.ndarray, score: float, feat: np.ndarray | None = None):
        self.mean = self.cov = None
        self.id = 0
        self.state = TRACKED
        self.activated = False
        self.score = score
        self.start = self.last = 0
        self.tracklet_len = 0
        self.feat = feat
        self.obs = box  # the detection box (x1, y1, x2, y2) that created / last updated the track


def _boxes(kf: BatchKalman, tracks: list[STrack]) -> np.ndarray:
    if not tracks:
        return np.zeros((0, 4))
    return kf.to_xyxy(np.stack([t.mean for t in tracks]))


class ByteTracker(TrackerBase):
    """The ByteTrack association scheme (motion only)."""

    layout = "xyah"
    frozen_velocity = (7,)  # state entries zeroed while a track is lost (the height velocity)

    def __init__(self, params: ByteTrackParams, frame_rate: float):
        super().__init__(frame_rate)
        self.params = params
        self.kf = BatchKalman(self.layout)
        self.max_lost = self.frames(params.track_buffer)
        self.tracked: list[STrack] = []
        self.lost: list[STrack] = []

    # --- Kalman over lists of tracks -----------------------------------------------------------
    def _predict(self, tracks: list[STrack]) -> None:
        if not tracks:
            return
        mean = np.stack([t.mean for t in tracks])
        cov = np.stack([t.cov for t in tracks])
        lost = np.array([t.state != TRACKED for t in tracks])
        for k in self.frozen_velocity:
            mean[lost, k] = 0.0
        mean, cov = self.kf.predict(mean, cov)
        for t, m, c in zip(tracks, mean, cov):
            t.mean, t.cov = m, c

    def _update(self, pairs: list[tuple[STrack, int]], boxes: np.ndarray, scores: np.ndarray,
                feats: np.ndarray | None) -> None:
        """Kalman-update every matched track with its detection (batched), then its bookkeeping."""
        if not pairs:
            return
        tracks = [t for t, _ in pairs]
        idx = np.array([d for _, d in pairs])
        mean, cov = self.kf.update(np.stack([t.mean for t in tracks]), np.stack([t.cov for t in tracks]),
                                   self.kf.to_measurement(boxes[idx]))
        for t, m, c, d in zip(tracks, mean, cov, idx):
            t.mean, t.cov = m, c
            t.tracklet_len = t.tracklet_len + 1 if t.state == TRACKED else 0
            t.activated = t.activated or t.tracklet_len >= self.params.min_hits
            t.state, t.score, t.last, t.obs = TRACKED, scores[d], self.frame_count, boxes[d]
            if feats is not None:
                self._update_feature(t, feats[d])

    def _update_feature(self, track: STrack, feat: np.ndarray) -> None:
        pass  # motion only

    def _start(self, box: np.ndarray, score: float, feat: np.ndarray | None) -> STrack:
        t = STrack(box, score, None)
        t.mean, t.cov = (a[0] for a in self.kf.initiate(self.kf.to_measurement(box)))
        t.id = self.next_id()
        t.activated = self.frame_count == 1  # as in the paper: confirmed at once only on the first frame
        t.start = t.last = self.frame_count
        if feat is not None:
            t.feat = feat.copy()
        return t

    # --- costs (overridden by the appearance tracker) ------------------------------------------
    def _cost(self, tracks: list[STrack], boxes: np.ndarray, scores: np.ndarray, feats: np.ndarray | None,
              stage: str) -> np.ndarray:
        cost = 1.0 - iou_matrix(_boxes(self.kf, tracks), boxes)
        if stage != "second" and self.params.fuse_score:
            cost = fuse_score(cost, scores)
        return cost

    def _extra_association(self, unmatched: np.ndarray, boxes, scores, feats) -> np.ndarray:
        return unmatched  # hook: the appearance tracker re-acquires long-lost tracks here

    def _associate_low(self, tracks: list[STrack], low: np.ndarray, boxes, scores) -> list[STrack]:
        """BYTE's second stage: low-score detections (often occluded people) continue tracked tracks, by
        IoU alone; the detection's feature is not learnt.  Returns the tracks left unmatched."""
        cost = self._cost(tracks, boxes[low], scores[low], None, "second")
        m, unmatched, _ = linear_assignment(cost, self.params.second_match_thresh)
        self._update([(tracks[i], low[j]) for i, j in m], boxes, scores, None)
        return [tracks[i] for i in unmatched]

    # --- one frame -----------------------------------------------------------------------------
    def _step(self, boxes, scores, embeddings):
        p = self.params
        feats = embeddings
        high = np.flatnonzero(scores >= p.track_thresh)
        low = np.flatnonzero((scores > p.low_thresh) & (scores < p.track_thresh))

        unconfirmed = [t for t in self.tracked if not t.activated]
        confirmed = [t for t in self.tracked if t.activated]
        pool = confirmed + self._pool_lost()
        self._predict(pool)

        # 1) high-score detections vs confirmed + lost tracks
        fh = feats[high] if feats is not None else None
        cost = self._cost(pool, boxes[high], scores[high], fh, "first")
        m, u_trk, u_det = linear_assignment(cost, p.match_thresh)
        self._update([(pool[i], high[j]) for i, j in m], boxes, scores, feats)

        # 2) low-score detections vs the still-unmatched tracked (not lost) tracks
        for t in self._associate_low([pool[i] for i in u_trk if pool[i].state == TRACKED], low, boxes, scores):
            t.state = LOST

        # 3) unconfirmed tracks vs the remaining high-score detections
        left = high[u_det]
        fu = feats[left] if feats is not None else None
        cost = self._cost(unconfirmed, boxes[left], scores[left], fu, "unconfirmed")
        m, u_unc, u_left = linear_assignment(cost, p.unconfirmed_match_thresh)
        self._update([(unconfirmed[i], left[j]) for i, j in m], boxes, scores, feats)
        for i in u_unc:
            unconfirmed[i].state = REMOVED
        left = self._extra_association(left[u_left], boxes, scores, feats)

        # 4) new tracks
        born = [self._start(boxes[d], scores[d], feats[d] if feats is not None else None)
                for d in left if scores[d] >= p.new_track_thresh]

        # 5) bookkeeping: lost tracks expire, duplicates between tracked and lost are dropped
        everyone = self.tracked + self.lost + born
        for t in everyone:
            if t.state == LOST and self.frame_count - t.last > self._max_lost(t):
                t.state = REMOVED
        self.tracked = [t for t in everyone if t.state == TRACKED]
        self.lost = [t for t in everyone if t.state == LOST]
        self._remove_duplicates()
        return self._output()

    def _output(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The confirmed tracked tracks at their current Kalman boxes."""
        out = [t for t in self.tracked if t.activated]
        return _boxes(self.kf, out), np.array([t.id for t in out], dtype=np.int64), np.array([t.score for t in out])

    def _coast(self):
        # the tracks _step would predict (unconfirmed ones wait, unmoved, for the next detection frame)
        self._predict([t for t in self.tracked if t.activated] + self._pool_lost())
        return self._output()

    def _pool_lost(self) -> list[STrack]:
        """Lost tracks that take part in motion association."""
        return self.lost

    def _max_lost(self, track: STrack) -> int:
        return self.max_lost

    def _remove_duplicates(self) -> None:
        """A lost track that overlaps a tracked one is the same person twice: keep the older one."""
        lost = self._pool_lost()  # long-lost (appearance-only) tracks have stale boxes: not compared
        if not self.tracked or not lost:
            return
        iou = iou_matrix(_boxes(self.kf, self.tracked), _boxes(self.kf, lost))
        drop_t, drop_l = set(), set()
        for i, j in zip(*np.nonzero(iou > self.params.duplicate_iou)):
            a, b = self.tracked[i], lost[j]
            if a.last - a.start > b.last - b.start:
                drop_l.add(j)
            else:
                drop_t.add(i)
        self.tracked = [t for i, t in enumerate(self.tracked) if i not in drop_t]
        dropped = {id(lost[j]) for j in drop_l}
        self.lost = [t for t in self.lost if id(t) not in dropped]


@TRACKERS.register("bytetrack", params=ByteTrackParams)
def build_bytetrack(params: ByteTrackParams, frame_rate: float = 30.0) -> ByteTracker:
    return ByteTracker(params, frame_rate)
