"""Bad input through the CLI: one clear line on stderr, a non-zero exit, no traceback, no partial outputs.

Every case starts from a copy of one tiny synthetic scene and breaks one thing.  The CLI runs in-process
(``mtmc.cli.main.main``), so an uncaught exception would fail the test with its traceback; stderr is
captured at the file-descriptor level (``capfd``), so native libraries (FFmpeg) printing there count too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SIMULATED

from mtmc.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--duration", "2", "--cameras", "2", "--people", "2", "--size", "160x120", "--fps", "10", "--quiet",
        "--workers", "1"]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """A tiny mp4 scene, an avi one (index-less, so a cut copy still opens) and a finished run of the first."""
    root = tmp_path_factory.mktemp("bad_input")
    assert main(["synth", str(root / "mp4"), *TINY]) == 0
    assert main(["synth", str(root / "avi"), *TINY, "--format", "avi"]) == 0
    assert main(["track", str(root / "mp4"), *SIMULATED, "-o", str(root / "run"), "--quiet"]) == 0
    return root


@pytest.fixture
def scene(scenes, tmp_path) -> Path:
    out = tmp_path / "scene"
    shutil.copytree(scenes / "mp4", out)
    return out


def assert_no_outputs(run: Path) -> None:
    assert not run.exists(), sorted(p.name for p in run.rglob("*"))
    assert not list(run.parent.glob(f".{run.name}.*")), "a staging folder was left behind"


def fails(capfd, argv: list[str], *expected: str, code: int = 2) -> str:
    """Run the CLI; it must exit ``code`` with exactly one stderr line holding every ``expected`` text."""
    assert main(argv) == code
    err = capfd.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def track(capfd, input_path: Path, run: Path, *expected: str, extra: tuple[str, ...] = ()) -> None:
    fails(capfd, ["track", str(input_path), *SIMULATED, "-o", str(run), "--quiet", *extra], "mtmc track: error:", *expected)
    assert_no_outputs(run)


# -- media -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage, message", [
    ("truncated", "cannot open video"),  # mp4v writes its index (moov) last: a cut copy has none
    ("zero-byte", "empty video file (0 bytes)"),
    ("fake", "cannot open video"),
])
def test_broken_mp4(scene, tmp_path, capfd, damage, message):
    video = scene / "cam0" / "video.mp4"
    data = video.read_bytes()
    video.write_bytes({"truncated": data[: len(data) // 2], "zero-byte": b"", "fake": b"not a video\n" * 50}[damage])
    track(capfd, scene, tmp_path / "run", str(video), message)


def test_video_cut_mid_stream_is_found_while_writing_and_nothing_is_left(scenes, tmp_path, capfd):
    scene = tmp_path / "scene"
    shutil.copytree(scenes / "avi", scene)
    video = scene / "cam0" / "video.avi"
    video.write_bytes(video.read_bytes()[: video.stat().st_size * 6 // 10])
    # the simulated detector needs no pixels; --videos decodes every frame, after tracking
    track(capfd, scene, tmp_path / "run", "video.avi: cannot decode frame", "of 20", extra=("--videos",))


def test_cameras_with_different_frame_rates(scene, tmp_path, capfd):
    seqinfo = scene / "cam1" / "seqinfo.ini"
    seqinfo.write_text(seqinfo.read_text().replace("frameRate=10", "frameRate=25"))
    track(capfd, scene, tmp_path / "run1", "scene.json: fps 10 but camera cam1 runs at 25 fps")
    meta = json.loads((scene / "scene.json").read_text())
    del meta["fps"]
    (scene / "scene.json").write_text(json.dumps(meta))
    track(capfd, scene, tmp_path / "run2", "cameras have different frame rates (cam0=10, cam1=25)")


# -- calibration -----------------------------------------------------------------------------------


def _edit_calibration(scene: Path, edit) -> None:
    path = scene / "calibration.json"
    data = json.loads(path.read_text())
    edit(data["cameras"]["cam0"])
    path.write_text(json.dumps(data))


def test_calibration_bad_json(scene, tmp_path, capfd):
    (scene / "calibration.json").write_text('{"cameras": {"cam0": ')
    track(capfd, scene, tmp_path / "run", "calibration.json:1: invalid JSON")


@pytest.mark.parametrize("edit, message", [
    (lambda cam: cam.pop("image_size"), "camera 'cam0': 'image_size' must be [width, height]"),
    (lambda cam: cam.update(K=[[float("nan"), 0, 80], [0, 90, 60], [0, 0, 1]]), "'K' holds non-finite values"),
    (lambda cam: [cam.pop(k) for k in ("K", "R", "t", "dist")] and cam.update(homography=[[1, 2, 3], [2, 4, 6], [0, 0, 1]]),
     "camera 'cam0': ground-plane homography is singular"),
    (lambda cam: [cam.pop(k) for k in ("K", "R", "t", "dist")] and cam.update(homography=[[1, 2, 3], [2, 4, 6 + 1e-14], [0, 0, 1]]),
     "camera 'cam0': ground-plane homography is singular"),  # singular up to rounding: inv() would succeed
], ids=["no-image-size", "nan-in-K", "singular-homography", "near-singular-homography"])
def test_malformed_calibration(scene, tmp_path, capfd, edit, message):
    _edit_calibration(scene, edit)
    track(capfd, scene, tmp_path / "run", "calibration.json: ", message)


def test_calibrated_camera_missing_on_disk_is_a_warning(scene, tmp_path, capfd):
    """README: cameras listed in calibration.json but absent from the scene are warnings; the rest is tracked."""
    shutil.rmtree(scene / "cam1")
    run = tmp_path / "run"
    assert main(["track", str(scene), *SIMULATED, "-o", str(run), "--quiet"]) == 0
    err = capfd.readouterr().err.strip().splitlines()
    assert err == ["warning: calibration.json: camera 'cam1' is not in the scene (cameras: cam0)"]
    assert sorted(p.name for p in (run / "tracks").iterdir()) == ["cam0.txt"]


# -- ground truth and results ----------------------------------------------------------------------


def _break_row(path: Path, column: int, value: str) -> None:
    lines = path.read_text().splitlines()
    fields = lines[3].split(",")
    fields[column] = value
    lines[3] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")


BROKEN_ROWS = [(2, "abc", "non-numeric value 'abc'"), (3, "nan", "non-finite value"),
               (4, "-5", "width and height must be > 0")]


@pytest.mark.parametrize("column, value, message", BROKEN_ROWS, ids=["letters", "nan", "negative-size"])
def test_broken_ground_truth(scene, scenes, tmp_path, capfd, column, value, message):
    gt = scene / "cam0" / "gt" / "gt.txt"
    _break_row(gt, column, value)
    track(capfd, scene, tmp_path / "run", f"{gt}:4: ", message, extra=("--eval",))
    fails(capfd, ["eval", str(scenes / "run"), "--gt", str(scene)], f"{gt}:4: ", message)


@pytest.mark.parametrize("column, value, message", BROKEN_ROWS, ids=["letters", "nan", "negative-size"])
def test_broken_results(scenes, tmp_path, capfd, column, value, message):
    run = tmp_path / "run"
    shutil.copytree(scenes / "run", run)
    result = run / "tracks" / "cam0.txt"
    _break_row(result, column, value)
    fails(capfd, ["eval", str(run), "--gt", str(scenes / "mp4")], f"{result}:4: ", message)
    fails(capfd, ["eval", str(result), "--gt", str(scenes / "mp4" / "cam0" / "gt" / "gt.txt")], message)
    assert not (run / "metrics.json").exists()


def test_empty_results(scenes, tmp_path, capfd):
    run = tmp_path / "run"
    shutil.copytree(scenes / "run", run)
    (run / "tracks" / "cam0.txt").write_text("")
    # one camera without boxes is still scored (every gt box of it missed), with a warning
    assert main(["eval", str(run), "--gt", str(scenes / "mp4"), "--no-hota"]) == 0
    captured = capfd.readouterr()
    assert captured.err.strip() == "warning: camera 'cam0': no result boxes; all its ground truth counts as missed"
    (run / "metrics.json").unlink()
    (run / "tracks" / "cam1.txt").write_text("")
    fails(capfd, ["eval", str(run), "--gt", str(scenes / "mp4")], "the results hold no boxes")
    assert not (run / "metrics.json").exists()


# -- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize("override, message", [
    ("tracker.nope=1", "tracker.nope: unknown key"),
    ("tracker.params.nope=1", "tracker.params.nope: unknown key"),
    ("tracker.params.min_hits=x", "tracker.params.min_hits: expected an integer, got 'x'"),
    ("output.videos=maybe", "output.videos: expected true or false, got 'maybe'"),
    ("tracker.name=nosuch", "tracker.name: unknown tracker 'nosuch'"),
    ("detector.name=nosuch", "detector.name: unknown detector 'nosuch'"),
    ("association.name=nosuch", "association.name: unknown association 'nosuch'"),
    ("reid.model=nosuch", "reid.model: unknown ReID model 'nosuch'"),
    ("reid.backend=tensorrt", "reid.backend: expected one of 'auto', 'torch', 'onnx'"),
])
def test_bad_config_values(scene, tmp_path, capfd, override, message):
    extra = ("tracker.name=sort",) if "max_age" in override else ()
    track(capfd, scene, tmp_path / "run", message, extra=(*extra, override))


@pytest.mark.parametrize("config", [[], ["configs/default.yaml"], ["configs/lab.yaml"]],
                         ids=["no-config", "default.yaml", "lab.yaml"])
def test_default_detector_without_its_weights_says_how_to_get_them(scene, tmp_path, capfd, monkeypatch, config):
    """The default detector is a real one (ultralytics yolov8n.pt); offline without the file: one line, the fix."""
    monkeypatch.chdir(tmp_path)  # no yolov8n.pt in the working directory
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    layers = [arg for path in config for arg in ("-c", str(ROOT / path))]
    run = tmp_path / "run"
    fails(capfd, ["track", str(scene), *layers, "-o", str(run), "--quiet"], "mtmc track: error:",
          "detector.params.weights: weights file 'yolov8n.pt' not found", "YOLO_OFFLINE=0", "detector.params.weights")
    assert_no_outputs(run)


def test_bad_config_files(scene, tmp_path, capfd):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tracker:\n  name: sort\n   params: {max_age: 3\n")
    track(capfd, scene, tmp_path / "run", f"{bad}:3: invalid YAML", extra=("-c", str(bad)))
    bad.write_text("tracker:\n  name: sort\nfoo: 1\n")
    track(capfd, scene, tmp_path / "run", f"{bad}: foo: unknown key", extra=("-c", str(bad)))
    track(capfd, scene, tmp_path / "run", f"{tmp_path / 'nope.yaml'}: config file not found",
          extra=("-c", str(tmp_path / "nope.yaml")))


# -- Ctrl-C ----------------------------------------------------------------------------------------


def test_ctrl_c_while_tracking_writes_nothing(scene, tmp_path, capfd, monkeypatch):
    from mtmc.pipeline import Pipeline

    associate = Pipeline.associate  # every time step of a run goes through it, whatever the executor
    calls = []

    def interrupted(self, frame, tracks, embed):
        calls.append(frame)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return associate(self, frame, tracks, embed)

    monkeypatch.setattr(Pipeline, "associate", interrupted)
    run = tmp_path / "run"
    assert fails(capfd, ["track", str(scene), *SIMULATED, "-o", str(run), "--quiet"], code=130) == "mtmc track: interrupted"
    assert len(calls) == 5
    assert_no_outputs(run)


def test_ctrl_c_while_writing_keeps_the_previous_run(scenes, tmp_path, capfd, monkeypatch):
    import mtmc.io.writers

    run = tmp_path / "run"
    shutil.copytree(scenes / "run", run)
    before = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mtmc.io.writers, "write_global", interrupted)  # after the tracks were staged
    fails(capfd, ["track", str(scenes / "mp4"), *SIMULATED, "-o", str(run), "--quiet", "tracker.name=sort"], code=130)
    assert {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.glob(".run.*"))


# -- ReID training data ----------------------------------------------------------------------------


def test_reid_train_on_empty_or_misnamed_folder(tmp_path, capfd):
    import cv2

    recipe = str(ROOT / "configs" / "reid" / "tiny_synth.yaml")
    run = tmp_path / "run"
    empty = tmp_path / "empty"
    empty.mkdir()
    fails(capfd, ["reid", "train", "-c", recipe, "-o", str(run), f"data.root={empty}"],
          "mtmc reid train: error:", "bounding_box_train: missing dataset folder")
    misnamed = tmp_path / "misnamed" / "bounding_box_train"
    misnamed.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(misnamed / f"person{i}.jpg"), np.zeros((64, 32, 3), np.uint8))
    fails(capfd, ["reid", "train", "-c", recipe, "-o", str(run), f"data.root={misnamed.parent}"],
          "person0.jpg: file name does not follow the Market naming")
    assert_no_outputs(run)
