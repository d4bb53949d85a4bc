"""Image detectors: ``yolox-onnx`` (real YOLOX-nano on TUD-Campus + exact decoding on a tiny model)
and ``ultralytics`` (offline plumbing with an untrained yolov8n.yaml)."""

from __future__ import annotations

import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_path

from mtmc.boxes import BOX_DTYPE, xyxy
from mtmc.detectors import DETECTORS
from mtmc.detectors.common import PERSON_CLS
from mtmc.detectors.onnx_model import letterbox
from mtmc.errors import ConfigError, DataError
from mtmc.stages import FrameSet

YOLOX_FRAMES = range(1, 72, 7)  # 11 of TUD-Campus's 71 frames


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def matched(gt: np.ndarray, det: np.ndarray, threshold: float = 0.5) -> int:
    """Ground-truth boxes matched one-to-one by a detection at IoU >= threshold (optimal assignment)."""
    import lap

    if len(gt) == 0 or len(det) == 0:
        return 0
    cost = 1.0 - box_iou(xyxy(gt), xyxy(det))
    _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=1.0 - threshold)
    return int((x >= 0).sum())


# ------------------------------------------------------------------------------------------ YOLOX


def test_letterbox_keeps_ratio_and_pads_bottom_right():
    image = np.full((100, 200, 3), 7, np.uint8)
    box = letterbox(image, (64, 64))
    canvas, ratio = box.image, box.ratio
    assert box.offset == (0.0, 0.0) and ratio == pytest.approx(0.32) and canvas.shape == (64, 64, 3)
    assert (canvas[:32, :64] == 7).all() and (canvas[32:] == 114).all()


def test_yolox_finds_the_people_of_tud_campus():
    weights = shared_path("weights", "yolox_nano_coco", "yolox_nano.onnx")
    seq = shared_path("data", "mot15", "train", "TUD-Campus")
    from mtmc.io.mot import group_by_frame, read_mot

    gt = group_by_frame(read_mot(seq / "gt" / "gt.txt", kind="gt"))
    det = DETECTORS.build("yolox-onnx", {"weights": str(weights), "threads": 2})
    hits = total = found = 0
    for frame in YOLOX_FRAMES:
        image = cv2.imread(str(seq / "img1" / f"{frame:06d}.jpg"))
        (boxes,) = det.detect(FrameSet(frame, 0.0, ["TUD-Campus"], [image]))
        assert boxes.dtype == BOX_DTYPE and (boxes["frame"] == frame).all() and (boxes["id"] == -1).all()
        assert (boxes["cls"] == PERSON_CLS).all() and (boxes["score"] >= 0.3).all()
        assert (boxes["x"] >= 0).all() and (boxes["x"] + boxes["w"] <= 640 + 1e-6).all()
        hits += matched(gt.get(frame, gt[1][:0]), boxes)
        total += len(gt.get(frame, []))
        found += len(boxes)
    recall, precision = hits / total, hits / found
    # Measured: recall 0.782 (43/55), precision 0.66 at conf 0.3 (TUD-Campus gt omits many occluded people).
    assert recall >= 0.7, f"recall {recall:.3f}"
    assert precision >= 0.5, f"precision {precision:.3f}"


def test_yolox_batch_of_cameras_equals_one_by_one():
    weights = shared_path("weights", "yolox_nano_coco", "yolox_nano.onnx")
    img = cv2.imread(str(shared_path("data", "mot15", "train", "TUD-Campus", "img1", "000001.jpg")))
    small = cv2.resize(img, (320, 240))
    det = DETECTORS.build("yolox-onnx", {"weights": str(weights), "threads": 2})
    both = det.detect(FrameSet(1, 0.0, ["a", "b"], [img, small]))
    assert [b["camera"][0] for b in both] == [0, 1]
    (alone,) = det.detect(FrameSet(1, 0.0, ["b"], [small]))
    np.testing.assert_allclose(xyxy(alone), xyxy(both[1]))
    assert len(both[0]) > 0 and (both[1]["x"] + both[1]["w"] <= 320 + 1e-6).all()


