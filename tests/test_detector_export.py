"""``mtmc detector export`` and the ``yolo-onnx`` backend: the export returns ultralytics' own boxes, its input
size is what ultralytics' predict feeds the network, and a trained detector's config layer follows it."""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml

from mtmc.cli.main import main
from mtmc.config import load_config
from mtmc.detectors import DETECTORS
from mtmc.detectors.export import input_shape
from mtmc.detectors.onnx_model import PAD_VALUE, letterbox
from mtmc.detectors.training import write_track_layer
from mtmc.ort import session_options
from mtmc.stages import FrameSet


def test_input_shape_is_ultralytics_minimal_letterbox():
    assert input_shape((640, 480), 320) == (256, 320)  # 320x240, short side padded to a multiple of 32
    assert input_shape((1920, 1080), 640) == (384, 640)
    assert input_shape((480, 640), 320) == (320, 256)  # portrait cameras
    assert input_shape((640, 640), 320) == (320, 320)


def test_centred_letterbox_splits_the_padding():
    image = np.full((480, 640, 3), 7, np.uint8)
    box = letterbox(image, (256, 320), centre=True)
    assert box.ratio == 0.5 and box.offset == (0.0, 8.0)
    assert (box.image[:8] == PAD_VALUE).all() and (box.image[248:] == PAD_VALUE).all()
    assert (box.image[8:248] == 7).all()


def test_onnx_sessions_do_not_spin_between_calls():
    # spinning intra-op threads took the other stages' cores (docs/benchmarks.md, End-to-end throughput)
    options = session_options(2)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == 2


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An untrained yolov8n saved as a .pt with the config layer `mtmc detector train` writes beside it."""
    from mtmc.detectors.ultralytics_backend import load_model

    root = tmp_path_factory.mktemp("export")
    load_model("yolov8n.yaml").save(str(root / "best.pt"))
    write_track_layer(root / "detector.yaml", root / "best.pt", 128, 0.5,
                      {"conf": 0.4, "precision": 0.9, "recall": 0.8})
    return root


def test_export_returns_ultralytics_boxes_and_moves_the_config_layer(trained, tmp_path, capsys):
    out = tmp_path / "onnx" / "best.onnx"
    assert main(["detector", "export", str(trained / "best.pt"), "--out", str(out), "--imgsz", "128"]) == 0
    assert "input 96x128" in capsys.readouterr().out
    assert out.is_file() and not [p for p in out.parent.iterdir() if p.name.startswith(".")]
    # an untrained net scores ~1.6e-4 everywhere: at a tiny threshold there are boxes to compare
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(2)]
    frames = FrameSet(5, 0.0, ["a", "b"], images)
    ref = DETECTORS.build("ultralytics", {"weights": str(trained / "best.pt"), "imgsz": 128, "conf": 1e-5}).detect(frames)
    onnx = DETECTORS.build("yolo-onnx", {"weights": str(out), "conf": 1e-5}).detect(frames)
    for a, b in zip(ref, onnx):
        assert len(a) > 0 and len(a) == len(b)
        for name in ("x", "y", "w", "h", "score", "cls", "camera", "frame"):
            np.testing.assert_allclose(b[name], a[name], atol=1e-3)
    layer = yaml.safe_load(out.with_suffix(".yaml").read_text())
    assert layer["detector"] == {"name": "yolo-onnx", "params": {"weights": str(out.resolve()), "iou": 0.5}}
    assert layer["tracker"]["params"]["track_thresh"] == 0.4
    cfg = load_config([str(out.with_suffix(".yaml"))], [])
    assert cfg.detector.name == "yolo-onnx"


def test_export_writes_no_layer_for_another_models_file(trained, tmp_path, capsys):
    other = tmp_path / "w"
    other.mkdir()
    os.link(trained / "best.pt", other / "best.pt")
    (other / "detector.yaml").write_text("detector:\n  name: ultralytics\n  params:\n    weights: elsewhere.pt\n")
    out = tmp_path / "m.onnx"
    assert main(["detector", "export", str(other / "best.pt"), "--out", str(out), "--imgsz", "64"]) == 0
    assert out.is_file() and not out.with_suffix(".yaml").exists()
    assert "detector.name=yolo-onnx" in capsys.readouterr().out


@pytest.mark.parametrize("args, expected", [
    (["{pt}", "--out", "{tmp}/m.txt"], "--out: expected a .onnx file name"),
    (["{tmp}/missing.pt", "--out", "{tmp}/m.onnx"], "missing.pt"),
    (["{pt}", "--out", "{tmp}/m.onnx", "--image-size", "640by480"], "--image-size: expected WIDTHxHEIGHT"),
    (["{pt}", "--out", "{tmp}/m.onnx", "--imgsz", "100"], "--imgsz: expected a positive multiple of 32"),
])
def test_export_bad_input_is_one_line(trained, tmp_path, capfd, args, expected):
    argv = [a.format(pt=trained / "best.pt", tmp=tmp_path) for a in args]
    assert main(["detector", "export", *argv]) != 0
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0] and "Traceback" not in err[0], err
    assert not list(tmp_path.iterdir())


def test_yolo_onnx_errors_are_one_line(tmp_path):
    from mtmc.errors import ConfigError

    with pytest.raises(ConfigError, match="mtmc detector export"):
        DETECTORS.build("yolo-onnx", {"weights": str(tmp_path / "missing.onnx")})
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="cannot load"):
        DETECTORS.build("yolo-onnx", {"weights": str(bad)})
