"""Consistency: a tracklet that stops being its identity is detached (a per-camera tracker id switch).

Two signals: it drifts away from where the other cameras see the identity (geometry), or its recent
crops stop looking like the identity's gallery (appearance).  The detached part starts a new segment
from the first frame that already showed somebody else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mtmc.association.fusion import Seen
from mtmc.association.identities import IdentityStore, SceneCentering, Tracklet
from mtmc.association.params import ConsistencyParams, frames_for


@dataclass
class Checks:
    """Per-tracklet evidence that it switched person."""

    far_frames: int = 0  # consecutive frames far from the identity's position in other cameras
    strikes: int = 0  # consecutive crops that did not match the identity's gallery
    last_good_frame: int | None = None  # last frame whose crop matched the identity


class ConsistencyRules:
    """Finds the tracklets to detach; owns their evidence counters."""

    def __init__(self, params: ConsistencyParams, fps: float, min_gallery: int, store: IdentityStore,
                 centering: SceneCentering):
        self.p = params
        self.limit = frames_for(params.seconds, fps)
        self.min_gallery = min_gallery  # a gallery smaller than this is no reference yet
        self.store, self.centering = store, centering
        self.checks: dict[tuple[int, int], Checks] = {}

    def of(self, tr: Tracklet) -> Checks:
        return self.checks.setdefault((tr.camera, tr.local_id), Checks())

    def restart(self, tr: Tracklet) -> None:
        """A new segment starts: distance and last match are counted afresh."""
        checks = self.of(tr)
        checks.far_frames, checks.last_good_frame = 0, None

    def doubtful(self, tr: Tracklet) -> bool:
        """Its last crop did not match its identity (such a crop does not go into the gallery)."""
        return self.of(tr).strikes != 0

    def detach_inconsistent(self, seen: Seen, frame: int, watching: Callable[[Tracklet], bool]
                            ) -> list[tuple[Tracklet, int]]:
        """Tracklets that stay far from where the other cameras see their identity, with the frame the
        drift began.  Tracklets still in their fusion window (``watching``) are not judged yet."""
        by_identity: dict[int, list[Tracklet]] = {}
        for tr, _ in seen:
            if tr.segments and not watching(tr) and np.all(np.isfinite(tr.position)):
                by_identity.setdefault(self.store.find(tr.identity), []).append(tr)
        detached = []
        for members in by_identity.values():
            if len(members) < 2:
                for tr in members:
                    self.of(tr).far_frames = 0
                continue
            for tr in members:
                others = [o.position for o in members if o.camera != tr.camera]
                far = bool(others) and np.linalg.norm(tr.position - np.median(others, axis=0)) > self.p.distance
                checks = self.of(tr)
                checks.far_frames = checks.far_frames + 1 if far else 0
            drifting = [tr for tr in members if self.of(tr).far_frames >= self.limit]
            if drifting:
                # the tracklet whose current segment started last is the one that switched
                youngest = max(drifting, key=lambda t: t.segments[-1][0])
                detached.append((youngest, frame - self.of(youngest).far_frames + 1))
        return detached

    def detach_switched(self, seen: Seen, frame: int, watching: Callable[[Tracklet], bool]
                        ) -> list[tuple[Tracklet, int]]:
        """Tracklets whose recent crops stopped looking like their identity.

        The new segment starts after the last crop that still matched, so the frames of the switch go
        to the right person once the detached part is re-identified.
        """
        detached = []
        for tr, emb in seen:
            if emb is None or not tr.segments or watching(tr):
                continue
            gallery = self.store.get(tr.identity).gallery
            if len(gallery) < self.min_gallery:
                continue
            checks = self.of(tr)
            if self.centering.similarity(emb[None], gallery) >= self.p.similarity:
                checks.strikes, checks.last_good_frame = 0, frame
                continue
            checks.strikes += 1
            if checks.strikes >= self.p.strikes:
                checks.strikes = 0
                good = checks.last_good_frame
                detached.append((tr, frame if good is None else good + 1))
        return detached
