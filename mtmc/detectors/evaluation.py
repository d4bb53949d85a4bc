"""``evaluate_detector``: run a configured detector over a scene and score it against the scene's gt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mtmc.boxes import concat
from mtmc.errors import DataError


def evaluate_detector(scene_path: str | Path, name: str, params: dict[str, Any], conf: float,
                      every: int = 1, min_visibility: float = 0.0, progress: bool = False) -> dict[str, Any]:
    """Precision / recall at ``conf`` and AP at IoU 0.5 of detector ``name`` on every ``every``-th frame.

    Gt boxes less visible than ``min_visibility`` are ignored (neither missed nor false positives).
    """
    from eval.detection import detection_metrics
    from mtmc.detectors import DETECTORS
    from mtmc.io.reader import SyncReader
    from mtmc.io.scene import open_input

    scene = open_input(scene_path)
    gts = [scene.load_gt(c) for c in range(len(scene.cameras))]
    if all(g is None for g in gts):
        raise DataError("no ground truth (gt/gt.txt) for any camera: nothing to evaluate against", path=scene_path)
    detector = DETECTORS.build(name, params, scene=scene)
    frames = SyncReader(scene, decode=detector.needs_pixels)  # the Detector Protocol states it
    it = frames
    if progress:
        from tqdm import tqdm

        it = tqdm(frames, desc="detect", unit="frame")
    dets, used = [], []
    for fs in it:
        if (fs.frame - 1) % every:
            continue
        used.append(fs.frame)
        dets.extend(d for d in detector.detect(fs) if d["camera"].size and gts[int(d["camera"][0])] is not None)
    gt = concat([g for g in gts if g is not None])
    gt = gt[np.isin(gt["frame"], used)]
    det = concat(dets)
    result = detection_metrics(gt, det, iou=0.5, conf=conf, ignore=gt["vis"] < min_visibility)
    result.update(scene=str(scene_path), detector=name, frames=len(used), min_visibility=min_visibility)
    return result
