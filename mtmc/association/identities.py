"""Bookkeeping for global identities: tracklets, identities, merges (union-find) and galleries."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from mtmc.vectors import l2_normalize


class UnionFind:
    """Union-find over ints; a union keeps the smaller (older) id as the root."""

    def __init__(self, items: Iterable[int] = ()):
        self.parent = {i: i for i in items}

    def find(self, i: int) -> int:
        self.parent.setdefault(i, i)
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # the older id survives


@dataclass
class Tracklet:
    """One per-camera track (camera, local id), split into segments that each point to an identity.

    The stages keep their own per-tracklet state (fusion windows, split evidence, crop schedule);
    this is only what they all share."""

    camera: int
    local_id: int
    first_frame: int
    last_frame: int
    segments: list[tuple[int, int]] = field(default_factory=list)  # (start frame, identity id)
    position: np.ndarray = field(default_factory=lambda: np.full(2, np.nan))

    @property
    def identity(self) -> int:
        return self.segments[-1][1]

    def segment_at(self, frame: int) -> tuple[int, int]:
        """(start frame, identity) of the segment that covers ``frame`` (the first one before it starts)."""
        found = self.segments[0]
        for segment in self.segments:
            if segment[0] <= frame:
                found = segment
        return found


class SampleReservoir:
    """Up to ``capacity`` embeddings spread evenly over a whole visit: when full, every other one is
    dropped and only every ``stride``-th new one is kept (deterministic, no RNG)."""

    def __init__(self, capacity: int = 128):
        self.capacity, self.stride, self._seen = capacity, 1, 0
        self.items: list[np.ndarray] = []

    def add(self, emb: np.ndarray) -> None:
        if self._seen % self.stride == 0:
            self.items.append(emb)
            if len(self.items) >= self.capacity:
                self.items, self.stride = self.items[::2], self.stride * 2
        self._seen += 1

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class Identity:
    """A person: where they were last seen, whether their entry was resolved, a gallery of embeddings."""

    id: int
    first_frame: int
    last_frame: int
    position: np.ndarray = field(default_factory=lambda: np.full(2, np.nan))
    entry_position: np.ndarray = field(default_factory=lambda: np.full(2, np.nan))  # where first seen
    resolved: bool = False  # entry decision (new person or returning one) taken
    gallery: deque = field(default_factory=lambda: deque(maxlen=30))
    # per camera: list of [start, end] frame intervals in which a tracklet of this identity existed
    intervals: dict[int, list[list[int]]] = field(default_factory=dict)
    # This identity's own crops and last frame (never merged into another): the offline re-clustering
    # compares them, and a merge links the identities of the two groups that were seen last.
    samples: SampleReservoir = field(default_factory=SampleReservoir)
    own_last_frame: int = -1

    def add_interval(self, camera: int, start: int, end: int) -> None:
        spans = self.intervals.setdefault(camera, [])
        if spans and spans[-1][1] >= start - 1 and spans[-1][0] <= start:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])

    def truncate(self, camera: int, start: int) -> None:
        """Forget this identity's presence in ``camera`` from frame ``start`` on (frames given away)."""
        spans = [[s0, min(e0, start - 1)] for s0, e0 in self.intervals.get(camera, []) if s0 < start]
        self.intervals[camera] = spans


# Why two identities were merged: the offline re-clustering keeps "fusion" (same place, same time) and
# "continuation" (a track broken nearby a moment ago) and decides "reentry" (appearance only) again.
MergeKind = Literal["fusion", "continuation", "reentry"]


