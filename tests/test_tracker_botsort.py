"""BoT-SORT's own mechanisms: IoU fused with appearance, long-gap re-acquisition, the appearance veto."""

from __future__ import annotations

import numpy as np
from tracker_scenes import frame_boxes, ids_per_person, keeps_ids, reappear_scene, run, turn_back_crossing

from trackers import TRACKERS


def person_embeddings(frames: list, seed: int = 0) -> list[np.ndarray]:
    """One direction of an 8-dim space per person, plus a little noise."""
    rng = np.random.default_rng(seed)
    return [np.eye(8)[d["cls"].astype(int) - 1] + 0.05 * rng.standard_normal((len(d), 8)) for d in frames]


def test_appearance_keeps_ids_through_an_iou_ambiguous_crossing():
    """Two people on one line turn back and cross, missed while they overlap: the boxes after the crossing
    overlap both tracks alike, and the motion state still points the old way."""
    frames = turn_back_crossing(speed=6.0, away=10, dy=0.0)
    embs = person_embeddings(frames)
    assert keeps_ids(frames, run(TRACKERS.build("botsort", {}, frame_rate=25.0), frames, embs))
    motion = TRACKERS.build("botsort", {"motion_only": True}, frame_rate=25.0)
    assert not keeps_ids(frames, run(motion, frames, embs))


def test_appearance_reacquires_after_long_gap():
    frames, embs = reappear_scene(fps=25.0, gap_s=3.0, turn_back=True)
    app = ids_per_person(frames, run(TRACKERS.build("botsort", {}, frame_rate=25.0), frames, embs))
    assert len(app[1]) == 1 and app[1] != app[2]
    motion = TRACKERS.build("botsort", {"motion_only": True}, frame_rate=25.0)
    mot = ids_per_person(frames, run(motion, frames, embs))
    assert len(mot[1]) == 2  # a new id after the gap
    no_emb = ids_per_person(frames, run(TRACKERS.build("botsort", {}, frame_rate=25.0), frames))
    assert len(no_emb[1]) == 2  # no embeddings given: motion only


def test_appearance_veto_refuses_a_box_that_shows_somebody_else():
    """Person 1 stands still; at frame 11 person 1 is gone and person 2 is detected almost in the same box."""
    frames = [frame_boxes(f, [(1, 100.0, 100.0)] if f <= 10 else [(2, 108.0, 100.0)]) for f in range(1, 21)]
    embs = [np.eye(16)[[0 if f <= 10 else 1]] for f in range(1, 21)]
    plain = ids_per_person(frames, run(TRACKERS.build("botsort", {}, frame_rate=25.0), frames, embs))
    assert plain[1] == plain[2]  # BoT-SORT's min(IoU, appearance) fusion keeps the id on IoU alone
    veto = TRACKERS.build("botsort", {"appearance_veto": 0.3}, frame_rate=25.0)
    vetoed = ids_per_person(frames, run(veto, frames, embs))
    assert len(vetoed[2]) == 1 and vetoed[1] != vetoed[2]
