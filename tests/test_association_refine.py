"""Offline refinement: re-entry decisions taken again on whole visits (mtmc.association.refine)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_association import boxes, scene, step, unit  # noqa: E402

from mtmc.association import ASSOCIATORS  # noqa: E402
from mtmc.association.identities import IdentityStore, SampleReservoir, SceneCentering, Tracklet  # noqa: E402
from mtmc.association.refine import identity_spans, recluster  # noqa: E402

A, B = unit([1, 0.1, 0, 0]), unit([0, 1, 0.1, 0])


def _misleading_return(offline: bool):
    """A and B each visit once; then A returns showing B-like crops first (a back view), A-like after.

    Splitting on appearance is off, so the online stage keeps its wrong first decision (A's return = B).
    """
    params = {"refine": {"offline": offline, "threshold": 0.6}, "consistency": {"similarity": -1.0}}
    assoc = ASSOCIATORS.build("global", params, scene=scene(1), has_reid=True)
    f = 0
    visits = [(1, A, 40), (2, B, 40)]
    for lid, emb, length in visits:
        for _ in range(length):
            f += 1
            step(assoc, f, [[(lid, 2.0, 2.0)]], [[emb]])
        f += 20  # nobody in the room
    for k in range(120):
        f += 1
        step(assoc, f, [[(3, 2.0, 2.0)]], [[B if k < 8 else A]])
    assoc.finalize()
    ids = [assoc.relabel(0, boxes(1, 0, [(lid, 2, 2)]))[0] for lid in (1, 2, 3)]
    return ids


def test_offline_refinement_corrects_a_wrong_reentry_decision():
    online = _misleading_return(offline=False)
    assert online[2] == online[1] != online[0]  # the online decision: the returning A taken for B
    refined = _misleading_return(offline=True)
    assert refined[2] == refined[0] != refined[1]


def test_offline_refinement_never_joins_people_present_at_once():
    assoc = ASSOCIATORS.build("global", {"refine": {"offline": True, "threshold": 0.0}},
                              scene=scene(1), has_reid=True)
    for f in range(1, 40):  # twins, side by side, far apart on the ground
        step(assoc, f, [[(1, 1.0, 1.0), (2, 4.0, 4.0)]], [[A, A]])
    assoc.finalize()
    ids = assoc.relabel(0, boxes(1, 0, [(1, 1, 1), (2, 4, 4)]))
    assert ids[0] != ids[1]


def _store_with_visits(embeddings: list[np.ndarray], spans: list[tuple[int, int]], cameras: list[int] | None = None):
    store = IdentityStore(gallery_size=10)
    tracklets = []
    for lid, (emb, (start, end)) in enumerate(zip(embeddings, spans)):
        ident = store.new(start)
        ident.own_last_frame = end
        for _ in range(5):
            ident.samples.add(emb)
        tr = Tracklet(cameras[lid] if cameras else 0, lid, start, end)
        tr.segments.append((start, ident.id))
        tracklets.append(tr)
    return store, tracklets


def test_recluster_keeps_fusion_links_and_redecides_reentries():
    # 1 and 3 look alike; 2 looks different. Online: 2 re-entered as 1 (appearance), 3 fused with 2.
    store, tracklets = _store_with_visits([A, B, A], [(0, 9), (20, 29), (40, 49)])
    store.merge(1, 2, "reentry")
    partition = recluster(store, tracklets, threshold=0.9)
    assert partition == {1: 1, 2: 2, 3: 1}
    store.merge(2, 3, "fusion")  # now 3 must stay with 2, whatever it looks like
    partition = recluster(store, tracklets, threshold=0.9)
    assert partition[3] == partition[2] and partition[1] != partition[2]


def test_recluster_tolerates_impure_visit_ends_but_never_joins_twins():
    # The second visit's first 10 frames overlap the first's in the same camera (a switch caught late).
    store, tracklets = _store_with_visits([A, A], [(0, 99), (90, 189)])
    assert recluster(store, tracklets, threshold=0.9)[2] == 2  # strict: one camera saw both at once
    assert recluster(store, tracklets, threshold=0.9, max_overlap=0.2)[2] == 1
    store, tracklets = _store_with_visits([A, A], [(0, 99), (20, 119)])  # twins walking in together
    assert recluster(store, tracklets, threshold=0.9, max_overlap=0.2)[2] == 2


def test_recluster_joins_a_cross_camera_fusion_missed_online():
    store, tracklets = _store_with_visits([A, A, B], [(0, 99), (0, 99), (0, 99)], cameras=[0, 1, 2])
    assert recluster(store, tracklets, threshold=0.9) == {1: 1, 2: 1, 3: 3}


def test_identity_spans_follow_tracklet_segments():
    tr = Tracklet(0, 1, 0, 30)
    tr.segments += [(0, 1), (11, 2), (25, 1)]
    assert identity_spans([tr]) == {1: [(0, 0, 10), (0, 25, 30)], 2: [(0, 11, 24)]}


def test_sample_reservoir_stays_bounded_and_spread_over_the_visit():
    r = SampleReservoir(capacity=8)
    for i in range(100):
        r.add(np.array([i]))
    kept = [int(x[0]) for x in r.items]
    assert len(kept) < 8 and kept[0] == 0 and kept[-1] >= 64


def test_scene_centering_removes_what_every_crop_shares():
    rng = np.random.default_rng(0)
    common = unit(rng.normal(size=16)) * 3
    people = [unit(rng.normal(size=16)) for _ in range(4)]
    crops = [[unit(common + p + 0.1 * rng.normal(size=16)) for _ in range(10)] for p in people]
    centering = SceneCentering(min_count=20)
    raw = centering.similarity(crops[0], crops[1])  # fewer than min_count crops seen: not centred yet
    for person in crops:
        for c in person:
            centering.observe(c)
    assert raw > 0.8  # everybody looks alike before centring...
    assert centering.similarity(crops[0], crops[1]) < 0.5 < centering.similarity(crops[0][:5], crops[0][5:])
    assert np.allclose(np.linalg.norm(centering.apply(np.stack(crops[2])), axis=1), 1.0)
    off = SceneCentering(enabled=False)
    off.observe(crops[0][0])
    assert off.similarity(crops[0], crops[1]) == pytest.approx(raw)


def _stranger_enters(center: bool):
    """A and B (look-alike embeddings: a large shared component) are seen; A leaves; a stranger enters."""
    rng = np.random.default_rng(1)
    common = unit(rng.normal(size=8)) * 3
    a, b, stranger = (unit(common + unit(rng.normal(size=8))) for _ in range(3))
    assoc = ASSOCIATORS.build("global", {"appearance": {"center_embeddings": center}, "entry": {"reid_threshold": 0.5}},
                              scene=scene(1), has_reid=True)
    f = 0
    for _ in range(30):
        f += 1
        first = step(assoc, f, [[(1, 1.0, 1.0), (2, 4.0, 4.0)]], [[a, b]])
    for _ in range(50):
        f += 1
        step(assoc, f, [[(2, 4.0, 4.0)]], [[b]])
    for _ in range(30):
        f += 1
        step(assoc, f, [[(2, 4.0, 4.0), (3, 0.2, 0.2)]], [[b, stranger]])
    assoc.finalize()
    return first[0]["id"][0], assoc.relabel(0, boxes(f, 0, [(3, 0.2, 0.2)]))[0]


def test_centering_keeps_a_look_alike_stranger_from_taking_an_old_identity():
    id_a, stranger = _stranger_enters(center=False)
    assert stranger == id_a  # raw cosine ~0.9 between everybody: the stranger is taken for A
    id_a, stranger = _stranger_enters(center=True)
    assert stranger != id_a


def test_joined_visits_never_put_one_id_on_two_boxes_of_a_frame():
    """Track 1 (A) overlaps the start of track 2 (also A) for 6 frames in one camera: offline they are one
    person, but in the overlapping frames only one box carries that id."""
    assoc = ASSOCIATORS.build("global", {"refine": {"offline": True, "threshold": 0.6, "max_overlap": 0.35}}, scene=scene(1), has_reid=True)
    frames = []
    for f in range(1, 121):
        people = ([(1, 1.0, 1.0)] if f <= 60 else []) + ([(2, 4.0, 4.0)] if f >= 55 else [])
        step(assoc, f, [people], [[A] * len(people)])
        frames.append(boxes(f, 0, people))
    assoc.finalize()
    everything = np.concatenate(frames)
    ids = assoc.relabel(0, everything)
    pairs = list(zip(everything["frame"].tolist(), ids.tolist()))
    assert len(set(pairs)) == len(pairs)  # no id twice in a frame
    before = ids[(everything["id"] == 1) & (everything["frame"] < 55)]
    after = ids[(everything["id"] == 2) & (everything["frame"] > 60)]
    assert len(set(before)) == 1 and set(before) == set(after)  # one person across the two visits


def test_cross_similarity_equals_the_per_visit_directed_similarities():
    from mtmc.association.refine import cross_similarity, directed_similarity

    rng = np.random.default_rng(3)

    def visit(n):
        x = rng.normal(size=(n, 8)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    a, b = [visit(k) for k in (3, 5, 1)], [visit(k) for k in (4, 2, 6, 3)]
    a_to_b, b_to_a = cross_similarity(a, b)
    assert np.allclose(a_to_b, directed_similarity(a, b), atol=1e-6)
    assert np.allclose(b_to_a, directed_similarity(b, a), atol=1e-6)
