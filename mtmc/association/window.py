"""Windowed re-clustering: the offline refinement's whole-visit evidence, carried into the stream.

With a latency of L frames, a frame's ids leave the association L frames late (:mod:`.stream`).  Every
``refine.every_seconds`` the visits that are still *open* — seen within the window, so some of their
frames have not left yet — are clustered again on all their crops, as :mod:`.refine` does at the end
of a sequence:

* **Anchors**: visits that ended before the window are final; they are grouped by the id they left
  with, and two anchor groups are never joined (their ids are out).
* **Open visits** join an anchor group or each other by average linkage on crop similarity, never
  joining what one camera saw at the same time (beyond ``refine.max_overlap`` of the shorter one).
* **Ids**: a cluster with an anchor takes the anchor's id; a cluster of open visits only keeps an id
  one of its visits already carries, unless an anchor or a larger cluster holds it; else it gets a new
  one.  A revision changes only the frames that have not left yet.

Visits (identities joined by fusion and continuation links, as offline) without clean crops, and
identities newer than the last re-clustering, follow the online decisions.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mtmc.association.identities import IdentityStore, SceneCentering, Tracklet, UnionFind
from mtmc.association.params import RefineParams, frames_for
from mtmc.association.refine import (
    average_linkage,
    cross_similarity,
    identity_spans,
    shared_frames,
    visit_crops,
)


class WindowRefiner:
    """Re-clusters the open visits periodically; gives each identity the id its frames leave with."""

    def __init__(self, params: RefineParams, fps: float, latency: int, store: IdentityStore,
                 centering: SceneCentering):
        self.p = params
        self.every = frames_for(params.every_seconds, fps)
        self.latency = latency
        self.store, self.centering = store, centering
        self.visits = UnionFind()  # identities joined by the online fusion / continuation links
        self._links_read = 0
        self.labels: dict[int, int] = {}  # identity -> id decided by the last re-clustering
        self.visit_labels: dict[int, int] = {}  # visit (its root identity then) -> that id
        self.next_refresh = 0
        self.refreshes = 0

    # -- ids ---------------------------------------------------------------------------------------

    def label(self, identity: int) -> int:
        """The id of ``identity``'s frames now: the re-clustering's, else that of its visit or its online
        person (the labelled member seen last), else the online person's own id."""
        if identity in self.labels:
            return self.labels[identity]
        self._read_links()
        visit = self.visits.find(identity)
        if visit in self.visit_labels:
            return self.visit_labels[visit]
        root = self.store.find(identity)
        candidates = [m for m in self.store.members.get(root, [root]) if m in self.labels]
        if not candidates:
            return root
        seen_last = max(candidates, key=lambda m: self.store.identities[m].own_last_frame)
        return self.labels[seen_last]

    def _read_links(self) -> None:
        links = self.store.links
        for keep, absorb, kind in links[self._links_read:]:
            if kind != "reentry":
                self.visits.union(keep, absorb)
        self._links_read = len(links)

    # -- re-clustering -----------------------------------------------------------------------------

    def maybe_refresh(self, frame: int, tracklets: Iterable[Tracklet], emitted: dict[int, int]) -> None:
        """Re-cluster if due.  ``emitted``: segment identity -> the id its frames last left with."""
        if frame < self.next_refresh:
            return
        self.next_refresh = frame + self.every
        self.refreshes += 1
        self._read_links()
        members: dict[int, list[int]] = {}
        for ident_id in self.store.identities:
            members.setdefault(self.visits.find(ident_id), []).append(ident_id)
        last = {v: max(self.store.identities[m].own_last_frame for m in ms) for v, ms in members.items()}
        # Frames up to frame - latency have left (this step emits frame - latency after the re-clustering).
        closed = {v for v in members if last[v] < frame - self.latency}
        current = {v: self._current_label(ms, emitted) for v, ms in members.items()}
        spans_of = identity_spans(tracklets)

        def spans(v: int) -> list[tuple[int, int, int]]:
            return [s for m in members[v] for s in spans_of.get(m, ())]

        def crops(v: int) -> np.ndarray | None:
            samples = [e for m in members[v] for e in self.store.identities[m].samples.items]
            return visit_crops(samples, self.centering.apply) if samples else None

        open_visits = [v for v in sorted(members) if v not in closed and self._has_samples(members[v])]
        if not open_visits:
            return
        anchor_groups: dict[int, list[int]] = {}
        for v in sorted(closed):
            if self._has_samples(members[v]):
                anchor_groups.setdefault(current[v], []).append(v)
        anchor_labels = sorted(anchor_groups)
        open_crops = [crops(v) for v in open_visits]
        closed_visits = [v for lab in anchor_labels for v in anchor_groups[lab]]
        closed_crops = [crops(v) for v in closed_visits]

        sim, weights = self._unit_similarity(open_crops, closed_crops, [len(anchor_groups[lab]) for lab in
                                                                        anchor_labels])
        unit_spans = [spans(v) for v in open_visits] + [[s for v in anchor_groups[lab] for s in spans(v)]
                                                         for lab in anchor_labels]
        shared, frames = self._co_presence(unit_spans, len(open_visits))
        n_open = len(open_visits)
        clusters = UnionFind(range(len(unit_spans)))
        average_linkage(sim, shared, frames, weights, self.p.threshold, self.store.overlap_frames,
                        self.p.max_overlap, clusters.union)

        taken = {current[v] for v in closed}  # ids that have left with a finished visit
        groups: dict[int, list[int]] = {}
        for unit in range(len(unit_spans)):
            groups.setdefault(clusters.find(unit), []).append(unit)
        decided: dict[int, int] = {}  # open visit -> id
        open_only = []
        for units in groups.values():
            anchors = [anchor_labels[u - n_open] for u in units if u >= n_open]
            visits = [open_visits[u] for u in units if u < n_open]
            if anchors:
                decided.update({v: anchors[0] for v in visits})
            elif visits:
                open_only.append(visits)
        # larger clusters choose first among the ids their visits already carry
        open_only.sort(key=lambda vs: -sum(len(open_crops[open_visits.index(v)]) for v in vs))
        for visits in open_only:
            label = self._choose_label(visits, current, taken, members)
            taken.add(label)
            decided.update({v: label for v in visits})
        for v, label in decided.items():
            self.visit_labels[v] = label
            for m in members[v]:
                self.labels[m] = label

    def _has_samples(self, identities: list[int]) -> bool:
        return any(len(self.store.identities[m].samples) for m in identities)

    def _current_label(self, identities: list[int], emitted: dict[int, int]) -> int:
        """The id a visit carries now: what its member seen last left with, else what it would leave with."""
        seen_last = max(identities, key=lambda m: self.store.identities[m].own_last_frame)
        if seen_last in emitted:
            return emitted[seen_last]
        return self.label(seen_last)

    def _choose_label(self, visits: list[int], current: dict[int, int], taken: set[int],
                      members: dict[int, list[int]]) -> int:
        """An id the cluster's visits already carry (the one most of its identities carry), if free."""
        votes: dict[int, int] = {}
        for v in visits:
            votes[current[v]] = votes.get(current[v], 0) + len(members[v])
        for label in sorted(votes, key=lambda lab: (-votes[lab], lab)):
            if label not in taken:
                return label
        for ident in sorted(m for v in visits for m in members[v]):
            if ident not in taken and ident not in self.labels.values():
                return ident
        return max(taken | set(self.labels.values()) | set(self.store.identities)) + 1

    def _unit_similarity(self, open_crops: list[np.ndarray], closed_crops: list[np.ndarray],
                         group_sizes: list[int]) -> tuple[np.ndarray, list[int]]:
        """(U, U) similarity of the units (open visits, then anchor groups) and their crop counts.

        An anchor group's similarity to an open visit is the crop-weighted mean over its visits, as
        average linkage would give after joining them."""
        n_open, n_groups = len(open_crops), len(group_sizes)
        oo, _ = cross_similarity(open_crops, open_crops)
        sim = np.full((n_open + n_groups, n_open + n_groups), -np.inf)
        sim[:n_open, :n_open] = 0.5 * (oo + oo.T)
        weights = [len(c) for c in open_crops]
        if n_groups:
            open_to_closed, closed_to_open = cross_similarity(open_crops, closed_crops)
            oc = 0.5 * (open_to_closed + closed_to_open.T)
            sizes = np.array([len(c) for c in closed_crops], dtype=np.float64)
            bounds = np.concatenate([[0], np.cumsum(group_sizes)])
            for g in range(n_groups):
                part = slice(bounds[g], bounds[g + 1])
                w = sizes[part]
                sim[:n_open, n_open + g] = sim[n_open + g, :n_open] = (oc[:, part] * w).sum(axis=1) / w.sum()
                weights.append(int(w.sum()))
        return sim, weights

    @staticmethod
    def _co_presence(unit_spans: list[list[tuple[int, int, int]]], n_open: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames one camera saw two units at once; anchor groups never join each other (inf)."""
        n = len(unit_spans)
        shared = np.zeros((n, n))
        shared[n_open:, n_open:] = np.inf
        for i in range(n_open):
            for j in range(i + 1, n):
                shared[i, j] = shared[j, i] = shared_frames(unit_spans[i], unit_spans[j])
        np.fill_diagonal(shared, 0.0)
        frames = np.array([sum(e - s + 1 for _, s, e in spans) for spans in unit_spans], dtype=np.float64)
        return shared, frames
