"""``mtmc detector export``: ultralytics YOLO weights -> an ONNX file for the ``yolo-onnx`` backend.

The input size is fixed at what ultralytics' own predict feeds the network for the cameras' images at
``imgsz`` (the long side scaled to ``imgsz``, the short side padded up to a multiple of 32: 640x480 at 320 ->
320x256), so the exported model sees the same pixels and returns the same boxes.  The export is checked
against ultralytics on a test image before it is written (atomically).  When ``mtmc detector train``'s
``detector.yaml`` sits next to the weights, a copy for the ONNX file (same NMS IoU and tracker thresholds) is
written next to it.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from mtmc.atomic import write_text
from mtmc.boxes import xyxy
from mtmc.errors import ConfigError, DataError, first_line

STRIDE = 32  # the YOLO heads' largest stride: input sides are multiples of it
CHECK_CONF = 1e-5  # boxes compared between ultralytics and the export: nearly every candidate, even untrained


def input_shape(image_size: tuple[int, int], imgsz: int) -> tuple[int, int]:
    """(h, w) network input of ultralytics' predict for (w, h) images at ``imgsz`` (minimal padding)."""
    w, h = image_size
    ratio = min(imgsz / w, imgsz / h)
    new_w, new_h = int(round(w * ratio)), int(round(h * ratio))
    return math.ceil(new_h / STRIDE) * STRIDE, math.ceil(new_w / STRIDE) * STRIDE


def export_onnx(weights: str, out: str | Path, imgsz: int = 320, image_size: tuple[int, int] = (640, 480),
                check_image: np.ndarray | None = None) -> dict[str, Any]:
    """Export ``weights`` (a .pt, or a model .yaml: random weights) to ONNX at ``out``; returns what was
    checked: the input shape, how many boxes ultralytics and the export found on the test image, and the
    largest coordinate difference (pixels)."""
    from mtmc.detectors.ultralytics_backend import load_model

    if imgsz < STRIDE or imgsz % STRIDE:
        raise ConfigError(f"--imgsz: expected a positive multiple of {STRIDE}, got {imgsz}")
    if min(image_size) < 1:
        raise ConfigError(f"--image-size: expected WIDTHxHEIGHT in pixels, got {image_size}")
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ConfigError(f"--out: expected a .onnx file name, got {str(out)!r}")
    shape = input_shape(image_size, imgsz)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        source = Path(weights)
        if source.is_file() and source.suffix.lower() == ".pt":  # ultralytics writes the .onnx beside the .pt
            source = Path(shutil.copy(source, Path(tmp) / source.name))
        model = load_model(str(source))
        here = os.getcwd()
        os.chdir(tmp)  # ...and beside the working directory for a model .yaml
        try:
            written = Path(model.export(format="onnx", imgsz=shape, dynamic=False, simplify=False, verbose=False))
        except Exception as err:  # ultralytics raises many types (missing onnx package, unsupported model)
            raise DataError(f"ONNX export failed: {first_line(err)}", path=weights) from None
        finally:
            os.chdir(here)
        written = written if written.is_absolute() else Path(tmp) / written
        report = _compare(model, written, imgsz, image_size, check_image)
        os.replace(written, out)
    layer = Path(weights).parent / "detector.yaml"
    written_layer = _write_layer(layer, Path(weights), out) if Path(weights).is_file() and layer.is_file() else None
    if written_layer is not None:
        report["layer"] = str(written_layer)
    return {"input_shape": list(shape), **report}


def _compare(model, onnx_path: Path, imgsz: int, image_size: tuple[int, int], image: np.ndarray | None) -> dict:
    """Boxes of ultralytics (the source model) and of ``yolo-onnx`` (the export) on one image must agree."""
    from mtmc.detectors import DETECTORS
    from mtmc.stages import FrameSet

    if image is None:  # a fixed textured image: an untrained or a trained model both find candidates on it
        image = np.random.default_rng(0).integers(0, 256, (image_size[1], image_size[0], 3), dtype=np.uint8)
    res = model.predict(image, imgsz=imgsz, conf=CHECK_CONF, iou=0.7, max_det=300, verbose=False)[0].boxes
    ref = res.xyxy.cpu().numpy()[np.argsort(-res.conf.cpu().numpy(), kind="stable")]
    det = DETECTORS.build("yolo-onnx", {"weights": str(onnx_path), "conf": CHECK_CONF, "iou": 0.7,
                                        "classes": sorted(int(c) for c in model.names)})
    got = det.detect(FrameSet(frame=1, time=0.0, cameras=["check"], images=[image]))[0]
    got_xyxy = xyxy(got)
    top = min(len(ref), len(got_xyxy), 20)  # the best-scored boxes; NMS may break far-down ties differently
    diff = float(np.abs(ref[:top] - got_xyxy[:top]).max()) if top else 0.0
    if abs(len(ref) - len(got_xyxy)) > max(2, len(ref) // 50) or diff > 1.0:
        raise DataError(f"the ONNX export disagrees with the source model on a test image: {len(ref)} vs "
                        f"{len(got_xyxy)} boxes, top boxes up to {diff:.2f} px apart", path=str(onnx_path))
    return {"boxes_ultralytics": int(len(ref)), "boxes_onnx": int(len(got_xyxy)), "max_box_diff_px": diff}


def _write_layer(train_layer: Path, weights: Path, onnx_path: Path) -> Path | None:
    """``mtmc detector train``'s config layer of ``weights``, pointed at the ONNX file (``yolo-onnx``, same
    thresholds); None when the layer next to the weights is not theirs."""
    import yaml

    try:
        layer = yaml.safe_load(train_layer.read_text()) or {}
        params = dict(layer["detector"]["params"])
        if Path(params["weights"]).resolve() != weights.resolve():
            return None
    except (yaml.YAMLError, KeyError, TypeError):
        return None  # somebody else's file of that name
    params.pop("imgsz", None)  # fixed in the ONNX file
    params["weights"] = str(onnx_path.resolve())
    layer["detector"] = {"name": "yolo-onnx", "params": params}
    target = onnx_path.with_suffix(".yaml")
    header = (f"# written by `mtmc detector export` from {train_layer}: the same operating point, run by onnxruntime\n"
              f"# use: mtmc track SCENE -c configs/lab.yaml -c {target}\n")
    write_text(target, header + yaml.safe_dump(layer, sort_keys=False))
    return target