def tiny_yolox(path: Path, batch: int | str, size: int = 64, classes: int = 3) -> np.ndarray:
    """A fake YOLOX ONNX model: constant raw head output (ignores the pixels), batch fixed or dynamic."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    anchors = sum((size // s) ** 2 for s in (8, 16, 32))
    raw = np.zeros((1, anchors, 5 + classes), np.float32)
    # anchor at stride 16, grid (x=1, y=2): index 64 (stride-8 cells) + 2 * 4 + 1
    raw[0, 64 + 9, :5] = [0.5, 0.25, np.log(2.0), np.log(3.0), 0.9]
    raw[0, 64 + 9, 5:] = [0.8, 0.1, 0.0][:classes]
    raw[0, 3, :5] = [0.0, 0.0, 0.0, 0.0, 0.9]  # a strong non-person (class 1) at stride 8
    raw[0, 3, 5 + 1] = 0.9
    raw[0, 4, :5], raw[0, 4, 5] = [0.0, 0.0, 0.0, 0.0, 0.2], 0.5  # a weak person: 0.1 < conf
    nodes = [
        helper.make_node("ReduceSum", ["images", "axes"], ["s"], keepdims=1),
        helper.make_node("Reshape", ["s", "shape"], ["s3"]),
        helper.make_node("Mul", ["s3", "zero"], ["z"]),
        helper.make_node("Add", ["z", "raw"], ["output"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
        numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape"),
        numpy_helper.from_array(np.zeros(1, np.float32), "zero"),
        numpy_helper.from_array(raw, "raw"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_yolox",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, anchors, 5 + classes])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return raw


@pytest.mark.parametrize("batch", [1, "N"])
def test_yolox_decoding_and_batching_are_exact(tmp_path, batch):
    path = tmp_path / "tiny.onnx"
    tiny_yolox(path, batch)
    det = DETECTORS.build("yolox-onnx", {"weights": str(path), "conf": 0.3})
    assert det.fixed_batch == (1 if batch == 1 else None) and det.size == (64, 64)
    image = np.zeros((256, 256, 3), np.uint8)  # letterbox ratio 0.25
    out = det.detect(FrameSet(5, 0.0, ["a", "b", "c"], [image, image, image]))
    assert len(out) == 3
    for cam, boxes in enumerate(out):
        assert len(boxes) == 1 and boxes["camera"][0] == cam and boxes["frame"][0] == 5
        # centre (1.5, 2.25) * 16 = (24, 36), size (2, 3) * 16 = (32, 48), all / 0.25
        np.testing.assert_allclose(xyxy(boxes)[0], np.array([8, 12, 40, 60]) * 4.0, atol=1e-3)
        assert boxes["score"][0] == pytest.approx(0.72) and boxes["cls"][0] == PERSON_CLS
    both = DETECTORS.build("yolox-onnx", {"weights": str(path), "conf": 0.3, "classes": [0, 1]})
    (boxes,) = both.detect(FrameSet(1, 0.0, ["a"], [image]))
    assert sorted(boxes["cls"].tolist()) == [1, 2]  # person and COCO class 1, as index + 1


def test_yolox_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        DETECTORS.build("yolox-onnx", {"weights": str(tmp_path / "missing.onnx")})
    assert "missing.onnx" in str(err.value) and "not found" in str(err.value) and "\n" not in str(err.value)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="cannot load") as err:
        DETECTORS.build("yolox-onnx", {"weights": str(bad)})
    assert "\n" not in str(err.value)
    path = tmp_path / "tiny.onnx"
    tiny_yolox(path, 1)
    det = DETECTORS.build("yolox-onnx", {"weights": str(path)})
    with pytest.raises(DataError, match="'b'"):
        det.detect(FrameSet(1, 0.0, ["a", "b"], [np.zeros((8, 8, 3), np.uint8), None]))
    with pytest.raises(ConfigError, match="strides"):
        DETECTORS.build("yolox-onnx", {"weights": str(path), "strides": [8, 16]})
    with pytest.raises(ConfigError, match=r"classes.*\[0, 2\]"):  # the tiny model has 3 classes
        DETECTORS.build("yolox-onnx", {"weights": str(path), "classes": [3]})


# ------------------------------------------------------------------------------------------ ultralytics


@pytest.fixture
def no_network(monkeypatch):
    """Record (and refuse) every attempt to open a network connection."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:2] or args[:1])
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_ultralytics_untrained_model_builds_offline_and_detects(no_network):
    # an untrained net scores ~1.6e-4 everywhere (ultralytics' bias init), and ties go to class 0 (person)
    det = DETECTORS.build("ultralytics", {"weights": "yolov8n.yaml", "conf": 1e-5, "imgsz": 320})
    image = cv2.imread(str(shared_path("data", "mot15", "train", "TUD-Campus", "img1", "000001.jpg")))
    small = image[:240, :320].copy()
    out = det.detect(FrameSet(4, 0.0, ["a", "b"], [image, small]))
    assert len(out) == 2
    for cam, (boxes, img) in enumerate(zip(out, [image, small])):
        assert boxes.dtype == BOX_DTYPE
        assert (boxes["camera"] == cam).all() and (boxes["frame"] == 4).all() and (boxes["id"] == -1).all()
        assert len(boxes) > 0 and (boxes["cls"] == PERSON_CLS).all() and (boxes["score"] >= 1e-5).all()
        assert (boxes["x"] >= 0).all() and (boxes["x"] + boxes["w"] <= img.shape[1] + 1e-3).all()
    det.params.classes = [2]  # only cars: the person boxes above must all be filtered out
    (cars,) = det.detect(FrameSet(4, 0.0, ["a"], [image]))
    assert len(cars) == 0
    assert no_network == []


def test_ultralytics_missing_weights_say_how_to_get_them(tmp_path, no_network):
    with pytest.raises(ConfigError) as err:
        DETECTORS.build("ultralytics", {"weights": str(tmp_path / "yolov8n.pt")})
    msg = str(err.value)
    assert (
        "yolov8n.pt" in msg
        and "not found" in msg
        and "YOLO_OFFLINE=0" in msg
        and "\n" not in msg
    )
    with pytest.raises(ConfigError, match="nosuchmodel.yaml"):
        DETECTORS.build("ultralytics", {"weights": "nosuchmodel.yaml"})
    assert no_network == []


def test_ultralytics_fetches_standard_models_only_when_downloads_are_allowed(tmp_path, monkeypatch):
    from mtmc.detectors.ultralytics_backend import fetchable

    monkeypatch.chdir(tmp_path)  # no yolov8n.pt here
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    assert not fetchable("yolov8n.pt")  # offline (this package's default): a missing file is an error
    monkeypatch.delenv("YOLO_OFFLINE")
    assert not fetchable("yolov8n.pt")  # unset counts as offline too
    monkeypatch.setenv("YOLO_OFFLINE", "0")
    assert fetchable("yolov8n.pt")  # the user allowed downloads: ultralytics fetches its release asset
    assert not fetchable(str(tmp_path / "yolov8n.pt"))  # a path names a local file: never downloaded
    (tmp_path / "yolov8n.pt").write_bytes(b"")
    assert not fetchable("yolov8n.pt")  # present: loaded from disk
