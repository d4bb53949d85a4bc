"""Ground-plane metrics on a hand-made case whose values are worked out by hand below."""

from __future__ import annotations

import numpy as np
import pytest

from eval.ground import evaluate_ground, ground_points, row_name
from mtmc.boxes import make_boxes
from mtmc.errors import ConfigError, DataError


def points(rows):
    out = make_boxes(len(rows))
    for k, (frame, ident, x, y) in enumerate(rows):
        out["frame"][k], out["id"][k], out["gx"][k], out["gy"][k] = frame, ident, x, y
    return out


# Person A walks from (0, 0) to (0, 1), B from (5, 0) to (5, 1).
GT = points([(1, 10, 0.0, 0.0), (1, 20, 5.0, 0.0), (2, 10, 0.0, 1.0), (2, 20, 5.0, 1.0)])
# Frame 1: track 1 on A (0.3 m off), track 2 on B (0.8 m off), track 3 nowhere near anybody.
# Frame 2: the tracks swapped people: 1 on B (0.2 m off), 2 on A (0.4 m off).
PRED = points([(1, 1, 0.3, 0.0), (1, 2, 5.0, 0.8), (1, 3, 10.0, 10.0), (2, 1, 5.0, 1.2), (2, 2, 0.0, 1.4)])


def test_hand_made_case():
    rows = evaluate_ground(GT, PRED, thresholds=(0.5, 1.0), hota=False).rows
    half, one = rows[row_name(0.5)], rows[row_name(1.0)]
    # 0.5 m: frame 1 matches A-1 only (B-2 is 0.8 m apart): FN 1, FP 2; frame 2 matches both.
    # MODA = 1 - (FP + FN) / GT = 1 - 3/4; MODP = mean(1 - d/0.5) = (0.4 + 0.6 + 0.2) / 3.
    assert half["MODA"] == pytest.approx(25.0)
    assert half["MODP"] == pytest.approx(40.0)
    assert (half["FP"], half["FN"]) == (2, 1)
    # 1 m: every person is matched in both frames, only track 3 is a false positive.
    # MODA = 1 - 1/4; MODP = (0.7 + 0.2 + 0.8 + 0.6) / 4.
    assert one["MODA"] == pytest.approx(75.0)
    assert one["MODP"] == pytest.approx(57.5)
    # MOTA counts the swap: 2 identity switches in frame 2 -> 1 - (0 FN + 1 FP + 2 IDsw) / 4.
    assert one["IDsw"] == 2
    assert one["MOTA"] == pytest.approx(25.0)
    # IDF1: the best one-to-one id mapping keeps 2 of the 4 matches: 2 * 2 / (4 gt + 5 predicted).
    assert one["IDF1"] == pytest.approx(100 * 4 / 9)
    assert half["IDF1"] == pytest.approx(100 * 4 / 9)


def test_hota_on_ground_positions():
    pytest.importorskip("trackeval")
    perfect = evaluate_ground(GT, GT, thresholds=(1.0,)).rows[row_name(1.0)]
    assert perfect["HOTA"] == pytest.approx(100.0) and perfect["MODA"] == pytest.approx(100.0)
    worse = evaluate_ground(GT, PRED, thresholds=(1.0,)).rows[row_name(1.0)]
    assert 0 < worse["HOTA"] < 100


def test_ground_points_fuse_cameras_by_median():
    boxes = make_boxes(5)
    boxes["frame"], boxes["id"] = [1, 1, 1, 1, 2], [7, 7, 7, 7, 7]
    boxes["gx"] = [0.0, 1.0, 5.0, np.nan, 2.0]
    boxes["gy"] = [0.0, 2.0, 2.0, np.nan, 3.0]
    fused = ground_points(boxes)
    assert fused["frame"].tolist() == [1, 2]
    assert fused["gx"].tolist() == [1.0, 2.0] and fused["gy"].tolist() == [2.0, 3.0]


def test_bad_input():
    with pytest.raises(ConfigError, match="threshold"):
        evaluate_ground(GT, PRED, thresholds=(0.0,))
    with pytest.raises(DataError, match="two ground points"):
        evaluate_ground(GT, points([(1, 1, 0, 0), (1, 1, 1, 1)]))
