"""Training a person detector on scenes with ground truth: YOLO dataset export and ultralytics training.

:func:`export_yolo_dataset` turns scene folders (per-camera MOT gt) into an ultralytics
dataset: ``images/{train,val}/*.jpg``, ``labels/{train,val}/*.txt`` (``0 cx cy w h``,
normalised), ``data.yaml`` (class 0 = person) and ``export.json`` (what was exported).
The split holds out whole cameras (``camera``: the last cameras of each scene) or the
end of each scene (``time``), so validation images are never near-copies of training
frames.  :func:`train_detector` runs ``YOLO(model).train`` into ``OUT/run`` and resumes
from ``OUT/run/weights/last.pt`` when a run was interrupted; :func:`finish_training`
puts ``best.pt``, ``metrics.json`` and ``detector.yaml`` (a config layer for ``mtmc track``: these
weights, and tracker thresholds at the validation split's best-F1 score) next to each other in ``OUT``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mtmc.atomic import atomic_path, staged_outputs, write_json, write_text
from mtmc.boxes import concat, from_xyxy, xyxy
from mtmc.errors import ConfigError, DataError

SPLITS = ("train", "val")
LABEL_FORMAT = "{:.12g}"  # enough digits that labels map back to the gt pixels to float precision


def yolo_labels(boxes: np.ndarray, image_size: tuple[int, int]) -> str:
    """``0 cx cy w h`` lines (normalised by the image ``(w, h)``) of a frame's boxes."""
    w, h = image_size
    b = xyxy(boxes)
    rows = np.stack([(b[:, 0] + b[:, 2]) / 2 / w, (b[:, 1] + b[:, 3]) / 2 / h,
                     (b[:, 2] - b[:, 0]) / w, (b[:, 3] - b[:, 1]) / h], axis=1)
    return "".join("0 " + " ".join(LABEL_FORMAT.format(v) for v in row) + "\n" for row in rows.tolist())


def read_yolo_labels(path: Path, image_size: tuple[int, int], **fields: Any) -> np.ndarray:
    """Pixel boxes of a YOLO label file (the inverse of :func:`yolo_labels`); extra fields by keyword."""
    w, h = image_size
    text = Path(path).read_text() if Path(path).is_file() else ""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if any(len(r) != 5 for r in rows):
        raise DataError("expected YOLO label lines 'class cx cy w h'", path=path)
    arr = np.array([[float(v) for v in r[1:]] for r in rows], float).reshape(-1, 4)
    cx, cy, bw, bh = arr[:, 0] * w, arr[:, 1] * h, arr[:, 2] * w, arr[:, 3] * h
    return from_xyxy(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1), **fields)


def _val_cameras(n: int, split: str, val_fraction: float, path: Path) -> set[int]:
    if split == "time":
        return set()
    if n < 2:
        raise ConfigError(f"split by camera needs at least 2 cameras with gt, the scene has {n} "
                          "(use --split time)", path=path)
    return set(range(n - max(1, min(n - 1, int(round(n * val_fraction)))), n))


