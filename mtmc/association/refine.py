"""Offline refinement: the re-entry decisions taken again with whole visits instead of first crops.

Online, a person entering is compared with the galleries after a second or so (a few small door
crops) and the decision is final.  At the end of the sequence every *visit* is complete, so:

1. **Visits**: the identities the online stage opened, joined again by its merges that did not rest on
   appearance alone — cross-camera fusion (same place, same time) and continuations of a track broken
   nearby a moment ago.  Its re-entry merges (appearance only) are dropped and decided anew.
2. **Clustering**: average-linkage agglomeration of the visits on their crop similarity (the mean best
   match of one visit's crops among the other's, symmetrised), most similar pair first, never joining
   two visits that one camera saw at the same time, stopping below ``threshold``.  Visits seen at the
   same time by *different* cameras may join: that is a cross-camera fusion the online stage missed.
   A small overlap in one camera is tolerated (``max_overlap``): visits' ends are often impure.

Visits without any clean crop keep the online decision about them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from mtmc.association.identities import IdentityStore, Tracklet, UnionFind

MAX_SAMPLES = 64  # crops per visit in the comparison (evenly spread): enough, and the cost stays small


def identity_spans(tracklets: Iterable[Tracklet]) -> dict[int, list[tuple[int, int, int]]]:
    """(camera, first, last frame) spans each identity (not its merged root) was seen in, from the
    tracklets' segments."""
    spans: dict[int, list[tuple[int, int, int]]] = {}
    for tr in tracklets:
        for i, (start, ident) in enumerate(tr.segments):
            end = tr.segments[i + 1][0] - 1 if i + 1 < len(tr.segments) else tr.last_frame
            if end >= start:
                spans.setdefault(ident, []).append((tr.camera, start, end))
    return spans


def shared_frames(a: list[tuple[int, int, int]], b: list[tuple[int, int, int]]) -> int:
    """Frames in which one camera saw both (two cameras at once is a fusion the online stage missed)."""
    if not a or not b:
        return 0
    sa, sb = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    overlap = np.minimum(sa[:, None, 2], sb[None, :, 2]) - np.maximum(sa[:, None, 1], sb[None, :, 1]) + 1
    return int(np.where(sa[:, None, 0] == sb[None, :, 0], np.maximum(overlap, 0), 0).sum())


def co_presence(seen: list[list[tuple[int, int, int]]]) -> tuple[np.ndarray, np.ndarray]:
    """(V, V) frames one camera saw two visits at once, and (V,) frames each visit was seen."""
    n = len(seen)
    shared = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            shared[i, j] = shared[j, i] = shared_frames(seen[i], seen[j])
    frames = np.array([sum(e - s + 1 for _, s, e in spans) for spans in seen], dtype=np.float64)
    return shared, frames


def average_linkage(sim: np.ndarray, shared: np.ndarray, frames: np.ndarray, weights: list[int], threshold: float,
                    tolerance: int, max_overlap: float, join: Callable[[int, int], None]) -> None:
    """Join the most similar pair of clusters until none is above ``threshold`` (the arrays are consumed).

    Two clusters one camera saw at the same time are different people, except for an overlap of at
    most ``tolerance`` frames or ``max_overlap`` of the shorter one's frames: a visit's ends often hold a
    few frames of somebody else (a tracker switch caught late), and a hard rule would keep the person's
    visits apart for good.  ``shared`` = inf keeps two clusters apart whatever they look like.
    """
    n = len(sim)
    weight = np.asarray(weights, dtype=np.float64)
    alive = np.ones(n, dtype=bool)
    np.fill_diagonal(sim, -np.inf)
    while True:
        allowed = shared <= np.maximum(tolerance, max_overlap * np.minimum(frames[:, None], frames[None, :]))
        masked = np.where(allowed & alive[None, :] & alive[:, None], sim, -np.inf)
        i, j = np.unravel_index(int(np.argmax(masked)), masked.shape)
        if masked[i, j] < threshold:
            return
        # average linkage: the joined cluster's similarity is the crop-weighted mean of its parts'
        row = (weight[i] * sim[i] + weight[j] * sim[j]) / (weight[i] + weight[j])
        sim[i, :], sim[:, i] = row, row
        sim[i, i] = -np.inf
        shared[i, :] += shared[j, :]
        shared[:, i] = shared[i, :]
        shared[i, i] = 0.0
        frames[i] += frames[j]
        weight[i] += weight[j]
        alive[j] = False
        join(i, j)


