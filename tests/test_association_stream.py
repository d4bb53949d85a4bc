"""Streaming global ids: emitted ``latency`` frames late, final once emitted; the window re-clustering
corrects a wrong entry decision inside the window and never after it (mtmc.association.stream/window)."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import association_scenario  # noqa: E402
from test_association import scene as one_room  # noqa: E402
from test_association import step, unit  # noqa: E402

from mtmc.association import ASSOCIATORS  # noqa: E402
from mtmc.cli.main import main  # noqa: E402

A, B = unit([1, 0.1, 0, 0]), unit([0, 1, 0.1, 0])
GOLDEN = Path(__file__).parent / "data" / "association_online_golden.json"
GOLDEN_PARAMS = {"default": {}, "tuned": {"appearance": {"center_embeddings": True},
                                          "entry": {"min_embeddings": 8, "reid_threshold": 0.55}}}


@pytest.mark.parametrize("key", sorted(json.loads(GOLDEN.read_text())))
def test_latency_zero_equals_the_online_decisions_before_streaming(key):
    """The golden ids were recorded with the association as it was before streaming and the stage split
    (its per-frame ``update`` output on the scripted scenario): L = 0 must give exactly those."""
    seed, reid, name = key.split("_")
    assoc = ASSOCIATORS.build("global", GOLDEN_PARAMS[name], scene=association_scenario.scene(),
                              has_reid=reid == "reid")
    outputs = association_scenario.run(assoc, int(seed[4:]))
    got = [[[int(i) for i in cam["id"]] for cam in out] for out in outputs]
    assert got == json.loads(GOLDEN.read_text())[key]


@functools.cache
def _stream(latency_frames: int, stop_after: int = 200, window: bool = True):
    """The scripted scenario streamed with a latency: {frame: [(camera, global id), ...]}, {frame:
    [(camera, tracker id), ...]} and the associator (cached: the tests below share these runs)."""
    fps = association_scenario.FPS
    params = {"latency_seconds": latency_frames / fps, "refine": {"window": window, "threshold": 0.5}}
    assoc = ASSOCIATORS.build("global", params, scene=association_scenario.scene(), has_reid=True)
    emitted: dict[int, list] = {}
    local: dict[int, list] = {}
    for f, tracks, embs, _ in association_scenario.frames(3):
        if f > stop_after:
            break
        local[f] = [(cam, int(i)) for cam, t in enumerate(tracks) for i in t["id"]]
        masked = []
        for cam, t in enumerate(tracks):
            e = np.full_like(embs[cam], np.nan)
            want = assoc.wants_embeddings(cam, t)
            e[want] = embs[cam][want]
            masked.append(e)
        out = assoc.update(f, tracks, masked)
        frames_out = {int(x) for boxes in out for x in boxes["frame"]}
        assert frames_out <= {f - latency_frames}, f"step {f} emitted frames {frames_out}"
        _collect(emitted, out)
    _collect(emitted, assoc.flush())
    return emitted, local, assoc


def _collect(emitted: dict, out: list) -> None:
    for boxes in out:
        for b in boxes:
            emitted.setdefault(int(b["frame"]), []).append((int(b["camera"]), int(b["id"])))


@pytest.mark.parametrize("latency", [0, 20])
def test_every_box_is_emitted_once_latency_frames_late_and_never_changed(latency):
    full, local, _ = _stream(latency)
    assert sorted(full) == sorted(local)
    for f in local:
        assert len(full[f]) == len(local[f])  # each box once
        for cam in {c for c, _ in local[f]}:  # one camera never shows one id on two boxes
            ids = [gid for c, gid in full[f] if c == cam]
            assert latency == 0 or len(set(ids)) == len(ids)
    # A stream stopped after 150 frames emitted the same ids for every frame it had finalised then:
    # what left the association was never revised by what came later.
    cut, _, _ = _stream(latency, stop_after=150)
    for f in range(1, 150 - latency + 1):
        assert sorted(cut[f]) == sorted(full[f])


def test_a_window_changes_ids_only_by_delaying_them():
    """With latency but no re-clustering, a frame's ids are the online decisions ``latency`` frames later."""
    delayed, _, assoc = _stream(20, window=False)
    assert assoc.window is None
    at_once, _, _ = _stream(0)
    assert sum(sorted(delayed[f]) != sorted(at_once[f]) for f in delayed) > 0  # later decisions show


def _misleading_return(latency_seconds: float, window: bool = True):
    """A and B each visit once; A returns showing B-like crops for 8 frames (a back view), A-like after.
    Splitting on appearance is off, so the online stage keeps its first decision (A's return = B).
    Returns A's id, B's id and the emitted ids of the return visit in frame order."""
    params = {"latency_seconds": latency_seconds, "consistency": {"similarity": -1.0},
              "scheduling": {"refresh_seconds": 0.1},
              "refine": {"window": window, "threshold": 0.6, "every_seconds": 0.5}}
    assoc = ASSOCIATORS.build("global", params, scene=one_room(1), has_reid=True)
    emitted: dict[tuple[int, int], int] = {}  # (frame, tracker id) -> global id
    local: dict[int, int] = {}
    f = 0

    def feed(lid, emb):
        nonlocal f
        f += 1
        local[f] = lid
        for box in step(assoc, f, [[(lid, 2.0, 2.0)]], [[emb]])[0]:
            emitted[int(box["frame"])] = int(box["id"])

    for lid, emb in [(1, A), (2, B)]:
        for _ in range(40):
            feed(lid, emb)
        f += 20  # nobody in the room
    for k in range(120):
        feed(3, B if k < 8 else A)
    for box in assoc.flush()[0]:
        emitted[int(box["frame"])] = int(box["id"])
    by_visit = {lid: [emitted[fr] for fr in sorted(local) if local[fr] == lid] for lid in (1, 2, 3)}
    return by_visit[1][0], by_visit[2][0], by_visit[3]


