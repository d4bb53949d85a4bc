"""MOTChallenge files, seqinfo.ini and the global multi-camera file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path

from mtmc.boxes import make_boxes
from mtmc.errors import DataError
from mtmc.io import (
    group_by_frame,
    iter_frames,
    read_global,
    read_mot,
    read_seqinfo,
    write_global,
    write_mot,
    write_summary,
)

MOT17_GT = """\
1,1,10,20,30,60,1,1,0.9
1,2,50,20,30,60,0,1,1.0
1,3,90,20,30,60,1,7,0.5
2,1,12,20,30,60,1,1,0.25
2,4,200,20,30,60,1,2,1.0
"""

MOT15_GT = """\
1,1,10,20,30,60,1,-1,-1,-1
1,2,50,20,30,60,0,-1,-1,-1
2,1,12,20,30,60,1,3.5,-2.0,0
"""


def _write(tmp_path, text, name="gt.txt"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ---- malformed input is reported as file:line ------------------------------------------------


@pytest.mark.parametrize(
    ("line3", "needle"),
    [
        ("3,1,10,20,30", "found 5 columns, expected 10"),
        ("3,1,10,abc,30,60,1,-1,-1,-1", "non-numeric value 'abc'"),
        ("3,1,10,20,0,60,1,-1,-1,-1", "width and height must be > 0"),
        ("3,1,10,20,30,-5,1,-1,-1,-1", "width and height must be > 0"),
        ("0,1,10,20,30,60,1,-1,-1,-1", "frame must be an integer >= 1"),
        ("2.5,1,10,20,30,60,1,-1,-1,-1", "frame must be an integer >= 1"),
        ("3,1,nan,20,30,60,1,-1,-1,-1", "non-finite"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, line3, needle):
    good = "1,1,10,20,30,60,1,-1,-1,-1\n\n2,1,10,20,30,60,1,-1,-1,-1\n"  # line 2 is blank: still counted
    path = _write(tmp_path, good + line3 + "\n")
    with pytest.raises(DataError) as info:
        read_mot(path, kind="result")
    assert str(info.value).startswith(f"{path}:4: ")
    assert needle in str(info.value)


def test_unknown_column_count_lists_layouts(tmp_path):
    path = _write(tmp_path, "1,2,3,4,5\n")
    with pytest.raises(DataError, match=r":1: found 5 columns, expected one of: 6 .*9 .*MOT17 gt"):
        read_mot(path, kind="gt")


def test_empty_and_missing_files(tmp_path):
    assert len(read_mot(_write(tmp_path, ""), kind="gt")) == 0
    assert len(read_mot(_write(tmp_path, "\n# only a comment\n\n", "c.txt"), kind="det")) == 0
    with pytest.raises(DataError, match="det file not found"):
        read_mot(tmp_path / "nope.txt", kind="det")


# ---- formats --------------------------------------------------------------------------------


def test_mot17_gt_filtering(tmp_path):
    path = _write(tmp_path, MOT17_GT)
    gt = read_mot(path, kind="gt")
    assert gt["id"].tolist() == [1, 1]  # inactive id 2, class 7 (id 3) and class 2 (id 4) dropped
    assert gt["frame"].tolist() == [1, 2]
    assert gt["cls"].tolist() == [1, 1]
    np.testing.assert_allclose(gt["vis"], [0.9, 0.25])
    raw = read_mot(path, kind="gt", filter_gt=False)
    assert len(raw) == 5
    assert raw["cls"].tolist() == [1, 1, 7, 1, 2]
    assert raw["score"].tolist() == [1, 0, 1, 1, 1]  # the active flag is kept for the evaluation


def test_mot17_real_gt_and_det():
    seq = shared_path("data", "mot17_mini", "train", "MOT17-04-FRCNN")
    table = np.loadtxt(seq / "gt" / "gt.txt", delimiter=",", ndmin=2)
    expected = table[(table[:, 6] == 1) & (table[:, 7] == 1)]
    gt = read_mot(seq / "gt" / "gt.txt", kind="gt")
    assert 0 < len(gt) < len(table)
    assert len(gt) == len(expected)
    assert set(gt["cls"].tolist()) == {1} and (gt["score"] == 1).all()
    np.testing.assert_allclose(np.sort(gt["vis"]), np.sort(expected[:, 8]), rtol=1e-6)
    det = read_mot(seq / "det" / "det.txt", kind="det")  # MOT17 public detections have 7 columns
    raw = np.loadtxt(seq / "det" / "det.txt", delimiter=",", ndmin=2)
    assert len(det) == len(raw)
    np.testing.assert_allclose(det["score"], raw[:, 6], rtol=1e-6)
    assert (det["id"] == -1).all()


def test_mot15_gt_det_and_world(tmp_path):
    gt = read_mot(_write(tmp_path, MOT15_GT), kind="gt")
    assert gt["id"].tolist() == [1, 1]  # conf 0 row dropped
    assert (gt["cls"] == -1).all()
    assert np.isnan(gt["gx"][0]) and gt["gx"][1] == 3.5 and gt["gy"][1] == -2.0
    det = read_mot(_write(tmp_path, "1,-1,281.9,187.4,79.9,209.5,0.9977,-1,-1,-1\n", "det.txt"), kind="det")
    assert det["score"][0] == pytest.approx(0.9977)
    seq = shared_path("data", "mot15", "train", "TUD-Campus")
    real = read_mot(seq / "gt" / "gt.txt", kind="gt")
    assert len(real) == len(np.loadtxt(seq / "gt" / "gt.txt", delimiter=","))


def test_whitespace_separated_and_six_columns(tmp_path):
    boxes = read_mot(_write(tmp_path, "1 3 10.5 20 30 60\n2\t3  11 20 30 60\n"), kind="result")
    assert boxes["frame"].tolist() == [1, 2] and boxes["id"].tolist() == [3, 3]
    assert boxes["x"][0] == 10.5 and (boxes["score"] == 1).all()


def test_write_read_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    boxes = make_boxes(40)
    boxes["frame"] = rng.integers(1, 10, 40)
    boxes["id"] = rng.integers(1, 6, 40)
    boxes["x"], boxes["y"] = rng.uniform(-5, 600, 40), rng.uniform(0, 400, 40)
    boxes["w"], boxes["h"] = rng.uniform(1, 80, 40), rng.uniform(1, 200, 40)
    boxes["score"] = rng.uniform(0, 1, 40)
    path = tmp_path / "out" / "cam.txt"
    write_mot(path, boxes)
    assert [p.name for p in path.parent.iterdir()] == ["cam.txt"]  # no temporary file left behind
    back = read_mot(path, kind="result")
    order = np.lexsort((boxes["id"], boxes["frame"]))
    assert (np.diff(back["frame"]) >= 0).all()
    for field in ("frame", "id"):
        assert back[field].tolist() == boxes[order][field].tolist()
    for field in ("x", "y", "w", "h"):
        np.testing.assert_allclose(back[field], boxes[order][field], atol=1e-3)
    np.testing.assert_allclose(back["score"], boxes[order]["score"], rtol=1e-4)
    assert path.read_text().splitlines()[0].endswith(",-1,-1,-1")
    write_mot(tmp_path / "empty.txt", make_boxes(0))
    assert len(read_mot(tmp_path / "empty.txt")) == 0


def test_group_and_iter_frames():
    boxes = make_boxes(5)
    boxes["frame"] = [3, 1, 3, 5, 1]
    boxes["id"] = [0, 1, 2, 3, 4]
    groups = group_by_frame(boxes)
    assert sorted(groups) == [1, 3, 5]
    assert groups[1]["id"].tolist() == [1, 4] and groups[3]["id"].tolist() == [0, 2]
    frames = list(iter_frames(boxes))
    assert [f for f, _ in frames] == [1, 2, 3, 4, 5]
    assert [len(b) for _, b in frames] == [2, 0, 2, 0, 1]
    assert [f for f, _ in iter_frames(boxes, start=2, end=7)] == [2, 3, 4, 5, 6, 7]
    assert group_by_frame(make_boxes(0)) == {}


# ---- seqinfo.ini ------------------------------------------------------------------------------


def test_seqinfo(tmp_path):
    info = read_seqinfo(shared_path("data", "mot15", "train", "TUD-Campus", "seqinfo.ini"))
    assert (info.name, info.frame_rate, info.seq_length, info.image_size) == (
        "TUD-Campus",
        25.0,
        71,
        (640, 480),
    )
    assert (info.im_dir, info.im_ext) == ("img1", ".jpg")
    bad = _write(tmp_path, "[Sequence]\nname=x\nframeRate=fast\n", "seqinfo.ini")
    with pytest.raises(DataError, match=r"seqinfo.ini: \[Sequence\] frameRate: expected a float, got 'fast'"):
        read_seqinfo(bad)
    with pytest.raises(DataError, match="missing the \\[Sequence\\] section"):
        read_seqinfo(_write(tmp_path, "[Other]\na=1\n", "seqinfo.ini"))
    with pytest.raises(DataError, match="seqLength: expected a positive number"):
        read_seqinfo(_write(tmp_path, "[Sequence]\nseqLength=0\n", "seqinfo.ini"))


# ---- global multi-camera file -------------------------------------------------------------------


def test_global_round_trip(tmp_path):
    boxes = make_boxes(4)
    boxes["camera"] = [1, 0, 0, 2]
    boxes["id"] = [7, 7, 3, 9]
    boxes["frame"] = [1, 2, 1, 1]
    boxes["x"], boxes["y"], boxes["w"], boxes["h"] = 10.25, 20.5, 30, 60
    boxes["gx"] = [1.5, np.nan, -0.25, 0]
    boxes["gy"] = [2.5, np.nan, 4.0, 0]
    path = tmp_path / "global.txt"
    write_global(path, boxes)
    lines = path.read_text().splitlines()
    assert lines[0] == "1 3 1 10.250 20.500 30.000 60.000 -0.2500 4.0000"  # camera 0 -> camera_id 1
    assert lines[1].split()[-2:] == ["-1.0000", "-1.0000"]  # unknown ground point
    back = read_global(path)
    order = np.lexsort((boxes["id"], boxes["frame"], boxes["camera"]))
    ref = boxes[order]
    for field in ("camera", "id", "frame"):
        assert back[field].tolist() == ref[field].tolist()
    np.testing.assert_allclose(back["x"], ref["x"])
    np.testing.assert_allclose(back["gx"], ref["gx"])  # nan round-trips through -1 -1
    np.testing.assert_allclose(back["gy"], ref["gy"])
    bad = _write(tmp_path, lines[0] + "\n0 1 1 1 1 1 1 -1 -1\n", "bad.txt")
    with pytest.raises(DataError, match=r"bad.txt:2: camera_id and frame are 1-based"):
        read_global(bad)
    with pytest.raises(DataError, match=r"short.txt:1: found 7 columns"):
        read_global(_write(tmp_path, "1 1 1 1 1 1 1\n", "short.txt"))
    with pytest.raises(DataError, match="not found"):
        read_global(tmp_path / "missing.txt")


def test_write_summary(tmp_path):
    path = tmp_path / "run" / "summary.json"
    write_summary(path, {"fps": np.float32(12.5), "frames": np.int64(3), "cams": ["a"], "out": tmp_path})
    data = json.loads(path.read_text())
    assert data == {"fps": 12.5, "frames": 3, "cams": ["a"], "out": str(tmp_path)}


def test_files_are_parsed_and_written_in_chunks(tmp_path, monkeypatch):
    """Chunked parsing and writing (bounded memory) give the same boxes and the same line numbers."""
    import mtmc.io.mot

    boxes = make_boxes(11)
    boxes["frame"], boxes["id"], boxes["camera"] = np.arange(11) // 2 + 1, np.arange(11) % 2 + 1, np.arange(11) % 3
    boxes["x"], boxes["y"], boxes["w"], boxes["h"] = np.arange(11) * 1.5, 2.0, 3.0, 4.0
    boxes["gx"] = boxes["gy"] = np.where(np.arange(11) % 4 == 0, np.nan, 1.25)
    write_mot(tmp_path / "whole.txt", boxes)
    write_global(tmp_path / "whole_global.txt", boxes)
    monkeypatch.setattr(mtmc.io.mot, "_CHUNK_LINES", 3)
    write_mot(tmp_path / "chunked.txt", boxes)
    assert (tmp_path / "chunked.txt").read_text() == (tmp_path / "whole.txt").read_text()
    per_camera = [boxes[boxes["camera"] == c] for c in (2, 0, 1)]  # as the pipeline holds them, any order
    write_global(tmp_path / "per_camera.txt", per_camera)
    assert (tmp_path / "per_camera.txt").read_text() == (tmp_path / "whole_global.txt").read_text()
    back = read_mot(tmp_path / "chunked.txt")
    assert back["x"].tolist() == sorted(boxes["x"].tolist()) and len(back) == 11
    lines = (tmp_path / "chunked.txt").read_text().splitlines()
    lines[7] = lines[7].replace(",2.000,", ",two,")
    (tmp_path / "bad.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"bad.txt:8: non-numeric value 'two'"):
        read_mot(tmp_path / "bad.txt")