def directed_similarity(queries: list[np.ndarray], gallery: list[np.ndarray]) -> np.ndarray:
    """(Q, G): for each query visit, the mean over its crops of their best cosine in each gallery visit."""
    sizes = np.array([len(g) for g in gallery])
    stacked = np.concatenate(gallery)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    directed = np.empty((len(queries), len(gallery)))
    for v, query in enumerate(queries):
        best = np.maximum.reduceat(query @ stacked.T, offsets, axis=1)  # (len(query), G)
        directed[v] = best.mean(axis=0)
    return directed


def cross_similarity(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) and (B, A) directed similarities of two lists of visits from one product of all their crops:
    the mean over one visit's crops of their best cosine in the other visit."""
    size_a, size_b = np.array([len(x) for x in a]), np.array([len(x) for x in b])
    start_a, start_b = np.concatenate([[0], np.cumsum(size_a)[:-1]]), np.concatenate([[0], np.cumsum(size_b)[:-1]])
    products = np.concatenate(a) @ np.concatenate(b).T  # (crops of a, crops of b)
    a_to_b = np.add.reduceat(np.maximum.reduceat(products, start_b, axis=1), start_a, axis=0) / size_a[:, None]
    b_to_a = np.add.reduceat(np.maximum.reduceat(products, start_a, axis=0), start_b, axis=1) / size_b[None, :]
    return a_to_b, b_to_a.T


def visit_crops(samples: list[np.ndarray], transform: Callable[[np.ndarray], np.ndarray] | None) -> np.ndarray:
    """At most ``MAX_SAMPLES`` of a visit's crops, evenly spread, transformed for comparison."""
    emb = np.asarray(samples, dtype=np.float32)
    step = max(1, int(np.ceil(len(emb) / MAX_SAMPLES)))
    return transform(emb[::step]) if transform is not None else emb[::step]


def recluster(store: IdentityStore, tracklets: Iterable[Tracklet], threshold: float, overlap_frames: int = 0,
              transform: Callable[[np.ndarray], np.ndarray] | None = None,
              max_overlap: float = 0.0) -> dict[int, int]:
    """Final partition of ``store``'s identities: identity id -> id of its person (see module doc).

    ``transform`` maps a visit's (n, d) crops before they are compared (the association's centring);
    ``max_overlap`` is the share of a visit's frames that may overlap another's in one camera (impure ends).
    """
    spans = identity_spans(tracklets)
    person = UnionFind(store.identities)  # visits first, then the clustering joins them further
    for keep, absorb, kind in store.links:
        if kind != "reentry":
            person.union(keep, absorb)
    embedded = {person.find(i) for i, ident in store.identities.items() if ident.samples.items}
    # A visit nobody could embed cannot be compared: it keeps its online re-entry decisions.
    for keep, absorb, kind in store.links:
        a, b = person.find(keep), person.find(absorb)
        if kind == "reentry" and not (a in embedded and b in embedded):
            person.union(a, b)
            if a in embedded or b in embedded:
                embedded.add(person.find(a))
    members: dict[int, list[int]] = {}
    for ident_id in store.identities:
        members.setdefault(person.find(ident_id), []).append(ident_id)

    def samples_of(visit: int) -> list[np.ndarray]:
        return [e for m in members[visit] for e in store.identities[m].samples.items]

    ids = sorted(v for v in members if v in embedded)
    if len(ids) > 1:
        crops = [visit_crops(samples_of(v), transform) for v in ids]
        directed = directed_similarity(crops, crops)
        sim = 0.5 * (directed + directed.T)
        shared, frames = co_presence([[s for m in members[v] for s in spans.get(m, ())] for v in ids])
        average_linkage(sim, shared, frames, [len(c) for c in crops], threshold, overlap_frames, max_overlap,
                        lambda i, j: person.union(ids[i], ids[j]))
    return {ident_id: person.find(ident_id) for ident_id in store.identities}
