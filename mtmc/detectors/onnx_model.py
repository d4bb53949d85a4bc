"""What the ONNX detector backends share: the onnxruntime session, the model's input size and fixed batch,
batched inference, and the letterbox resize of each camera image to the model's input."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

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
from mtmc.errors import ConfigError, first_line
from mtmc.ort import session_options
from mtmc.stages import FrameSet

if TYPE_CHECKING:
    from mtmc.io.scene import Scene

PAD_VALUE = 114  # the grey both YOLOX and ultralytics pad with


@dataclass
class OnnxParams(ScheduleParams):
    """Parameters every ONNX detector has (a backend may change the defaults)."""

    weights: str = ""  # path to the .onnx file
    conf: float = 0.25  # minimum score
    iou: float = 0.7  # NMS IoU threshold
    classes: list[int] = field(default_factory=lambda: [COCO_PERSON])  # model class indices to keep
    max_det: int = 300
    input_size: tuple[int, int] | None = None  # (h, w), only for models with a dynamic input size
    threads: int = 0  # onnxruntime intra-op threads (0 = its default)
    providers: list[str] = field(default_factory=lambda: ["CPUExecutionProvider"])

    def validate(self, key_path: str = "") -> None:
        super().validate(key_path)
        check_range(key_path, "conf", self.conf, 0.0, 1.0)
        check_range(key_path, "iou", self.iou, 0.0, 1.0)
        if self.max_det < 1:
            raise ConfigError(f"{key_path}.max_det: expected a positive integer, got {self.max_det}")


@dataclass
class Letterboxed:
    """A camera image resized (aspect ratio kept) and padded to the model input, and how to map boxes back."""

    image: np.ndarray  # (h, w, 3) uint8, the model's input size
    ratio: float  # model pixels per image pixel
    offset: tuple[float, float]  # (x, y) of the image's top-left corner in the model input


def letterbox(image: np.ndarray, size: tuple[int, int], centre: bool = False) -> Letterboxed:
    """Resize keeping the aspect ratio into an (h, w) canvas of 114, top-left (YOLOX) or centred
    (ultralytics: the padding split between both sides, the odd pixel after the image)."""
    h, w = size
    ratio = min(h / image.shape[0], w / image.shape[1])
    if centre:  # ultralytics rounds the resized size and the padding this way
        new_w, new_h = int(round(image.shape[1] * ratio)), int(round(image.shape[0] * ratio))
        left, top = int(round((w - new_w) / 2 - 0.1)), int(round((h - new_h) / 2 - 0.1))
    else:
        new_w, new_h = max(1, int(image.shape[1] * ratio)), max(1, int(image.shape[0] * ratio))
        left = top = 0
    canvas = np.full((h, w, 3), PAD_VALUE, dtype=np.uint8)
    resized = image if (new_w, new_h) == (image.shape[1], image.shape[0]) else cv2.resize(
        image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas[top:top + new_h, left:left + new_w] = resized
    return Letterboxed(canvas, ratio, (float(left), float(top)))


class OnnxDetector:
    """Base of the ONNX backends: subclasses turn images into input tensors (:meth:`prepare`) and one image's
    raw output into detections (:meth:`postprocess`)."""

    needs_pixels = True  # read by mtmc.pipeline: when False the reader skips decoding frames
    name = "onnx"  # the backend's registry name (error messages)
    weights_hint = ""  # how to get weights, printed when the file is missing

    def __init__(self, params: OnnxParams, scene: Scene | None):
        import onnxruntime as ort

        path = require_file(params.weights, "detector.params.weights", self.weights_hint)
        self.params, self.scene = params, scene
        self.classes = np.asarray(params.classes, dtype=np.int64)
        self._checked = False  # the output shape, once known (check_output)
        try:
            self.session = ort.InferenceSession(str(path), session_options(params.threads), providers=params.providers)
        except Exception as err:  # onnxruntime raises its own exception types for unreadable models
            raise ConfigError(
                f"detector.params.weights: cannot load {str(path)!r} as ONNX: {first_line(err)}"
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

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, Letterboxed]:
        """(3, h, w) input tensor of one BGR camera image, and its letterbox."""
        raise NotImplementedError

    def postprocess(self, pred: np.ndarray, box: Letterboxed, frame: int, camera: int, image_size) -> np.ndarray:
        """Detections of one image from its raw model output."""
        raise NotImplementedError

    def check_output(self, shape: tuple[int, ...]) -> None:
        """A subclass checks the shape of one image's raw output (default: nothing)."""

    def check_static_output(self) -> None:
        """Check the output shape now when the model file fixes it (else at the first call)."""
        shape = tuple(self.session.get_outputs()[0].shape[1:])
        if all(isinstance(v, int) for v in shape):
            self.check_output(shape)
            self._checked = True

    def check_classes(self, num_classes: int) -> None:
        """The requested classes must be ones the model has."""
        if len(self.classes) == 0 or self.classes.min() < 0 or self.classes.max() >= num_classes:
            raise ConfigError(
                f"detector.params.classes: expected indices in [0, {num_classes - 1}] for this "
                f"{num_classes}-class model, got {self.params.classes}"
            )

    def boxes(self, xyxy: np.ndarray, score: np.ndarray, cls: np.ndarray, frame: int, camera: int,
              image_size) -> np.ndarray:
        """Detections of candidate boxes (image pixels) after class-aware NMS."""
        keep = nms(xyxy, score, cls, self.params.iou, self.params.max_det)
        return detections(xyxy[keep], score[keep], frame=frame, camera=camera, cls=coco_classes_to_cls(cls[keep]),
                          image_size=image_size)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Raw outputs for a (B, 3, h, w) batch, respecting a fixed model batch."""
        n = batch.shape[0]
        step = self.fixed_batch or n
        outs = []
        for start in range(0, n, step):
            chunk = batch[start : start + step]
            if len(chunk) < step:  # a fixed batch > 1: pad with blank images, drop their outputs
                pad = np.zeros((step - len(chunk), *chunk.shape[1:]), dtype=chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            out = self.session.run(None, {self.input_name: chunk})[0]
            outs.append(out[: min(step, n - start)])
        return np.concatenate(outs).astype(np.float32)

    def detect(self, frames: FrameSet) -> list[np.ndarray]:
        images = frame_images(frames, self.name)
        if not images:
            return []
        prepared = [self.prepare(img) for img in images]
        batch = np.ascontiguousarray(np.stack([p[0] for p in prepared]).astype(self.dtype, copy=False))
        preds = self.infer(batch)
        if not self._checked:  # the output shape was dynamic in the model file
            self.check_output(preds.shape[1:])
            self._checked = True
        cams = camera_indices(frames, self.scene)
        return [
            self.postprocess(pred, box, frames.frame, cam, (img.shape[1], img.shape[0]))
            for pred, (_, box), cam, img in zip(preds, prepared, cams, images)
        ]
