"""Cross-camera fusion: a new tracklet is watched for a short window; if over that time it stood where
another camera sees an identity (mean ground distance under ``match_distance``; appearance as a veto
and tie-breaker), it joins that identity.  Without a usable ground position it may join a person seen
now elsewhere who looks the same."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mtmc.association.identities import IdentityStore, SceneCentering, Tracklet
from mtmc.association.params import GlobalParams, frames_for

Seen = list[tuple[Tracklet, np.ndarray | None]]  # this frame's tracklets with their crop's embedding, if any


@dataclass
class FusionWindow:
    """What a new tracklet collected while deciding whom it stands with."""

    start: int  # first frame of the tracklet's current segment
    distances: dict[int, list] = field(default_factory=dict)  # identity -> [sum of ground distances, frames]
    embeddings: list = field(default_factory=list)


def identity_positions(store: IdentityStore, seen: Seen, exclude_camera: int | None = None) -> dict[int, np.ndarray]:
    """Mean ground position of each identity over this frame's tracklets (optionally not in one camera)."""
    acc: dict[int, list[np.ndarray]] = {}
    for tr, _ in seen:
        if tr.camera != exclude_camera and np.all(np.isfinite(tr.position)):
            acc.setdefault(store.find(tr.identity), []).append(tr.position)
    return {k: np.mean(v, axis=0) for k, v in acc.items()}


class CrossCameraFusion:
    """Owns the fusion windows of tracklets that are still deciding whom they stand with."""

    def __init__(self, params: GlobalParams, fps: float, store: IdentityStore, centering: SceneCentering):
        self.p = params.fusion
        self.reid_threshold = params.entry.reid_threshold
        self.window = frames_for(self.p.window_seconds, fps)
        self.store, self.centering = store, centering
        self.windows: dict[tuple[int, int], FusionWindow] = {}

    def open(self, tr: Tracklet, frame: int) -> None:
        self.windows[(tr.camera, tr.local_id)] = FusionWindow(frame)

    def is_open(self, tr: Tracklet) -> bool:
        return (tr.camera, tr.local_id) in self.windows

    def waiting_identities(self, tracklets: dict[tuple[int, int], Tracklet]) -> set[int]:
        """Identities with a tracklet still in its window (their entry is not decided yet)."""
        return {self.store.find(tracklets[key].identity) for key in self.windows}

    def accumulate(self, seen: Seen) -> None:
        """Sum each watched tracklet's ground distance to every identity other cameras see now."""
        elsewhere: dict[int, dict[int, np.ndarray]] = {}
        for tr, emb in seen:
            window = self.windows.get((tr.camera, tr.local_id))
            if window is None:
                continue
            if emb is not None:
                window.embeddings.append(emb)
            own = self.store.find(tr.identity)
            for o, _ in seen:  # everybody other cameras see now is a candidate, located or not
                root = self.store.find(o.identity) if o.segments else None
                if o.camera != tr.camera and root is not None and root != own:
                    window.distances.setdefault(root, [0.0, 0])
            if not np.all(np.isfinite(tr.position)):
                continue
            if tr.camera not in elsewhere:
                elsewhere[tr.camera] = identity_positions(self.store, seen, exclude_camera=tr.camera)
            for ident_id, pos in elsewhere[tr.camera].items():
                if ident_id != own:
                    acc = window.distances.setdefault(ident_id, [0.0, 0])
                    acc[0] += float(np.linalg.norm(tr.position - pos))
                    acc[1] += 1

    def fuse(self, frame: int, tracklets: dict[tuple[int, int], Tracklet]) -> None:
        """At the end of a tracklet's window: join the identity it stood with in other cameras, if any."""
        for key in sorted(self.windows):
            tr, window = tracklets[key], self.windows[key]
            if tr.last_frame == frame and frame - window.start + 1 < self.window:
                continue  # still collecting
            del self.windows[key]
            own = self.store.find(tr.identity)
            totals: dict[int, list[float]] = {}
            for ident_id, (dist, n) in window.distances.items():
                root = self.store.find(ident_id)
                if root != own:
                    acc = totals.setdefault(root, [0.0, 0])
                    acc[0] += dist
                    acc[1] += n
            frames_seen = tr.last_frame - window.start + 1
            query = np.asarray(window.embeddings) if window.embeddings else None
            best, best_cost = None, np.inf
            for root, (dist, n) in totals.items():
                if n < max(1, frames_seen // 2) or dist / n > self.p.match_distance:
                    continue
                cost = dist / n
                gallery = self.store.get(root).gallery
                if query is not None and gallery:
                    sim = self.centering.similarity(query, gallery)
                    if sim < self.p.min_similarity:
                        continue  # stands there, but looks like somebody else
                    cost += self.p.appearance_weight * (1.0 - sim)
                if cost < best_cost and self.store.can_merge(root, own):
                    best, best_cost = root, cost
            if best is None and query is not None:
                best = self._by_appearance(window, own, query, totals)
            if best is not None:
                self.store.merge(best, own)

    def _by_appearance(self, window: FusionWindow, own: int, query: np.ndarray, totals: dict) -> int | None:
        """No usable ground position (feet cut off, far away): join a person seen now by another camera
        who looks the same, unless the ground positions that do exist clearly disagree."""
        best, best_sim = None, self.reid_threshold
        for root, (dist, n) in totals.items():
            if n and dist / n > 2 * self.p.match_distance:
                continue
            ident = self.store.get(root)
            if ident.last_frame < window.start or not ident.gallery or not self.store.can_merge(root, own):
                continue
            sim = self.centering.similarity(query, ident.gallery)
            if sim > best_sim:
                best, best_sim = root, sim
        return best
