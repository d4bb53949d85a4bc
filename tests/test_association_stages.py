"""One rule per association stage, each with a case that holds only while the rule is there."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from test_association import FPS, boxes, scene, step, unit  # noqa: E402

from mtmc.association import ASSOCIATORS  # noqa: E402
from mtmc.association.params import GlobalParams  # noqa: E402
from mtmc.config import to_dict  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
A, B = unit([1, 0.1, 0, 0]), unit([0, 1, 0.1, 0])


def test_association_yaml_lists_every_parameter_with_its_default():
    listed = yaml.safe_load((ROOT / "configs" / "association" / "global.yaml").read_text())
    assert listed["association"]["params"] == to_dict(GlobalParams())


# -- scheduling -------------------------------------------------------------------------------------

def test_a_refresh_is_requested_after_refresh_seconds_and_not_before():
    assoc = ASSOCIATORS.build("global", {"scheduling": {"refresh_seconds": 0.5}}, scene=scene(1), has_reid=True)
    asked = []
    for f in range(1, 60):
        if assoc.wants_embeddings(0, boxes(f, 0, [(1, 2.0, 2.0)]))[0]:
            asked.append(f)
        step(assoc, f, [[(1, 2.0, 2.0)]], [[A]])
    resolved_at = next(f for f in asked[1:] if f - asked[asked.index(f) - 1] > 1)  # first refresh gap
    gaps = np.diff([f for f in asked if f >= resolved_at])
    assert len(gaps) >= 5 and np.all(gaps == int(0.5 * FPS))  # exactly every refresh period: no sooner, no later


# -- entries ----------------------------------------------------------------------------------------

def _broken_track(gap_frames: int, where: tuple[float, float]):
    """Without ReID: A walks to (2, 2), is lost for ``gap_frames``, a new tracklet appears at ``where``."""
    assoc = ASSOCIATORS.build("global", {}, scene=scene(1), has_reid=False)
    f = 0
    for k in range(30):
        f += 1
        first = step(assoc, f, [[(1, 1.0 + k / 30, 2.0)]])
    f += gap_frames
    for _ in range(30):
        f += 1
        out = step(assoc, f, [[(2, *where)]])
    return int(first[0]["id"][0]), int(out[0]["id"][0])


def test_a_person_lost_a_moment_ago_nearby_is_continued_without_reid():
    old, new = _broken_track(10, (2.3, 2.0))
    assert new == old


def test_a_new_tracklet_far_away_or_much_later_is_somebody_new_without_reid():
    old, far = _broken_track(10, (5.0, 5.0))
    assert far != old
    old, late = _broken_track(int(3.0 * FPS), (2.1, 2.0))  # beyond reconnect_seconds
    assert late != old


def test_a_look_alike_never_takes_the_id_of_somebody_present_at_once():
    """Twins with one embedding: together in one camera, or one in each camera far apart on the ground."""
    assoc = ASSOCIATORS.build("global", {}, scene=scene(2), has_reid=True)
    for f in range(1, 60):
        together = step(assoc, f, [[(1, 1.0, 1.0), (2, 1.6, 1.0)], []], [[A, A], []])
    assert together[0]["id"][0] != together[0]["id"][1]
    assoc = ASSOCIATORS.build("global", {}, scene=scene(2), has_reid=True)
    for f in range(1, 60):
        apart = step(assoc, f, [[(1, 1.0, 1.0)], [(5, 5.0, 5.0)]], [[A], [A]])
    assert apart[0]["id"][0] != apart[1]["id"][0]


def test_a_returning_person_takes_the_old_id_back_by_appearance_only():
    assoc = ASSOCIATORS.build("global", {}, scene=scene(1), has_reid=True)
    f = 0
    for _ in range(30):
        f += 1
        first = step(assoc, f, [[(1, 1.0, 1.0), (2, 4.0, 4.0)]], [[A, B]])
    for _ in range(50):
        f += 1
        step(assoc, f, [[(2, 4.0, 4.0)]], [[B]])
    for _ in range(30):  # A comes back through the door, far from where A was lost, long after
        f += 1
        out = step(assoc, f, [[(2, 4.0, 4.0), (3, 0.2, 0.2)]], [[B, A]])
    assert out[0]["id"][1] == first[0]["id"][0]


# -- fusion -----------------------------------------------------------------------------------------

def _two_views(emb_second_camera):
    assoc = ASSOCIATORS.build("global", {}, scene=scene(2), has_reid=True)
    for f in range(1, 30):
        out = step(assoc, f, [[(1, 2.0, 2.0)], [(7, 2.1, 2.0)]], [[A], [emb_second_camera]])
    return out[0]["id"][0], out[1]["id"][0]


def test_fusion_joins_two_views_of_one_person_and_appearance_vetoes_somebody_else():
    same = _two_views(A)
    assert same[0] == same[1]
    other = _two_views(B)  # stands there, looks like somebody else
    assert other[0] != other[1]


# -- consistency ------------------------------------------------------------------------------------

def test_a_tracklet_that_drifts_away_from_its_identity_is_detached():
    assoc = ASSOCIATORS.build("global", {}, scene=scene(2), has_reid=False)
    f = 0
    for _ in range(20):
        f += 1
        out = step(assoc, f, [[(1, 2.0, 2.0)], [(7, 2.05, 2.0)]])
    assert out[0]["id"][0] == out[1]["id"][0]
    for _ in range(int(assoc.p.consistency.seconds * FPS) + 2):  # camera 1's track jumped to somebody else
        f += 1
        out = step(assoc, f, [[(1, 2.0, 2.0)], [(7, 5.0, 5.0)]])
    assert out[0]["id"][0] != out[1]["id"][0]


# -- the ``none`` association -------------------------------------------------------------------------

def test_per_camera_ids_stay_apart_across_cameras():
    assoc = ASSOCIATORS.build("none", None, scene=scene(2))
    out = assoc.update(1, [boxes(1, 0, [(3, 1.0, 1.0)]), boxes(1, 1, [(3, 1.0, 1.0)])], [None, None])
    assert out[0]["id"][0] != out[1]["id"][0]
