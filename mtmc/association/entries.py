"""ReID on entry: resolve the provisional identity of a tracklet nobody in the scene explains.

After ``min_embeddings`` crops (or ``decision_seconds``) its gallery is compared with the galleries of
identities that are *not* in the scene: the best match above ``reid_threshold`` takes the old id back
(a returning person, the Compact-ReID LAB protocol); otherwise the person is new.  A candidate lost a
moment ago close by needs less similarity (a continuation of a track broken by occlusion); without
ReID only such continuations are made.  An identity seen at the same time by another camera may still
be the same person if they look alike and stand together (a fusion the ground plane alone missed).
"""

from __future__ import annotations

import numpy as np

from mtmc.association.identities import Identity, IdentityStore, SceneCentering
from mtmc.association.params import GlobalParams, frames_for


class EntryDecisions:
    """Takes the entry decisions, once per provisional identity."""

    def __init__(self, params: GlobalParams, fps: float, store: IdentityStore, centering: SceneCentering,
                 has_reid: bool):
        self.p = params.entry
        self.match_distance = params.fusion.match_distance
        self.fps = fps
        self.deadline = frames_for(self.p.decision_seconds, fps)
        self.store, self.centering, self.has_reid = store, centering, has_reid

    def decide(self, frame: int, waiting: set[int]) -> None:
        """Resolve every provisional identity that is due (``waiting``: still in a fusion window)."""
        roots = self.store.roots()
        for ident in roots:
            if ident.resolved or ident.id in waiting:
                continue
            age = frame - ident.first_frame
            if self.has_reid and len(ident.gallery) < self.p.min_embeddings and age < self.deadline:
                continue
            if self.has_reid and not ident.gallery and age < 3 * self.deadline:
                continue  # no clean crop yet: wait a little longer
            best, kind = self._best_candidate(frame, ident, roots)
            if best is not None:
                self.store.merge(best.id, ident.id, kind).resolved = True
            else:
                ident.resolved = True

    def _best_candidate(self, frame: int, ident: Identity, roots: list[Identity]):
        use_reid = self.has_reid and len(ident.gallery) > 0
        query = np.asarray(ident.gallery) if use_reid else None
        best, best_score, kind = None, -np.inf, "reentry"
        for cand in roots:
            if cand is ident or not cand.resolved or not self.store.can_merge(cand.id, ident.id):
                continue
            if cand.last_frame >= ident.first_frame:
                # In the scene at the same time, in other cameras: the same person only if they look
                # alike and stand together (a cross-camera fusion the ground plane alone missed).
                if not (use_reid and cand.gallery and self._colocated(frame, cand, ident)):
                    continue
                score = self.centering.similarity(query, cand.gallery)
                if score >= self.p.reid_threshold and score > best_score:
                    best, best_score, kind = cand, score, "fusion"
                continue
            nearby = self._plausible_continuation(cand, ident)
            if use_reid:
                if not cand.gallery:
                    continue
                score = self.centering.similarity(query, cand.gallery)
                threshold = self.p.reid_threshold - (self.p.continuation_bonus if nearby else 0.0)
                if score < threshold:
                    continue
                score += self.p.continuation_bonus if nearby else 0.0
            else:
                if not nearby:
                    continue
                score = -float(np.linalg.norm(ident.entry_position - cand.position))
            if score > best_score:
                best, best_score, kind = cand, score, "continuation" if nearby else "reentry"
        return best, kind

    def _colocated(self, frame: int, a: Identity, b: Identity) -> bool:
        """Both seen now, and not clearly apart on the ground (unknown positions do not disagree)."""
        if a.last_frame != frame or b.last_frame != frame:
            return False
        if not (np.all(np.isfinite(a.position)) and np.all(np.isfinite(b.position))):
            return True
        return float(np.linalg.norm(a.position - b.position)) <= 2 * self.match_distance

    def _plausible_continuation(self, lost: Identity, new: Identity) -> bool:
        """Was ``new`` first seen close to where ``lost`` was last seen, shortly after?"""
        gap = (new.first_frame - lost.last_frame) / self.fps
        if gap > self.p.reconnect_seconds:
            return False
        if not (np.all(np.isfinite(lost.position)) and np.all(np.isfinite(new.entry_position))):
            return False
        reach = self.p.reconnect_distance + self.p.max_speed * gap
        return float(np.linalg.norm(new.entry_position - lost.position)) <= reach
