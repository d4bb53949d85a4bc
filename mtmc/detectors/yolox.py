"""``yolox-onnx``: YOLOX models exported to ONNX, run with onnxruntime.

The exported YOLOX head returns, per anchor point, raw box offsets plus sigmoid
objectness and class scores; the grid decoding happens here (strides 8/16/32):
``xy = (o + grid) * stride``, ``wh = exp(o) * stride``, ``score = obj * cls``.
Input: BGR 0-255 float, letterboxed to the model size with pad 114 and the image
placed top-left (as YOLOX's own preprocessing), no mean/std.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from mtmc.detectors import DETECTORS
from mtmc.detectors.onnx_model import Letterboxed, OnnxDetector, OnnxParams, letterbox
from mtmc.errors import ConfigError

if TYPE_CHECKING:
    from mtmc.io.scene import Scene


@dataclass
class YoloxParams(OnnxParams):
    conf: float = 0.3  # minimum obj * cls score (COCO classes)
    iou: float = 0.45
    strides: list[int] = field(default_factory=lambda: [8, 16, 32])
    decode: bool = True  # false for models exported with the grid decoding inside


def make_grid(size: tuple[int, int], strides: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(A, 2) grid cell coordinates and (A, 1) strides, in the order YOLOX concatenates its levels."""
    h, w = size
    grids, steps = [], []
    for s in strides:
        gy, gx = np.meshgrid(np.arange(h // s), np.arange(w // s), indexing="ij")
        grids.append(np.stack([gx, gy], axis=-1).reshape(-1, 2))
        steps.append(np.full((grids[-1].shape[0], 1), s))
    return np.concatenate(grids).astype(np.float32), np.concatenate(steps).astype(np.float32)


class YoloxOnnx(OnnxDetector):
    """Runs a YOLOX ONNX model on the images of one time step (one batch when the model allows)."""

    name = "yolox-onnx"
    weights_hint = ("export one from a YOLOX checkpoint with YOLOX's tools/export_onnx.py, or download "
                    "yolox_nano.onnx / yolox_s.onnx from the YOLOX releases on a networked machine")

    def __init__(self, params: YoloxParams, scene: Scene | None = None):
        super().__init__(params, scene)
        self.grid, self.steps = make_grid(self.size, params.strides)
        self.check_static_output()

    def check_output(self, shape: tuple[int, ...]) -> None:
        """The model's output (anchors, 5 + classes) must match the strides and hold the requested classes."""
        anchors, channels = shape
        if self.params.decode and anchors != len(self.grid):
            raise ConfigError(
                f"detector.params.strides: model has {anchors} anchors but strides "
                f"{self.params.strides} at input {self.size} give {len(self.grid)}"
            )
        self.check_classes(channels - 5)

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, Letterboxed]:
        box = letterbox(image, self.size)  # top-left, BGR 0-255: YOLOX's own preprocessing
        return box.image.transpose(2, 0, 1), box

    def postprocess(self, pred: np.ndarray, box: Letterboxed, frame: int, camera: int, image_size) -> np.ndarray:
        if self.params.decode:
            xy = (pred[:, :2] + self.grid) * self.steps
            wh = np.exp(np.minimum(pred[:, 2:4], 20.0)) * self.steps  # cap: exp of a wild logit overflows
        else:
            xy, wh = pred[:, :2], pred[:, 2:4]
        scores = pred[:, 4:5] * pred[:, 5 + self.classes]  # (A, K) score of each kept class
        anchor, k = np.nonzero(scores >= self.params.conf)
        score = scores[anchor, k]
        xyxy = np.concatenate([xy[anchor] - wh[anchor] / 2, xy[anchor] + wh[anchor] / 2], axis=1) / box.ratio
        return self.boxes(xyxy, score, self.classes[k], frame, camera, image_size)


@DETECTORS.register("yolox-onnx", params=YoloxParams)
def build_yolox(params: YoloxParams, scene: Scene | None = None) -> YoloxOnnx:
    return YoloxOnnx(params, scene)