class IdentityStore:
    """Identities with union-find merging: a merge relabels every tracklet segment at once."""

    def __init__(self, gallery_size: int, overlap_frames: int = 0):
        self.gallery_size = gallery_size
        self.overlap_frames = overlap_frames  # tolerated co-presence in one camera (id-swap detection lag)
        self.identities: dict[int, Identity] = {}
        self._sets = UnionFind()
        self._next = 1
        self.members: dict[int, list[int]] = {}  # root -> the identities merged into it (itself included)
        self.links: list[tuple[int, int, MergeKind]] = []  # every merge: (identity, identity, kind)

    def new(self, frame: int) -> Identity:
        ident = Identity(self._next, frame, frame, gallery=deque(maxlen=self.gallery_size))
        self.identities[ident.id] = ident
        self.members[ident.id] = [ident.id]
        self._next += 1
        return ident

    def find(self, identity_id: int) -> int:
        return self._sets.find(identity_id)

    def get(self, identity_id: int) -> Identity:
        return self.identities[self.find(identity_id)]

    def roots(self) -> list[Identity]:
        return [ident for i, ident in self.identities.items() if self._sets.find(i) == i]

    def can_merge(self, a: int, b: int) -> bool:
        """Two identities may be one person only if no camera saw both at the same time (for longer than
        ``overlap_frames``: the two halves of an id swap are detected a few frames apart)."""
        ia, ib = self.get(a), self.get(b)
        if ia.id == ib.id:
            return True
        for cam, spans in ia.intervals.items():
            for s0, e0 in spans:
                for s1, e1 in ib.intervals.get(cam, ()):
                    if min(e0, e1) - max(s0, s1) + 1 > self.overlap_frames:
                        return False
        return True

    def merge(self, keep: int, absorb: int, kind: MergeKind = "fusion") -> Identity:
        """Merge identity ``absorb`` into ``keep`` (the older id survives)."""
        ka, kb = self.get(keep), self.get(absorb)
        if ka.id == kb.id:
            return ka
        # The link joins the member of each group seen last: for a fusion that is the visit under way
        # (not the group's oldest visit, which may be a re-entry decision the refinement takes again).
        self.links.append(tuple(max(self.members[g.id], key=lambda m: self.identities[m].own_last_frame)
                                for g in (ka, kb)) + (kind,))
        if kb.id < ka.id:
            ka, kb = kb, ka
        self._sets.union(ka.id, kb.id)
        self.members[ka.id] += self.members.pop(kb.id)
        if kb.first_frame < ka.first_frame:
            ka.first_frame, ka.entry_position = kb.first_frame, kb.entry_position
        if kb.last_frame >= ka.last_frame:
            ka.last_frame, ka.position = kb.last_frame, kb.position
        ka.resolved = ka.resolved or kb.resolved
        ka.gallery.extend(kb.gallery)
        for cam, spans in kb.intervals.items():
            merged = sorted(ka.intervals.get(cam, []) + spans)
            ka.intervals[cam] = merged
        return ka

    def set_partition(self, representative: dict[int, int]) -> None:
        """Replace all merges by a final partition (identity id -> its cluster's id, an identity id itself).
        Only ``find`` stays meaningful afterwards: the end-of-sequence relabelling."""
        self.members = {}
        for ident_id in self.identities:
            rep = representative.get(ident_id, ident_id)
            self._sets.parent[ident_id] = rep
            self._sets.parent[rep] = rep
            self.members.setdefault(rep, []).append(ident_id)


def gallery_similarity(query: np.ndarray, gallery: np.ndarray) -> float:
    """Mean over query embeddings of their best cosine similarity in the gallery."""
    if len(query) == 0 or len(gallery) == 0:
        return -1.0
    return float((query @ gallery.T).max(axis=1).mean())


class SceneCentering:
    """Similarities of embeddings after removing the scene's mean embedding (running mean of all crops).

    A ReLU embedding (OSNet and most CNN ReID heads) has a large component every crop shares, so in one
    scene any two people score ~0.7 and the differences that matter are a few hundredths. Subtracting
    the mean and normalising again leaves what tells people apart: on a development scene the margin of
    a person's gallery over the most similar other person's widened 2-4x (docs/benchmarks.md).
    """

    def __init__(self, enabled: bool = True, min_count: int = 20):
        self.enabled, self.min_count = enabled, min_count
        self._sum: np.ndarray | None = None
        self.count = 0

    def observe(self, emb: np.ndarray) -> None:
        if self.enabled:
            self._sum = emb.astype(np.float64) if self._sum is None else self._sum + emb
            self.count += 1

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Centre and re-normalise rows of ``x`` (unchanged until ``min_count`` crops were seen)."""
        if not self.enabled or self.count < self.min_count:
            return x
        c = x - (self._sum / self.count).astype(x.dtype)
        return l2_normalize(c)

    def similarity(self, query, gallery) -> float:
        """``gallery_similarity`` of the centred embeddings."""
        return gallery_similarity(self.apply(np.asarray(query)), self.apply(np.asarray(gallery)))