def test_online_keeps_a_wrong_entry_decision_without_a_window():
    id_a, id_b, returning = _misleading_return(0.0)
    assert id_a != id_b and id_a not in returning and returning[-1] == id_b


def test_a_wrong_entry_decision_is_corrected_inside_the_window():
    id_a, id_b, returning = _misleading_return(3.0)
    assert set(returning) == {id_a}  # corrected before any of the visit's frames left


def test_a_wrong_entry_decision_stays_in_the_frames_that_left_before_the_correction():
    id_a, id_b, returning = _misleading_return(0.5)
    first_a = returning.index(id_a)
    assert id_b in returning[:first_a]  # emitted wrong, and never changed
    assert set(returning[first_a:]) == {id_a}  # corrected from the window on, for good


def test_window_refinement_never_joins_people_present_at_once():
    assoc = ASSOCIATORS.build("global", {"latency_seconds": 2.0, "refine": {"threshold": -1.0}},
                              scene=one_room(1), has_reid=True)
    seen: dict[tuple[int, int], int] = {}
    for f in range(1, 80):  # twins, side by side, far apart on the ground
        for box in step(assoc, f, [[(1, 1.0, 1.0), (2, 4.0, 4.0)]], [[A, A]])[0]:
            seen[(int(box["frame"]), int(box["id"]))] = seen.get((int(box["frame"]), int(box["id"])), 0) + 1
    assert seen and max(seen.values()) == 1


@pytest.fixture(scope="module")
def stream_scene(tmp_path_factory):
    from conftest import synth_small_scene

    return synth_small_scene(tmp_path_factory.mktemp("stream") / "scene", duration=6, people=4, seed=2)


def test_track_online_writes_exactly_what_the_stream_emitted(stream_scene, tmp_path):
    from mtmc.config import load_config
    from mtmc.io.mot import read_mot
    from mtmc.io.reader import SyncReader
    from mtmc.io.scene import open_input
    from mtmc.pipeline import Pipeline

    overrides = ["detector.name=simulated", "reid.model=oracle", "tracker.name=bytetrack", "output.interpolate_seconds=0",
                 "association.params.latency_seconds=0.5"]
    run = tmp_path / "online"
    assert main(["track", str(stream_scene), "-o", str(run), "--quiet", "--online", *overrides]) == 0
    scene = open_input(stream_scene)
    pipeline = Pipeline(load_config([], overrides), scene)
    latency = pipeline.associator.latency
    assert latency == 8  # 0.5 s at 15 fps
    emitted = [[] for _ in scene.cameras]
    for frames in SyncReader(scene, decode=False):
        for cam, boxes in enumerate(pipeline.step(frames)):
            assert np.all(boxes["frame"] == frames.frame - latency)
            emitted[cam].append(boxes)
    for cam, boxes in enumerate(pipeline.finish()):
        emitted[cam].append(boxes)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["online"] is True and summary["latency_frames"] == latency
    for cam, name in enumerate(summary["cameras"]):
        written = read_mot(run / "tracks" / f"{name}.txt")
        expected = np.concatenate(emitted[cam])
        key = np.lexsort((expected["id"], expected["frame"]))
        assert np.array_equal(written["frame"], expected["frame"][key])
        assert np.array_equal(written["id"], expected["id"][key])


def test_a_window_join_of_overlapping_visits_never_puts_one_id_on_two_boxes():
    """Track 1 (A) overlaps the start of track 2 (also A) for 6 frames in one camera: the window joins
    the visits (impure ends tolerated), and in the overlapping frames only one box carries the id."""
    params = {"latency_seconds": 2.0, "refine": {"threshold": 0.6, "max_overlap": 0.35}}
    assoc = ASSOCIATORS.build("global", params, scene=one_room(1), has_reid=True)
    emitted = []
    for f in range(1, 121):
        people = ([(1, 1.0, 1.0)] if f <= 60 else []) + ([(2, 4.0, 4.0)] if f >= 55 else [])
        emitted += list(step(assoc, f, [people], [[A] * len(people)])[0])
    emitted += list(assoc.flush()[0])
    pairs = [(int(b["frame"]), int(b["id"])) for b in emitted]
    assert len(set(pairs)) == len(pairs)  # no id twice in a frame
    only_first = {i for f, i in pairs if f < 55}  # frames with track 1 alone...
    only_second = {i for f, i in pairs if f > 61}  # ...and with track 2 alone
    assert only_first == only_second and len(only_first) == 1  # one person across the two visits
