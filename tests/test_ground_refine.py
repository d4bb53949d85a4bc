"""The offline cut-and-relink stage of the ``ground`` association (mtmc/association/ground_refine.py)."""

from __future__ import annotations

import numpy as np
import pytest

from mtmc.association.ground_refine import GroundRefineParams, PieceLabels
from mtmc.config import load_config
from mtmc.errors import ConfigError

FPS = 2.0


def track(frames, start, velocity):
    """History of one online track: frames, positions on a straight line, the filter's velocity."""
    frames = np.asarray(frames, dtype=np.int64)
    t = (frames - frames[0])[:, None] / FPS
    pos = np.asarray(start, float) + t * np.asarray(velocity, float)
    return frames, pos, np.repeat(np.asarray(velocity, float)[None], len(frames), axis=0)


def test_a_swap_at_a_crossing_is_undone_by_motion_continuity():
    # A walks +x along y=0, B walks -x along y=0.3; they meet at frame 5 and the online tracks swapped
    # there: track 1 is A until frame 5 and B after, track 2 the other way round.
    a, b = track(range(1, 11), (-2.0, 0.0), (1.0, 0.0)), track(range(1, 11), (2.0, 0.3), (-1.0, 0.0))
    swapped = {1: (a[0], np.r_[a[1][:5], b[1][5:]], np.r_[a[2][:5], b[2][5:]]),
               2: (b[0], np.r_[b[1][:5], a[1][5:]], np.r_[b[2][:5], a[2][5:]])}
    labels = PieceLabels(swapped, FPS, GroundRefineParams(enabled=True))
    person_a = {labels.label(1, f) for f in range(1, 5)} | {labels.label(2, f) for f in range(7, 11)}
    person_b = {labels.label(2, f) for f in range(1, 5)} | {labels.label(1, f) for f in range(7, 11)}
    assert len(person_a) == 1 and len(person_b) == 1 and person_a != person_b


def test_a_fragment_after_a_miss_is_stitched_and_a_stranger_is_not():
    first = track(range(1, 6), (0.0, 0.0), (1.0, 0.0))  # lost after frame 5 ...
    later = track(range(8, 12), (3.5, 0.0), (1.0, 0.0))  # ... and reborn where the motion puts it
    stranger = track(range(8, 12), (3.5, 4.0), (1.0, 0.0))  # somebody else entering at the same time
    labels = PieceLabels({1: first, 2: later, 3: stranger}, FPS, GroundRefineParams(enabled=True))
    assert labels.label(1, 3) == labels.label(2, 10)
    assert labels.label(3, 10) != labels.label(1, 3)
    assert labels.label(7, 3) == -1  # an unknown track


def test_refine_params_are_read_and_validated():
    cfg = load_config([], ["association.name=ground", "association.params.refine.enabled=true"])
    assert cfg.association.params["refine"]["enabled"] is True
    with pytest.raises(ConfigError, match="cut_distance"):
        load_config([], ["association.name=ground", "association.params.refine.cut_distance=0"])
