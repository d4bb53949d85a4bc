"""OC-SORT's own mechanisms (OCM, OCR, ORU, BYTE) on hand-built scenes, and fidelity to the reference."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import shared_path
from tracker_scenes import (
    frame_boxes,
    ids_per_person,
    keeps_ids,
    occluded_walk,
    run,
    turn_back_crossing,
    walk_stop_scene,
)

from mtmc.boxes import concat, xyxy
from trackers import TRACKERS
from trackers.kalman import xyxy_to_xysr

FPS = 25.0
PLAIN_SORT = {"max_age": 1.0}  # SORT with OC-SORT's buffer: the difference is OC-SORT's fixes alone


def test_ocm_direction_resolves_a_crossing():
    frames = turn_back_crossing()
    assert keeps_ids(frames, run(TRACKERS.build("ocsort", {}, frame_rate=FPS), frames))
    assert not keeps_ids(frames, run(TRACKERS.build("sort", PLAIN_SORT, frame_rate=FPS), frames))


def test_ocr_recovers_a_person_who_stopped_while_hidden():
    """The coasting prediction walks on while the person stood still: only the last observation overlaps."""
    frames = walk_stop_scene()
    assert ids_per_person(frames, run(TRACKERS.build("ocsort", {}, frame_rate=FPS), frames)) == {1: {1}}
    assert len(ids_per_person(frames, run(TRACKERS.build("sort", PLAIN_SORT, frame_rate=FPS), frames))[1]) == 2


def test_oru_replays_the_occlusion_as_observed_along_a_straight_line():
    """After the re-association the filter is the one that would have seen the person on the straight line
    between the two observations (here: standing still), updated once more with the new box (reference)."""
    walk, gap = 15, 6
    frames = walk_stop_scene(walk=walk, gap=gap)
    tracker = TRACKERS.build("ocsort", {}, frame_rate=FPS)
    run(tracker, frames[: walk + gap + 1])
    filled = [frame_boxes(f + 1, [(1, *frames[walk - 1][["x", "y"]][0])]) if not len(b) else b
              for f, b in enumerate(frames[: walk + gap + 1])]
    twin = TRACKERS.build("ocsort", {}, frame_rate=FPS)
    run(twin, filled)
    expected = copy.deepcopy(twin.tracks[0].kf.kf)
    expected.update(xyxy_to_xysr(xyxy(frames[walk + gap])[0]).reshape(4, 1))  # the reappearance box, again
    got = tracker.tracks[0].kf.kf
    assert tracker.tracks[0].id == 1 and tracker.tracks[0].time_since_update == 0
    np.testing.assert_allclose(got.x, expected.x, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.P, expected.P, rtol=1e-9, atol=1e-9)


def test_byte_option_continues_tracks_on_low_score_detections():
    frames = occluded_walk(low_score=0.4)
    with_byte = run(TRACKERS.build("ocsort", {"use_byte": True}, frame_rate=FPS), frames)
    without = run(TRACKERS.build("ocsort", {}, frame_rate=FPS), frames)
    low = (11 <= with_byte["frame"]) & (with_byte["frame"] <= 18)
    assert low.sum() == 8 and set(with_byte["id"].tolist()) == {1}
    assert not ((11 <= without["frame"]) & (without["frame"] <= 18)).any()


def test_output_is_the_filtered_box_or_the_last_detection():
    frames = [frame_boxes(f, [(1, 100.0 + 10 * f + (3 if f % 2 else -3), 100.0)]) for f in range(1, 11)]
    dets = concat(frames)
    raw = run(TRACKERS.build("ocsort", {"output_filtered": False}, frame_rate=FPS), frames)
    filtered = run(TRACKERS.build("ocsort", {}, frame_rate=FPS), frames)
    np.testing.assert_allclose(xyxy(raw), xyxy(dets))  # every frame output (first frames too) as detected
    assert np.abs(xyxy(filtered) - xyxy(dets)).max() > 0.5  # the Kalman estimate smooths the zig-zag


@pytest.mark.parametrize(("seq", "mota", "idf1"), [("TUD-Stadtmitte", 69.55, 73.89), ("TUD-Campus", 58.77, 69.24)])
def test_reference_settings_reproduce_the_reference_implementation(seq, mota, idf1):
    """noahcao/OC_SORT (det_thresh 0.6, max_age 30 frames, delta_t 3 frames, last-detection output) on
    the MOT15 public detections: the numbers of docs/benchmarks.md's reference rows."""
    from eval.mot import evaluate
    from mtmc.io.mot import iter_frames, read_mot

    folder = shared_path("data", "mot15", "train", seq)
    dets = read_mot(folder / "det" / "det.txt", kind="det")
    gt = read_mot(folder / "gt" / "gt.txt", kind="gt")
    params = {"max_age": 30 / FPS, "delta_t": 3 / FPS, "output_filtered": False}
    tracker = TRACKERS.build("ocsort", params, frame_rate=FPS)
    n = int(max(dets["frame"].max(), gt["frame"].max()))
    tracks = concat([tracker.update(b) for _, b in iter_frames(dets, 1, n)])
    row = evaluate({seq: gt}, {seq: tracks}, hota=False).rows[seq]
    assert row["MOTA"] == pytest.approx(mota, abs=0.01) and row["IDF1"] == pytest.approx(idf1, abs=0.01)
