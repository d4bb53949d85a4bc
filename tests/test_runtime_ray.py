"""runtime.executor=ray: byte-identical outputs to the local run, a killed worker named, batch mode on Ray.

A local Ray (``ray.init(num_cpus=2)``) is started once for the module, never a remote cluster.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from conftest import SIMULATED

from mtmc.cli.main import main

ray = pytest.importorskip("ray", reason='Ray is an optional extra: pip install -e ".[ray]"')
LAB = Path(__file__).resolve().parents[1] / "configs" / "lab.yaml"


@pytest.fixture(scope="module")
def local_ray():
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def outputs(run) -> dict[str, bytes]:
    files = sorted((run / "tracks").glob("*.txt")) + [run / "global.txt"]
    return {f.name: f.read_bytes() for f in files}


def test_ray_run_gives_the_local_run_bytes(local_ray, two_camera_scene, tmp_path):
    # ReID on both paths: the tracker embeds every detection, the associator asks for scheduled crops
    args = ["track", str(two_camera_scene), "--quiet", "-c", str(LAB), *SIMULATED, "output.map=false",
            "reid.model=oracle", "runtime.max_in_flight=2"]
    assert main([*args, "-o", str(tmp_path / "local")]) == 0
    assert main([*args, "-o", str(tmp_path / "ray"), "runtime.executor=ray"]) == 0
    local, remote = outputs(tmp_path / "local"), outputs(tmp_path / "ray")
    assert set(local) == {"cam0.txt", "cam1.txt", "global.txt"} and local["global.txt"]
    assert local == remote
    import json

    runtime = json.loads((tmp_path / "ray" / "summary.json").read_text())["runtime"]
    assert runtime["workers"] == [["cam0"], ["cam1"]]
    assert runtime["bytes_per_camera_frame"]["tracks"] > 0
    assert runtime["bytes_per_camera_frame"]["embeddings"] > 0


def test_killed_worker_is_one_error_naming_its_camera(local_ray, two_camera_scene):
    from mtmc.config import load_config
    from mtmc.errors import MtmcError
    from mtmc.io.scene import open_input
    from mtmc.pipeline import Pipeline
    from mtmc.runtime import open_steps

    scene = open_input(two_camera_scene)
    pipeline = Pipeline(load_config([], ["detector.name=simulated", "runtime.executor=ray", "runtime.max_in_flight=2"]), scene)
    with pytest.raises(MtmcError) as err, open_steps(pipeline) as steps:
        for frame, tracks in steps:
            pipeline.associate(frame, tracks, steps.embed)
            if frame == 2:  # as the OOM killer would: no goodbye from the worker
                os.kill(ray.get(steps.workers[1].pid.remote()), signal.SIGKILL)
    message = str(err.value)
    assert "camera 'cam1'" in message and "died" in message and "\n" not in message


def test_worker_errors_keep_their_type_and_message(local_ray, two_camera_scene, tmp_path, capsys):
    code = main(["track", str(two_camera_scene), "-o", str(tmp_path / "r"), "--quiet", "runtime.executor=ray",
                 "detector.name=yolox-onnx", f"detector.params.weights={tmp_path / 'missing.onnx'}"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mtmc track: error: detector.params.weights: weights file")


def test_batch_on_ray_tasks(local_ray, two_camera_scene, tmp_path, capsys):
    folder = tmp_path / "scenes"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / name).symlink_to(two_camera_scene, target_is_directory=True)
    assert main(["track", str(folder), *SIMULATED, "--batch", "-o", str(tmp_path / "out"), "--quiet",
                 "runtime.executor=ray"]) == 0
    table = capsys.readouterr().out
    assert table.count(" done ") == 2
    assert (tmp_path / "out" / "a" / "global.txt").read_bytes() == (tmp_path / "out" / "b" / "global.txt").read_bytes()
