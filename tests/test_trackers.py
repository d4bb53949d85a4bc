"""Per-camera trackers: matching primitives, SORT fidelity, identity keeping, frame-rate awareness."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path
from scipy.optimize import linear_sum_assignment
from tracker_scenes import frame_boxes, ids_per_person, keeps_ids, reappear_scene, run

from mtmc.boxes import BOX_DTYPE, concat, xyxy
from mtmc.config import load_yaml
from mtmc.errors import ConfigError, MtmcError
from trackers import TRACKERS
from trackers.matching import cosine_distance, fuse_score, gate, iou_matrix, linear_assignment

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["sort", "bytetrack", "ocsort", "botsort"]


# ------------------------------------------------------------------------------------------------
# matching primitives
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 8), (8, 5), (1, 4), (6, 6)])
def test_lapjv_agrees_with_scipy(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(5):
        cost = rng.random(shape)
        m, ur, uc = linear_assignment(cost)
        r, c = linear_sum_assignment(cost)
        assert len(m) == min(shape)
        assert cost[m[:, 0], m[:, 1]].sum() == pytest.approx(cost[r, c].sum())
        assert len(ur) == shape[0] - len(m) and len(uc) == shape[1] - len(m)


def test_threshold_and_gate():
    cost = np.array([[0.1, 0.9], [0.8, 0.95], [0.2, 0.3]])
    m, ur, uc = linear_assignment(cost, thresh=0.5)
    assert {tuple(x) for x in m} == {(0, 0), (2, 1)}
    assert ur.tolist() == [1] and uc.tolist() == []
    gated = gate(cost, np.array([[False, True], [True, True], [True, True]]))
    m, _, _ = linear_assignment(gated, thresh=0.5)
    assert {tuple(x) for x in m} == {(2, 0)}  # (0, 0) is forbidden; (2, 1) would cost more in total
    m, ur, uc = linear_assignment(np.zeros((0, 3)), thresh=0.5)
    assert m.shape == (0, 2) and uc.tolist() == [0, 1, 2]


def test_iou_cosine_fuse():
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [100, 100, 110, 110]], float)
    iou = iou_matrix(a, b)
    assert iou[0].tolist() == pytest.approx([1.0, 50 / 150, 0.0])
    assert iou[1].tolist() == pytest.approx([0.0, 0.0, 0.0])
    d = cosine_distance(np.array([[1.0, 0], [0, 2.0]]), np.array([[3.0, 0], [1.0, 1.0]]))
    assert d.ravel().tolist() == pytest.approx([0.0, 1 - 2**-0.5, 1.0, 1 - 2**-0.5])
    assert fuse_score(np.array([[0.2]]), np.array([0.5]))[0, 0] == pytest.approx(0.6)


# ------------------------------------------------------------------------------------------------
# synthetic scenes
# ------------------------------------------------------------------------------------------------


def crossing_scene(gap: int) -> list[np.ndarray]:
    """Two people cross (boxes overlap at IoU ~0.5), then person 1 is missed for ``gap`` frames."""
    frames = []
    for f in range(1, 61):
        people = [(1, 8.0 * f, 100.0), (2, 480 - 8.0 * f, 130.0)]
        if 40 <= f < 40 + gap:
            people = people[1:]
        frames.append(frame_boxes(f, people))
    return frames


@pytest.mark.parametrize("name", NAMES)
def test_ids_kept_through_crossing_and_occlusion(name):
    gap = 1 if name == "sort" else 5  # SORT's reference max_age is one frame
    frames = crossing_scene(gap)
    tracks = run(TRACKERS.build(name, {}, frame_rate=25.0), frames)
    seen = ids_per_person(frames, tracks)
    assert len(seen[1]) == 1 and len(seen[2]) == 1, seen
    assert seen[1] != seen[2]
    assert tracks["id"].min() >= 1


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("fps", [15.0, 30.0])
def test_buffers_are_in_seconds(name, fps):
    # buffers of 1 s (the defaults; SORT's set so): a standing person unseen for 0.6 s keeps the id, for
    # 1.6 s does not, at any fps -- max_age / track_buffer mean seconds in every tracker
    for gap_s, expected in ((0.6, 1), (1.6, 2)):
        frames, _ = reappear_scene(fps=fps, gap_s=gap_s, turn_back=False, speed=0.0)
        frames = [f[f["cls"] == 1] if len(f[f["cls"] == 1]) else f[:0] for f in frames]
        for i, f in enumerate(frames):
            if not len(f):
                frames[i] = frame_boxes(i + 1, [])
        params = {"botsort": {"motion_only": True}, "sort": {"max_age": 1.0}}.get(name, {})
        seen = ids_per_person(frames, run(TRACKERS.build(name, params, frame_rate=fps), frames))
        assert len(seen[1]) == expected, (gap_s, seen)


@pytest.mark.parametrize("name", NAMES)
def test_predicted_frames_keep_ids_and_output_moving_boxes(name):
    """The detection schedule: detections on every 3rd frame only, ``predict()`` (Kalman) in between."""
    frames = [frame_boxes(f, [(1, 100.0 + 4.0 * f, 100.0), (2, 500.0 - 4.0 * f, 130.0)]) for f in range(1, 91)]
    tracker = TRACKERS.build(name, {}, frame_rate=15.0)
    out = [tracker.update(dets) if f % 3 == 1 else tracker.predict() for f, dets in enumerate(frames, 1)]
    assert [int(o["frame"][0]) for o in out if len(o)] == [f for f, o in enumerate(out, 1) if len(o)]
    assert keeps_ids(frames, concat(out))  # through the crossing (frames 40-60), one id per person
    for f in range(20, 91):  # confirmed tracks: every predicted frame shows both people where they are
        if f % 3 != 1:
            assert len(out[f - 1]) == 2, f
            iou = iou_matrix(xyxy(frames[f - 1]), xyxy(out[f - 1]))
            assert iou.max(axis=1).min() > 0.7, (f, iou)


# ------------------------------------------------------------------------------------------------
# SORT fidelity
# ------------------------------------------------------------------------------------------------


def test_sort_min_hits_output_rule():
    tracker = TRACKERS.build("sort", {}, frame_rate=30.0)
    out = []
    for f in range(1, 13):
        people = [(1, 10.0, 10.0)]
        if f >= 5 and f != 10:
            people.append((2, 300.0, 10.0))
        out.append(tracker.update(frame_boxes(f, people)))
    got = [sorted(o["id"].tolist()) for o in out]
    # frames 1-3: everything is output (frame_count <= min_hits); person 2 (id 2) is born at frame 5,
    # is output from its 3rd consecutive hit (frame 8), is missed at frame 10 and needs 3 new hits
    assert got == [[1], [1], [1], [1], [1], [1], [1], [1, 2], [1, 2], [1], [1], [1]]
    out13 = tracker.update(frame_boxes(13, [(1, 10.0, 10.0), (2, 300.0, 10.0)]))
    assert out13["id"].tolist() == [1, 2]
    assert out13["x"][0] == pytest.approx(10.0) and out13["w"][0] == pytest.approx(40.0)


def test_sort_reproduces_reference_mota_on_tud_campus():
    from eval.mot import evaluate
    from mtmc.io.mot import iter_frames, read_mot

    seq = shared_path("data", "mot15", "train", "TUD-Campus")
    dets = read_mot(seq / "det" / "det.txt", kind="det")
    gt = read_mot(seq / "gt" / "gt.txt", kind="gt")
    tracker = TRACKERS.build("sort", {}, frame_rate=25.0)
    tracks = concat([tracker.update(b) if len(b) else tracker.update(b) for _, b in iter_frames(dets, 1, 71)])
    report = evaluate({"TUD-Campus": gt}, {"TUD-Campus": tracks}, hota=False)
    assert report.rows["TUD-Campus"]["MOTA"] == pytest.approx(62.7, abs=0.5)
    assert report.rows["TUD-Campus"]["IDF1"] == pytest.approx(60.6, abs=0.5)


# ------------------------------------------------------------------------------------------------
# configuration and input checks
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_yaml_defaults_match_dataclass(name):
    path = ROOT / "configs" / "trackers" / f"{name}.yaml"
    assert "in SECONDS" in path.read_text()  # each config says the unit of its durations
    cfg = load_yaml(path)["tracker"]
    assert cfg["name"] == name
    defaults = {f.name: f.default for f in dataclasses.fields(TRACKERS.entry(name).params)}
    assert cfg["params"] == defaults
    assert name in TRACKERS.names()


def test_bad_params_and_inputs():
    with pytest.raises(ConfigError, match="params.track_buffer"):
        TRACKERS.parse_params("bytetrack", {"track_buffer": -1.0})
    with pytest.raises(ConfigError, match="unknown key"):
        TRACKERS.parse_params("sort", {"max_agee": 3})
    with pytest.raises(ConfigError, match="frame_rate"):
        TRACKERS.build("ocsort", {}, frame_rate=0)
    tracker = TRACKERS.build("botsort", {}, frame_rate=30.0)
    dets = frame_boxes(1, [(1, 0.0, 0.0), (2, 100.0, 0.0)])
    with pytest.raises(MtmcError, match="embeddings"):
        tracker.update(dets, embeddings=np.ones((3, 8)))
    with pytest.raises(MtmcError, match="BOX_DTYPE"):
        tracker.update(np.zeros((2, 4)))
    empty = tracker.update(frame_boxes(2, []))
    assert len(empty) == 0 and empty.dtype == BOX_DTYPE
