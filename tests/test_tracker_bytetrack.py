"""ByteTrack's own mechanisms: low-score second association, duplicate removal, confirmation."""

from __future__ import annotations

from tracker_scenes import frame_boxes, ids_per_person, occluded_walk, run

from trackers import TRACKERS


def test_low_score_detections_continue_the_track():
    frames = occluded_walk()
    tracks = run(TRACKERS.build("bytetrack", {}, frame_rate=25.0), frames)
    during = tracks[(tracks["frame"] >= 11) & (tracks["frame"] <= 18)]
    assert len(during) == 8 and set(during["id"].tolist()) == {1}  # output on every low-score frame
    assert ids_per_person(frames, tracks) == {1: {1}}
    # the low-score boxes alone never start a track
    alone = [frame_boxes(f, [(1, 100.0 + 4 * f, 100.0, 0.3)]) for f in range(1, 11)]
    assert len(run(TRACKERS.build("bytetrack", {}, frame_rate=25.0), alone)) == 0


def test_duplicate_of_a_lost_track_is_removed():
    """A standing person is detected twice (boxes 2 px apart) on frames 11-14, so a second track is born;
    then only the second box is seen. The lost original and the new track are one person: the older id
    stays, the younger track is dropped."""
    frames = []
    for f in range(1, 31):
        people = [(1, 100.0, 100.0)] if f <= 10 else [(1, 102.0, 100.0)]
        if 11 <= f <= 14:
            people = [(1, 100.0, 100.0), (2, 102.0, 100.0)]
        frames.append(frame_boxes(f, people))
    tracks = run(TRACKERS.build("bytetrack", {}, frame_rate=25.0), frames)
    assert set(tracks[tracks["frame"] >= 16]["id"].tolist()) == {1}


def test_a_one_frame_detection_is_not_output():
    frames = [frame_boxes(f, [(1, 100.0, 100.0)] + ([(2, 400.0, 100.0)] if f == 5 else [])) for f in range(1, 11)]
    tracks = run(TRACKERS.build("bytetrack", {}, frame_rate=25.0), frames)
    assert set(tracks["id"].tolist()) == {1}
    # ByteTrack outputs a new track from its first match after birth (min_hits 1), SORT-style from the 3rd
    late = [frame_boxes(f, [(1, 100.0, 100.0)] + ([(2, 400.0, 100.0)] if f >= 5 else [])) for f in range(1, 11)]
    for min_hits, first in ((1, 6), (3, 8)):
        tracks = run(TRACKERS.build("bytetrack", {"min_hits": min_hits}, frame_rate=25.0), late)
        assert tracks[tracks["id"] == 2]["frame"].min() == first
