"""``ultralytics``: any local ultralytics model (YOLOv8/11 ``.pt``, exported ``.onnx`` ...).

All camera images of a time step go through one ``predict`` call.  Ultralytics is kept
offline (no weight downloads, no pip auto-installs, no telemetry): the environment is
set before it is first imported, and a weights file must exist locally.  A model
``.yaml`` (e.g. ``yolov8n.yaml``) builds an untrained network, useful only for plumbing
tests and speed measurements.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtmc.detectors import DETECTORS
from mtmc.detectors.common import (
    COCO_PERSON,
    ScheduleParams,
    camera_indices,
    check_range,
    coco_classes_to_cls,
    detections,
    frame_images,
    require_file,
)
from mtmc.errors import ConfigError, first_line
from mtmc.stages import FrameSet

if TYPE_CHECKING:
    from mtmc.io.scene import Scene

MODEL_CONFIG_SUFFIXES = (".yaml", ".yml")
WEIGHTS_HINT = (
    "on a networked machine run once with downloads allowed (YOLO_OFFLINE=0 mtmc track ...: ultralytics "
    "fetches the standard models such as yolov8n.pt), or set detector.params.weights to a local file "
    "(e.g. trained on your cameras with `mtmc detector train`)"
)


@dataclass
class UltralyticsParams(ScheduleParams):
    weights: str = "yolov8n.pt"  # local .pt/.onnx/... file, or a model .yaml for an untrained network
    conf: float = 0.25
    iou: float = 0.7  # NMS IoU threshold
    imgsz: int = 640
    device: str = "cpu"  # "cpu", "0", "cuda:0", "mps" ...
    half: bool = False  # FP16 inference (GPU only)
    max_det: int = 300
    classes: list[int] = field(default_factory=lambda: [COCO_PERSON])  # model class indices to keep

    def validate(self, key_path: str = "") -> None:
        super().validate(key_path)
        check_range(key_path, "conf", self.conf, 0.0, 1.0)
        check_range(key_path, "iou", self.iou, 0.0, 1.0)
        if self.imgsz < 32 or self.imgsz % 32:
            raise ConfigError(f"{key_path}.imgsz: expected a positive multiple of 32, got {self.imgsz}")
        if self.max_det < 1:
            raise ConfigError(f"{key_path}.max_det: expected a positive integer, got {self.max_det}")


def load_model(weights: str) -> Any:
    """An ultralytics YOLO model from a local file (or a model .yaml), without touching the network."""
    from mtmc.cli.main import offline_environment

    offline_environment()  # must run before ultralytics is first imported: it reads these at import
    is_config = Path(weights).suffix.lower() in MODEL_CONFIG_SUFFIXES
    if is_config or fetchable(weights):
        path = weights
    else:
        path = str(require_file(weights, "detector.params.weights", WEIGHTS_HINT))
    from ultralytics import YOLO

    from mtmc.seeding import seeded_torch

    try:
        with seeded_torch():  # a model .yaml is random-init: the same network in every run and (Ray) worker
            return YOLO(path, verbose=False)  # task from the file: detect, or seg/pose models (boxes too)
    except FileNotFoundError:
        raise ConfigError(
            f"detector.params.weights: model config {weights!r} not found (neither a local file nor an "
            "ultralytics built-in such as yolov8n.yaml)"
        ) from None
    except Exception as err:  # ultralytics raises many types for unreadable / foreign files
        raise ConfigError(
            f"detector.params.weights: cannot load {weights!r} with ultralytics: {first_line(err)}"
        ) from None


def fetchable(weights: str) -> bool:
    """Whether ultralytics may fetch ``weights`` itself: a bare model name (``yolov8n.pt``) not found locally,
    and the user lifted this package's offline default (``YOLO_OFFLINE=0``)."""
    offline = os.environ.get("YOLO_OFFLINE", "1").strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return not offline and Path(weights).name == weights and not Path(weights).exists()


def precision_args(half: bool) -> dict[str, Any]:
    """FP16 request in this ultralytics version's terms (8.4 replaced ``half`` by ``quantize``)."""
    if not half:
        return {}  # FP32 is the default: passing nothing avoids deprecation warnings
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return {"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True}


class UltralyticsDetector:
    """Person detector running an ultralytics model over the cameras of one time step at once."""

    needs_pixels = True  # read by mtmc.pipeline: when False the reader skips decoding frames

    def __init__(self, params: UltralyticsParams, scene: Scene | None = None):
        self.params, self.scene = params, scene
        self.model = load_model(params.weights)
        self.precision = precision_args(params.half)

    def detect(self, frames: FrameSet) -> list[np.ndarray]:
        images = frame_images(frames, "ultralytics")
        if not images:
            return []
        p = self.params
        results = self.model.predict(
            images,
            conf=p.conf,
            iou=p.iou,
            imgsz=p.imgsz,
            device=p.device,
            max_det=p.max_det,
            classes=list(p.classes),
            verbose=False,
            save=False,
            stream=False,
            **self.precision,
        )
        cams = camera_indices(frames, self.scene)
        out = []
        for res, cam, img in zip(results, cams, images):
            b = res.boxes
            cls = b.cls.cpu().numpy().astype(np.int64)
            keep = np.isin(cls, p.classes)  # the model filters already; guard against backends that don't
            out.append(
                detections(
                    b.xyxy.cpu().numpy()[keep],
                    b.conf.cpu().numpy()[keep],
                    frame=frames.frame,
                    camera=cam,
                    cls=coco_classes_to_cls(cls[keep]),
                    image_size=(img.shape[1], img.shape[0]),
                )
            )
        return out


@DETECTORS.register("ultralytics", params=UltralyticsParams)
def build_ultralytics(params: UltralyticsParams, scene: Scene | None = None) -> UltralyticsDetector:
    return UltralyticsDetector(params, scene)
