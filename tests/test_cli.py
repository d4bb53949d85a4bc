"""The CLI verbs end to end on a tiny synthetic scene; errors are one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SIMULATED

from mtmc.cli.main import main


@pytest.fixture(scope="module")
def tiny_scene(tmp_path_factory):
    from conftest import synth_small_scene

    return synth_small_scene(tmp_path_factory.mktemp("cli") / "scene", duration=3, people=3, seed=5)


@pytest.mark.parametrize("verb", ["synth", "track", "eval", "demo", "reid"])
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as err:
        main([verb, "--help"])
    assert err.value.code == 0
    assert "usage: mtmc" in capsys.readouterr().out


def test_track_then_eval(tiny_scene, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["track", str(tiny_scene), *SIMULATED, "-o", str(run), "--quiet", "--eval", "--map",
                 "tracker.name=sort", "association.name=global"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["tracker"] == "sort" and summary["frames"] == 45
    for cam in summary["cameras"]:
        assert (run / "tracks" / f"{cam}.txt").is_file()
    assert (run / "global.txt").is_file() and (run / "map.png").is_file()
    multicam = summary["metrics"]["MULTICAM"]
    assert multicam["MOTA"] > 50 and multicam["IDF1"] > 50
    # the resolved config re-runs
    assert main(["track", str(tiny_scene), "-c", str(run / "config.yaml"), "-o", str(tmp_path / "again"),
                 "--quiet"]) == 0
    first = (run / "global.txt").read_text()
    assert (tmp_path / "again" / "global.txt").read_text() == first
    # mtmc eval finds the ground truth from the run's summary
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0
    assert "MULTICAM" in capsys.readouterr().out


def test_global_ids_beat_per_camera_ids_across_cameras(tiny_scene, tmp_path):
    scores = {}
    for name in ("none", "global"):
        run = tmp_path / name
        assert main(["track", str(tiny_scene), *SIMULATED, "-o", str(run), "--quiet", "--eval", f"association.name={name}"]) == 0
        scores[name] = json.loads((run / "summary.json").read_text())["metrics"]["MULTICAM"]["IDF1"]
    assert scores["global"] > scores["none"] + 20


def test_bad_input_gives_one_line_and_exit_2(tiny_scene, tmp_path, capsys):
    assert main(["track", str(tmp_path / "missing"), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mtmc track: error:" in err[0]
    assert main(["track", str(tiny_scene), *SIMULATED, "-o", str(tmp_path / "r"), "tracker.params.nope=1"]) == 2
    assert "tracker.params.nope" in capsys.readouterr().err
    assert not (tmp_path / "r" / "summary.json").exists()


def test_pipeline_python_api_step_by_step(tiny_scene):
    from mtmc.config import load_config
    from mtmc.io.reader import SyncReader
    from mtmc.io.scene import open_input
    from mtmc.pipeline import Pipeline

    scene = open_input(tiny_scene)
    pipeline = Pipeline(load_config([], ["detector.name=simulated", "tracker.name=sort"]), scene)
    steps = 0
    for frames in SyncReader(scene, decode=False):
        out = pipeline.step(frames)
        assert len(out) == len(scene.cameras)
        for boxes in out:
            assert np.all(boxes["frame"] == frames.frame)
        steps += 1
    assert steps == scene.num_frames


def test_track_real_pixels_tud_campus_with_yolox(tmp_path):
    from conftest import shared_path

    seq = shared_path("data", "mot15", "train", "TUD-Campus")
    weights = shared_path("weights", "yolox_nano_coco", "yolox_nano.onnx")
    run = tmp_path / "tud"
    assert main(["track", str(seq), "-o", str(run), "--quiet", "--eval", "--videos", "detector.name=yolox-onnx",
                 f"detector.params.weights={weights}", "tracker.name=bytetrack"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["frames"] == 71
    assert (run / "videos" / "TUD-Campus.mp4").stat().st_size > 10_000
    # a real detector on real frames: most people found and tracked
    assert summary["metrics"]["TUD-Campus"]["MOTA"] > 30
    assert summary["metrics"]["TUD-Campus"]["Rcll"] > 50


def test_track_public_detections_of_a_mot_sequence(tmp_path):
    from conftest import shared_path

    seq = shared_path("data", "mot15", "train", "TUD-Stadtmitte")
    run = tmp_path / "stadtmitte"
    assert main(["track", str(seq), "-o", str(run), "--quiet", "--eval", "detector.name=mot-file",
                 "tracker.name=sort", "association.name=none"]) == 0
    metrics = json.loads((run / "summary.json").read_text())["metrics"]["TUD-Stadtmitte"]
    assert abs(metrics["MOTA"] - 71.7) < 0.5  # the reference SORT on these detections


def test_track_a_single_video_with_annotated_output(tiny_scene, tmp_path):
    video = next((tiny_scene / "cam0").glob("*.mp4"))
    run = tmp_path / "video"
    assert main(["track", str(video), "-o", str(run), "--quiet", "--videos",
                 "detector.name=ultralytics", "detector.params.weights=yolov8n.yaml"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["frames"] == 45 and len(summary["cameras"]) == 1
    assert (run / "videos").is_dir()


def test_demo_on_a_tiny_scene(tmp_path, capsys):
    assert main(["demo", "--workdir", str(tmp_path / "demo"), "--duration", "4", "--people", "3", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "multi-camera scores" in out and "oracle ReID" in out and "no ReID" in out
    for run in ("no_reid", "oracle_reid"):
        assert (tmp_path / "demo" / "runs" / run / "metrics.json").is_file()
    assert (tmp_path / "demo" / "runs" / "no_reid" / "map.png").is_file()
    # a second call reuses the scene
    assert main(["demo", "--workdir", str(tmp_path / "demo"), "--duration", "4", "--people", "3", "--quiet"]) == 0
    assert "reusing" in capsys.readouterr().out


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_swapping_the_reid_model_is_a_config_change(tiny_scene, tmp_path, backend):
    """reid.model + reid.weights (a checkpoint or an exported ONNX file) is all a user changes."""
    import torch

    from reid import build_model
    from reid.weights import save_weights

    torch.manual_seed(0)
    weights = tmp_path / "osnet.pth"
    save_weights(weights, build_model("osnet_x0_25"), "osnet_x0_25")
    if backend == "onnx":
        onnx_path = tmp_path / "osnet.onnx"
        assert main(["reid", "export", "--model", "osnet_x0_25", "--weights", str(weights), "--out",
                     str(onnx_path)]) == 0
        weights = onnx_path
    run = tmp_path / f"run_{backend}"
    assert main(["track", str(tiny_scene), *SIMULATED, "-o", str(run), "--quiet", "tracker.name=bytetrack",
                 "reid.model=osnet_x0_25", f"reid.weights={weights}"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["reid"] == "osnet_x0_25"
    assert 0 < summary["embedded_crops"] < sum(summary["boxes_per_camera"].values())  # scheduled, not all


def test_demo_compares_a_real_reid_model_with_its_config_layer(tmp_path, capsys):
    from conftest import shared_path

    weights = shared_path("weights", "osnet_x0_25_msmt17", "osnet_x0_25_msmt17.onnx")
    root = Path(__file__).resolve().parents[1]
    args = ["demo", "--workdir", str(tmp_path / "demo"), "--duration", "3", "--people", "2", "--quiet",
            "--reid-weights", str(weights), "--reid-config", str(root / "configs" / "lab_reid_osnet.yaml")]
    assert main(args) == 0
    resolved = (tmp_path / "demo" / "runs" / "reid" / "config.yaml").read_text()
    assert "osnet_x0_25" in resolved and "center_embeddings: true" in resolved  # the layer's association setting
    summary = json.loads((tmp_path / "demo" / "runs" / "reid" / "summary.json").read_text())
    assert summary["embedded_crops"] > 0
