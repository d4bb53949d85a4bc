"""``mot-file``: public detections from each camera's MOTChallenge ``det/det.txt``.

This is the public-detection protocol: every tracker sees the same detections, so
tracking results are comparable.  Files are read and grouped by frame once; each
``detect`` call is then a dictionary lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mtmc.boxes import make_boxes
from mtmc.detectors import DETECTORS
from mtmc.detectors.common import PERSON_CLS, ScheduleParams, camera_indices
from mtmc.errors import DataError
from mtmc.io.mot import group_by_frame, read_mot
from mtmc.stages import FrameSet

if TYPE_CHECKING:
    from mtmc.io.scene import Scene


@dataclass
class MotFileParams(ScheduleParams):
    # drop detections scoring below this; None keeps all (MOT15 DPM/ACF scores are not in [0, 1])
    min_score: float | None = None


class MotFileDetector:
    """Looks up the public detections of each camera for the requested frame."""

    needs_pixels = False  # read by mtmc.pipeline: when False the reader skips decoding frames

    def __init__(self, params: MotFileParams, scene: Scene | None):
        if scene is None or not scene.cameras:
            raise DataError("detector 'mot-file' needs an input scene with cameras that have det/det.txt")
        self.scene = scene
        self.by_camera: list[dict[int, np.ndarray]] = []
        for index, cam in enumerate(scene.cameras):
            path = cam.det_path
            if path is None or not Path(path).is_file():
                where = str(path) if path is not None else f"{cam.name}/det/det.txt"
                raise DataError(
                    f"camera {cam.name!r}: public detections file {where} not found (mot-file needs it)"
                )
            dets = read_mot(path, kind="det")
            if params.min_score is not None:
                dets = dets[dets["score"] >= params.min_score]
            dets = dets.copy()
            dets["camera"], dets["id"], dets["cls"] = index, -1, PERSON_CLS
            self.by_camera.append(group_by_frame(dets))

    def detect(self, frames: FrameSet) -> list[np.ndarray]:
        out = []
        for cam in camera_indices(frames, self.scene):
            found = self.by_camera[cam].get(int(frames.frame))
            out.append(found.copy() if found is not None else make_boxes(0))  # copy: callers may edit
        return out


@DETECTORS.register("mot-file", params=MotFileParams)
def build_mot_file(params: MotFileParams, scene: Scene | None = None) -> MotFileDetector:
    return MotFileDetector(params, scene)
