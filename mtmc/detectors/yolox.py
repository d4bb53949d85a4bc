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

import cv2
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
    nms,
    require_file,
)
from mtmc.errors import ConfigError
from mtmc.stages import FrameSet

if TYPE_CHECKING:
    from mtmc.io.scene import Scene

PAD_VALUE = 114


@dataclass
class YoloxParams(ScheduleParams):
    weights: str = ""  # path to a YOLOX .onnx file
    conf: float = 0.3  # minimum obj * cls score
    iou: float = 0.45  # NMS IoU threshold
    classes: list[int] = field(default_factory=lambda: [COCO_PERSON])  # COCO class indices to keep
    max_det: int = 300
    strides: list[int] = field(default_factory=lambda: [8, 16, 32])
    decode: bool = True  # false for models exported with the grid decoding inside
    input_size: tuple[int, int] | None = None  # (h, w), only for models with a dynamic input size
    threads: int = 0  # onnxruntime intra-op threads (0 = its default)
    providers: list[str] = field(default_factory=lambda: ["CPUExecutionProvider"])

    def validate(self, key_path: str = "") -> None:
        super().validate(key_path)
        check_range(key_path, "conf", self.conf, 0.0, 1.0)
        check_range(key_path, "iou", self.iou, 0.0, 1.0)
        if self.max_det < 1:
            raise ConfigError(f"{key_path}.max_det: expected a positive integer, got {self.max_det}")


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio into an (h, w) canvas of 114, top-left; returns (canvas, ratio)."""
    h, w = size
    ratio = min(h / image.shape[0], w / image.shape[1])
    new_w, new_h = max(1, int(image.shape[1] * ratio)), max(1, int(image.shape[0] * ratio))
    canvas = np.full((h, w, 3), PAD_VALUE, dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return canvas, ratio


def make_grid(size: tuple[int, int], strides: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(A, 2) grid cell coordinates and (A, 1) strides, in the order YOLOX concatenates its levels."""
    h, w = size
    grids, steps = [], []
    for s in strides:
        gy, gx = np.meshgrid(np.arange(h // s), np.arange(w // s), indexing="ij")
        grids.append(np.stack([gx, gy], axis=-1).reshape(-1, 2))
        steps.append(np.full((grids[-1].shape[0], 1), s))
    return np.concatenate(grids).astype(np.float32), np.concatenate(steps).astype(np.float32)


class YoloxOnnx:
    """Runs a YOLOX ONNX model on the images of one time step (one batch when the model allows)."""

    needs_pixels = True  # read by mtmc.pipeline: when False the reader skips decoding frames

    def __init__(self, params: YoloxParams, scene: Scene | None = None):
        import onnxruntime as ort

        path = require_file(
            params.weights,
            "detector.params.weights",
            "export one from a YOLOX checkpoint with YOLOX's tools/export_onnx.py, or download "
            "yolox_nano.onnx / yolox_s.onnx from the YOLOX releases on a networked machine",
        )
        self.params, self.scene = params, scene
        opts = ort.SessionOptions()
        if params.threads > 0:
            opts.intra_op_num_threads = params.threads
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=params.providers)
        except Exception as err:  # onnxruntime raises its own exception types for unreadable models
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(
                f"detector.params.weights: cannot load {str(path)!r} as ONNX: {first}"
            ) from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.dtype = np.float16 if "float16" in inp.type else np.float32
        batch, _, h, w = inp.shape
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
        if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0:
            self.size = (h, w)
        elif params.input_size is not None:
            self.size = tuple(params.input_size)
        else:
            raise ConfigError(
                "detector.params.input_size: the model's input size is dynamic; set it as [height, width]"
            )
        self.grid, self.steps = make_grid(self.size, params.strides)
        self.classes = np.asarray(params.classes, dtype=np.int64)
        self._checked = False
        _, anchors, channels = self.session.get_outputs()[0].shape
        if isinstance(anchors, int) and isinstance(channels, int):
            self._check_output(anchors, channels)

    def _check_output(self, anchors: int, channels: int) -> None:
        """The model's output must match the strides and hold the requested classes."""
        if self.params.decode and anchors != len(self.grid):
            raise ConfigError(
                f"detector.params.strides: model has {anchors} anchors but strides "
                f"{self.params.strides} at input {self.size} give {len(self.grid)}"
            )
        num_classes = channels - 5
        if len(self.classes) == 0 or self.classes.min() < 0 or self.classes.max() >= num_classes:
            raise ConfigError(
                f"detector.params.classes: expected indices in [0, {num_classes - 1}] for this "
                f"{num_classes}-class model, got {self.params.classes}"
            )
        self._checked = True

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        """Raw outputs (B, A, 5 + C) for a (B, 3, h, w) batch, respecting a fixed model batch."""
        n = batch.shape[0]
        step = self.fixed_batch or n
        outs = []
        for start in range(0, n, step):
            chunk = batch[start : start + step]
            if len(chunk) < step:  # a fixed batch > 1: pad with blank images, drop their outputs
                pad = np.full((step - len(chunk), *chunk.shape[1:]), PAD_VALUE, dtype=chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            out = self.session.run(None, {self.input_name: chunk})[0]
            outs.append(out[: min(step, n - start)])
        return np.concatenate(outs).astype(np.float32)

    def _postprocess(self, pred: np.ndarray, ratio: float, frame: int, camera: int, image_size) -> np.ndarray:
        if self.params.decode:
            xy = (pred[:, :2] + self.grid) * self.steps
            wh = np.exp(np.minimum(pred[:, 2:4], 20.0)) * self.steps  # cap: exp of a wild logit overflows
        else:
            xy, wh = pred[:, :2], pred[:, 2:4]
        scores = pred[:, 4:5] * pred[:, 5 + self.classes]  # (A, K) score of each kept class
        anchor, k = np.nonzero(scores >= self.params.conf)
        score = scores[anchor, k]
        xyxy = np.concatenate([xy[anchor] - wh[anchor] / 2, xy[anchor] + wh[anchor] / 2], axis=1) / ratio
        cls = self.classes[k]
        keep = nms(xyxy, score, cls, self.params.iou, self.params.max_det)
        return detections(
            xyxy[keep],
            score[keep],
            frame=frame,
            camera=camera,
            cls=coco_classes_to_cls(cls[keep]),
            image_size=image_size,
        )

    def detect(self, frames: FrameSet) -> list[np.ndarray]:
        images = frame_images(frames, "yolox-onnx")
        if not images:
            return []
        boxed = [letterbox(img, self.size) for img in images]
        batch = np.stack([b[0] for b in boxed]).transpose(0, 3, 1, 2).astype(self.dtype)
        preds = self._infer(np.ascontiguousarray(batch))
        if not self._checked:  # output shape was dynamic in the model file
            self._check_output(preds.shape[1], preds.shape[2])
        cams = camera_indices(frames, self.scene)
        return [
            self._postprocess(pred, ratio, frames.frame, cam, (img.shape[1], img.shape[0]))
            for pred, (_, ratio), cam, img in zip(preds, boxed, cams, images)
        ]


@DETECTORS.register("yolox-onnx", params=YoloxParams)
def build_yolox(params: YoloxParams, scene: Scene | None = None) -> YoloxOnnx:
    return YoloxOnnx(params, scene)
