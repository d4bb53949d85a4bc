"""BoT-SORT's own mechanism: IoU fused with appearance keeps identities where IoU alone cannot."""

from __future__ import annotations

import numpy as np
from tracker_scenes import keeps_ids, run, turn_back_crossing

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
