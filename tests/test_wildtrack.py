"""The WILDTRACK adapter: a scene without frames that `mtmc track` and `mtmc eval` run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, shared_path

from eval.ground import projection_errors
from mtmc.cli.main import main
from mtmc.errors import DataError
from mtmc.io.mot import read_mot
from mtmc.io.scene import open_input
from mtmc.io.wildtrack import VIEWS, import_wildtrack, position_to_ground, visibility

FRAMES = 20


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wildtrack") / "scene"
    assert main(["import", "wildtrack", str(shared_path("data", "wildtrack")), str(out), "--frames", str(FRAMES)]) == 0
    return out


def test_scene_layout_without_frames(scene_dir):
    scene = open_input(scene_dir)
    assert scene.camera_names == list(VIEWS) and scene.warnings == []
    assert scene.fps == 2.0 and scene.num_frames == FRAMES
    assert all(c.kind == "none" and c.image_size == (1920, 1080) for c in scene.cameras)
    assert json.loads((scene_dir / "scene.json").read_text())["source_frames"][:3] == [0, 5, 10]
    world = scene.load_world_gt()
    gt = scene.ground_truth()
    # ids are global: a person of the world gt appears under the same id in several views
    first = int(world["id"][0])
    assert sum(first in boxes["id"] for boxes in gt.values()) >= 2
    assert set(np.unique(np.concatenate([b["id"] for b in gt.values()]))) <= set(world["id"].tolist())
    for name, boxes in gt.items():  # clipped to the image, visibility in [0, 1], detections present
        assert (boxes["x"] >= 0).all() and (boxes["x"] + boxes["w"] <= 1920 + 1e-6).all(), name
        assert ((boxes["vis"] >= 0) & (boxes["vis"] <= 1)).all() and (boxes["vis"] < 1).any()
        assert len(read_mot(scene_dir / name / "det" / "det.txt")) > 0


def test_gt_boxes_project_onto_the_gt_positions(scene_dir):
    err = projection_errors(open_input(scene_dir))
    assert len(err) > 1000 and np.median(err) <= 0.3


def test_track_and_eval_end_to_end(scene_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["track", str(scene_dir), "-c", str(ROOT / "configs" / "wildtrack.yaml"), "-o", str(run),
                 "--eval", "--quiet"]) == 0
    assert main(["eval", str(run)]) == 0
    out = capsys.readouterr().out
    assert "GROUND@0.5m" in out and "GROUND@1m" in out and "CVLab1" in out
    rows = json.loads((run / "metrics.json").read_text())["rows"]
    assert rows["GROUND@1m"]["MODA"] > 50 and rows["GROUND@1m"]["IDF1"] > 50
    assert rows["OVERALL"]["MOTA"] > 30
    # the global file alone is scored the same way
    assert main(["eval", str(run / "global.txt"), "--gt", str(scene_dir), "-o", str(tmp_path / "g")]) == 0
    again = json.loads((tmp_path / "g" / "metrics.json").read_text())["rows"]
    assert again["GROUND@1m"] == pytest.approx(rows["GROUND@1m"])
    assert again["MULTICAM"]["IDF1"] == pytest.approx(rows["MULTICAM"]["IDF1"])


def test_visibility_and_grid():
    boxes = np.array([[0.0, 0.0, 10.0, 20.0], [5.0, 0.0, 15.0, 30.0], [1900.0, 0.0, 1940.0, 10.0]])
    vis = visibility(boxes, (1920, 1080))
    # box 0 is half hidden by box 1 (lower bottom = closer); box 2 is half outside the image
    assert vis.tolist() == [0.5, 1.0, 0.5]
    np.testing.assert_allclose(position_to_ground([0, 479, 480 * 1439]), [[-3.0, -9.0], [8.975, -9.0], [-3.0, 26.975]])


def test_bad_dataset_folder(tmp_path):
    with pytest.raises(DataError, match="calibration of view CVLab1 not found"):
        import_wildtrack(tmp_path, tmp_path / "out")
    root = shared_path("data", "wildtrack")
    bad = tmp_path / "wt"
    (bad / "annotations_positions").mkdir(parents=True)
    (bad / "calibrations").symlink_to(root / "calibrations")
    (bad / "annotations_positions" / "00000000.json").write_text('[{"personID": 1, "positionID": 5, "views": [')
    with pytest.raises(DataError, match="00000000.json:1: invalid JSON"):
        import_wildtrack(bad, tmp_path / "out")
    assert main(["import", "wildtrack", str(bad), str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [["import", "--help"], ["import", "wildtrack", "--help"], ["calibrate", "--help"],
                                  ["calibrate", "check", "--help"]])
def test_new_verbs_have_help(argv, capsys):
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 0 and "usage: mtmc" in capsys.readouterr().out


def test_import_refuses_to_overwrite(scene_dir, capsys):
    root = str(shared_path("data", "wildtrack"))
    assert main(["import", "wildtrack", root, str(scene_dir), "--frames", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--overwrite" in err[0]
    assert open_input(scene_dir).num_frames == FRAMES  # untouched
