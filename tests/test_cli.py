"""The CLI verbs end to end on a tiny synthetic scene; errors are one line with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtmc.cli.main import main


@pytest.fixture(scope="module")
def tiny_scene(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "scene"
    assert main(["synth", str(out), "--duration", "3", "--people", "3", "--size", "320x240", "--quiet",
                 "--workers", "1", "seed=5"]) == 0
    return out


@pytest.mark.parametrize("verb", ["synth", "track", "eval", "demo", "reid"])
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as err:
        main([verb, "--help"])
    assert err.value.code == 0
    assert "usage: mtmc" in capsys.readouterr().out


def test_track_then_eval(tiny_scene, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["track", str(tiny_scene), "-o", str(run), "--quiet", "--eval", "--map",
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
        assert main(["track", str(tiny_scene), "-o", str(run), "--quiet", "--eval", f"association.name={name}"]) == 0
        scores[name] = json.loads((run / "summary.json").read_text())["metrics"]["MULTICAM"]["IDF1"]
    assert scores["global"] > scores["none"] + 20


def test_bad_input_gives_one_line_and_exit_2(tiny_scene, tmp_path, capsys):
    assert main(["track", str(tmp_path / "missing"), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mtmc track: error:" in err[0]
    assert main(["track", str(tiny_scene), "-o", str(tmp_path / "r"), "tracker.params.nope=1"]) == 2
    assert "tracker.params.nope" in capsys.readouterr().err
    assert not (tmp_path / "r" / "summary.json").exists()


def test_pipeline_python_api_step_by_step(tiny_scene):
    from mtmc.config import load_config
    from mtmc.io.reader import SyncReader
    from mtmc.io.scene import open_input
    from mtmc.pipeline import Pipeline

    scene = open_input(tiny_scene)
    pipeline = Pipeline(load_config([], ["tracker.name=sort"]), scene)
    steps = 0
    for frames in SyncReader(scene, decode=False):
        out = pipeline.step(frames)
        assert len(out) == len(scene.cameras)
        for boxes in out:
            assert np.all(boxes["frame"] == frames.frame)
        steps += 1
    assert steps == scene.num_frames
