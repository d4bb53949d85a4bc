"""``yolo-onnx``: ultralytics YOLO detectors (v8 / 11 heads) exported to ONNX, run with onnxruntime.

``mtmc detector export`` writes such a file from a ``.pt`` (e.g. ``mtmc detector train``'s ``best.pt``) at a
fixed input size.  The export's output is (B, 4 + C, A): per anchor point the box centre and size in input
pixels, then the C class probabilities (no objectness).  Input: RGB 0-1 float, letterboxed with pad 114 and
the image centred, as ultralytics prepares it, so on the same weights the boxes are ultralytics' own.  It
runs without importing ultralytics or torch, ~1.7x faster per image than ultralytics' PyTorch path on this CPU
(docs/benchmarks.md, "End-to-end throughput").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mtmc.detectors import DETECTORS
from mtmc.detectors.onnx_model import Letterboxed, OnnxDetector, OnnxParams, letterbox

if TYPE_CHECKING:
    from mtmc.io.scene import Scene


class YoloOnnx(OnnxDetector):
    """Runs an ultralytics YOLO ONNX export on the images of one time step."""

    name = "yolo-onnx"
    weights_hint = "write one from ultralytics weights with `mtmc detector export WEIGHTS.pt --out MODEL.onnx`"

    def __init__(self, params: OnnxParams, scene: Scene | None = None):
        super().__init__(params, scene)
        self.check_static_output()

    def check_output(self, shape: tuple[int, ...]) -> None:
        """The model's output is (4 + classes, anchors) and holds the requested classes."""
        self.check_classes(shape[0] - 4)

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, Letterboxed]:
        box = letterbox(image, self.size, centre=True)
        return box.image[:, :, ::-1].transpose(2, 0, 1) / np.float32(255.0), box  # BGR -> RGB, 0-1

    def postprocess(self, pred: np.ndarray, box: Letterboxed, frame: int, camera: int, image_size) -> np.ndarray:
        pred = pred.T  # (A, 4 + C)
        probs = pred[:, 4:]
        # one label per box, its most likely class of all, kept if it is a requested one (as ultralytics does)
        label = probs.argmax(axis=1)
        score = probs[np.arange(len(probs)), label]
        anchor = np.flatnonzero((score > self.params.conf) & np.isin(label, self.classes))
        xy, wh = pred[anchor, :2], pred[anchor, 2:4]
        xyxy = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1)
        xyxy = (xyxy - np.tile(box.offset, 2)) / box.ratio
        return self.boxes(xyxy, score[anchor], label[anchor], frame, camera, image_size)


@DETECTORS.register("yolo-onnx", params=OnnxParams)
def build_yolo_onnx(params: OnnxParams, scene: Scene | None = None) -> YoloOnnx:
    return YoloOnnx(params, scene)