def export_yolo_dataset(scenes: list[str | Path], out_dir: str | Path, split: str = "camera",
                        val_fraction: float = 0.25, every: int = 1, progress: bool = False) -> Path:
    """Write the YOLO dataset of ``scenes`` into ``out_dir`` (atomically); returns its ``data.yaml``.

    ``every`` keeps one frame in ``every`` (neighbouring frames are near-duplicates).
    Frames without people are kept as background images (empty label files).
    """
    from mtmc.io.reader import SyncReader
    from mtmc.io.scene import open_input

    if split not in ("camera", "time"):
        raise ConfigError(f"split: expected 'camera' or 'time', got {split!r}")
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val fraction: expected a number in (0, 1), got {val_fraction}")
    if every < 1:
        raise ConfigError(f"every: expected a positive number of frames, got {every}")
    if not scenes:
        raise ConfigError("give at least one scene folder with ground truth")
    out_dir = Path(out_dir).resolve()
    counts = {s: {"images": 0, "boxes": 0} for s in SPLITS}
    with staged_outputs(out_dir.parent) as stage_root:
        stage = stage_root / out_dir.name
        for s in SPLITS:
            (stage / "images" / s).mkdir(parents=True)
            (stage / "labels" / s).mkdir(parents=True)
        for si, root in enumerate(scenes):
            scene = open_input(root)
            gts = {c: scene.load_gt(c) for c in range(len(scene.cameras))}
            gts = {c: g for c, g in gts.items() if g is not None}
            if not gts:
                raise DataError("no ground truth (gt/gt.txt) for any camera: nothing to train on", path=root)
            val_cams = _val_cameras(len(gts), split, val_fraction, Path(root))
            val_cams = {sorted(gts)[k] for k in val_cams}
            val_from = int(np.floor(scene.num_frames * (1 - val_fraction))) + 1 if split == "time" else None
            by_frame = {c: _by_frame(g) for c, g in gts.items()}
            frames = SyncReader(scene, decode=True)
            it = frames
            if progress:
                from tqdm import tqdm

                it = tqdm(frames, desc=f"export {Path(root).name}", unit="frame")
            for fs in it:
                if (fs.frame - 1) % every:
                    continue
                for c, image in enumerate(fs.images):
                    if c not in gts or image is None:
                        continue
                    s = "val" if c in val_cams or (val_from is not None and fs.frame >= val_from) else "train"
                    stem = f"s{si}_{scene.cameras[c].name}_{fs.frame:06d}"
                    cv2.imwrite(str(stage / "images" / s / f"{stem}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
                    boxes = by_frame[c].get(fs.frame, from_xyxy(np.zeros((0, 4))))
                    size = (image.shape[1], image.shape[0])
                    (stage / "labels" / s / f"{stem}.txt").write_text(yolo_labels(boxes, size))
                    counts[s]["images"] += 1
                    counts[s]["boxes"] += len(boxes)
        if not counts["train"]["images"] or not counts["val"]["images"]:
            raise DataError(f"the export has {counts['train']['images']} training and {counts['val']['images']} "
                            "validation images: both splits need frames (more frames, or another split)",
                            path=scenes[0])
        (stage / "data.yaml").write_text(
            f"# written by mtmc detector train\npath: {out_dir}\ntrain: images/train\nval: images/val\n"
            "names:\n  0: person\n")
        meta = {"scenes": [str(Path(s).resolve()) for s in scenes], "split": split, "val_fraction": val_fraction,
                "every": every, "splits": counts}
        (stage / "export.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out_dir / "data.yaml"


def _by_frame(boxes: np.ndarray) -> dict[int, np.ndarray]:
    order = np.argsort(boxes["frame"], kind="stable")
    b = boxes[order]
    starts = np.flatnonzero(np.r_[True, np.diff(b["frame"]) != 0])
    return {int(b["frame"][i]): part for i, part in zip(starts, np.split(b, starts[1:]))}


def dataset_matches(out_dir: Path, scenes: list[str | Path], split: str, val_fraction: float, every: int) -> bool:
    """True when ``out_dir`` already holds the export of these scenes with these options (resume)."""
    meta_path = Path(out_dir) / "export.json"
    if not meta_path.is_file() or not (Path(out_dir) / "data.yaml").is_file():
        return False
    meta = json.loads(meta_path.read_text())
    return (meta.get("scenes") == [str(Path(s).resolve()) for s in scenes] and meta.get("split") == split
            and meta.get("val_fraction") == val_fraction and meta.get("every") == every)


def _unfinished(last: Path) -> bool:
    """A ``last.pt`` that ultralytics can resume (a finished run stores epoch -1)."""
    import torch

    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    return int(ckpt.get("epoch", -1)) >= 0


def train_detector(data_yaml: Path, out_dir: str | Path, model: str = "yolov8n.yaml", epochs: int = 30,
                   imgsz: int = 320, batch: int = 16, workers: int = 0, device: str = "cpu", seed: int = 0,
                   hours: float | None = None, **train_args: Any) -> Path:
    """Train (or resume) into ``out_dir/run``; returns the run's ``best.pt``.

    ``model`` is a model YAML (training from scratch) or a ``.pt`` to fine-tune; ``hours`` caps
    the wall time (ultralytics ``time``, which then sets the schedule instead of ``epochs``).
    """
    from mtmc.detectors.ultralytics_backend import load_model

    out_dir = Path(out_dir).resolve()
    run = out_dir / "run"
    last = run / "weights" / "last.pt"
    if last.is_file() and _unfinished(last):
        yolo = load_model(str(last))
        yolo.train(resume=True, workers=workers, device=device)  # every other setting comes from last.pt
    elif last.is_file():
        pass  # that run has finished: its best.pt stands
    else:
        shutil.rmtree(run, ignore_errors=True)  # a run killed before its first checkpoint
        yolo = load_model(model)
        args = dict(data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch, workers=workers, device=device,
                    seed=seed, project=str(out_dir), name="run", exist_ok=True, plots=False, amp=False,
                    pretrained=str(model).endswith(".pt"))
        if hours:
            args["time"] = hours
        yolo.train(**{**args, **train_args})
    best = run / "weights" / "best.pt"
    if not best.is_file():
        raise DataError("training wrote no best.pt (see the ultralytics output above)", path=run)
    return best


def predict_images(weights: Path, images: list[Path], imgsz: int, conf: float = 0.001,
                   device: str = "cpu", nms_iou: float = 0.7) -> list[np.ndarray]:
    """Detections (boxes, frame = index + 1) of ``weights`` on each image, through the ultralytics backend."""
    from mtmc.detectors import DETECTORS
    from mtmc.stages import FrameSet

    det = DETECTORS.build("ultralytics", {"weights": str(weights), "conf": conf, "imgsz": imgsz,
                                          "device": device, "iou": nms_iou})
    out = []
    for k, path in enumerate(images):
        image = cv2.imread(str(path))
        fs = FrameSet(frame=k + 1, time=0.0, cameras=["val"], images=[image])
        out.append(det.detect(fs)[0])
    return out


def validation_metrics(weights: Path, dataset: Path, imgsz: int, conf: float, device: str = "cpu",
                       nms_iou: float = 0.7) -> dict[str, Any]:
    """Precision / recall at ``conf``, AP at IoU 0.5 and the best-F1 point of ``weights`` on the val images."""
    from eval.detection import detection_metrics

    images = sorted((Path(dataset) / "images" / "val").glob("*.jpg"))
    dets = predict_images(weights, images, imgsz, device=device, nms_iou=nms_iou)
    gts = []
    for k, path in enumerate(images):
        h, w = cv2.imread(str(path)).shape[:2]
        gts.append(read_yolo_labels(Path(dataset) / "labels" / "val" / f"{path.stem}.txt", (w, h), frame=k + 1))
    return detection_metrics(concat(gts), concat(dets), iou=0.5, conf=conf)


def finish_training(best: Path, out_dir: str | Path, dataset: Path, imgsz: int, conf: float,
                    device: str = "cpu", nms_iou: float = 0.5) -> dict[str, Any]:
    """Copy ``best.pt`` into ``out_dir``; write ``metrics.json`` and ``detector.yaml`` beside it (atomically)."""
    import torch

    out_dir = Path(out_dir)
    with atomic_path(out_dir / "best.pt") as tmp:
        shutil.copyfile(best, tmp)
    ckpt = torch.load(best, map_location="cpu", weights_only=False)
    ours = validation_metrics(out_dir / "best.pt", dataset, imgsz, conf, device, nms_iou)
    trained = {k: float(v) for k, v in (ckpt.get("train_metrics") or {}).items() if isinstance(v, (int, float))}
    metrics = {
        "weights": str(out_dir / "best.pt"),
        "imgsz": imgsz,
        "nms_iou": nms_iou,
        "val": {"mAP50": ours["ap"], "precision": ours["precision"], "recall": ours["recall"], "conf": conf,
                "gt": ours["gt"], "detections": ours["detections"], "best_f1": ours["best_f1"]},
        "ultralytics_val": {k.replace("metrics/", ""): v for k, v in trained.items() if k.startswith("metrics/")},
        "dataset": str(dataset),
    }
    write_json(out_dir / "metrics.json", metrics)
    write_track_layer(out_dir / "detector.yaml", out_dir / "best.pt", imgsz, nms_iou, ours["best_f1"])
    return metrics


NEW_TRACK_MARGIN = 0.1  # BoT-SORT / ByteTrack start tracks this far above track_thresh (0.6 / 0.7 by default)


def write_track_layer(path: Path, weights: Path, imgsz: int, nms_iou: float, best_f1: dict | None) -> None:
    """A config layer that runs ``weights`` in ``mtmc track`` at the operating point found on the val split.

    A trained detector's scores are its own: an under-trained one scores true people below the
    trackers' default ``track_thresh`` (0.6), which then treats most of them as low-score boxes.
    The layer sets ``track_thresh`` to the score of the best F1 on the validation split.
    """
    import yaml

    layer: dict[str, Any] = {"detector": {"name": "ultralytics", "params": {
        "weights": str(Path(weights).resolve()), "imgsz": imgsz, "iou": nms_iou}}}
    note = "no detection on the validation split: tracker thresholds left as they are"
    if best_f1 is not None:
        high = round(float(best_f1["conf"]), 3)
        layer["tracker"] = {"params": {"track_thresh": high,
                                       "new_track_thresh": round(min(high + NEW_TRACK_MARGIN, 1.0), 3)}}
        note = (f"track_thresh = the best-F1 score on the validation split (precision {best_f1['precision']:.3f}, "
                f"recall {best_f1['recall']:.3f}); names of BoT-SORT / ByteTrack (OC-SORT: det_thresh)")
    header = ("# written by `mtmc detector train`: its weights at the operating point of its validation split\n"
              f"# use: mtmc track SCENE -c configs/lab.yaml -c {path}\n# {note}\n")
    write_text(path, header + yaml.safe_dump(layer, sort_keys=False))
