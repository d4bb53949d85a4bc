"""Pieces shared by the detector backends: output boxes, NMS, camera lookup, weight checks.

Class convention: every backend reports ``cls = COCO class index + 1``, so a person
(COCO class 0) is ``cls = 1``, the MOTChallenge "pedestrian" class.  Public-detection
and simulated backends only produce people and set ``cls = 1`` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mtmc.boxes import from_xyxy
from mtmc.errors import ConfigError, DataError
from mtmc.stages import FrameSet

if TYPE_CHECKING:
    from mtmc.io.scene import Scene

PERSON_CLS = 1  # cls value of a person in every detector's output (COCO 0 + 1 = MOT17 pedestrian)
COCO_PERSON = 0  # class index of a person in COCO-trained models


@dataclass
class ScheduleParams:
    """When a camera is detected on (every detector's params inherit these; the camera stage reads them).

    Between detections the camera's tracker only predicts (Kalman), so ``every_n`` divides the detection
    cost by N; ``round_robin`` staggers the cameras (camera c on frames where ``(t + c) % every_n == 0``,
    t = frame - 1) so every time step carries about the same detection load."""

    every_n: int = 1  # detect on every N-th frame of a camera (1: every frame)
    round_robin: bool = False  # stagger the cameras instead of detecting all of them on the same frames

    def validate(self, key_path: str = "") -> None:
        if self.every_n < 1:
            prefix = f"{key_path}." if key_path else ""
            raise ConfigError(f"{prefix}every_n: expected a positive integer, got {self.every_n}")


def detects_on(schedule: ScheduleParams, frame: int, camera: int) -> bool:
    """Whether ``camera`` (scene index) is detected on ``frame`` (1-based) under ``schedule``."""
    offset = camera if schedule.round_robin else 0
    return (frame - 1 + offset) % schedule.every_n == 0


def detections(
    xyxy: np.ndarray,
    scores: np.ndarray,
    *,
    frame: int,
    camera: int,
    cls: np.ndarray | int = PERSON_CLS,
    image_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """BOX array of detections; clipped to ``image_size`` (w, h) when given, empty boxes dropped."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4).copy()
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    cls_arr = np.broadcast_to(np.asarray(cls, dtype=np.int32), scores.shape)
    if image_size is not None:
        w, h = image_size
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
    keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    if not keep.all():
        xyxy, scores, cls_arr = xyxy[keep], scores[keep], cls_arr[keep]
    return from_xyxy(xyxy, score=scores, frame=frame, camera=camera, id=-1, cls=cls_arr)


def nms(xyxy: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float, max_det: int) -> np.ndarray:
    """Indices kept by class-aware non-maximum suppression, best first, at most ``max_det``."""
    if len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    import cv2  # OpenCV's NMS: no torch import needed on the onnxruntime path

    tlwh = np.asarray(xyxy, dtype=np.float64).copy()
    tlwh[:, 2:] -= tlwh[:, :2]
    keep = np.asarray(
        cv2.dnn.NMSBoxesBatched(
            tlwh.tolist(), np.asarray(scores, float).tolist(), np.asarray(classes).tolist(), -1.0, iou
        ),
        dtype=np.int64,
    ).reshape(-1)
    keep = keep[np.argsort(-np.asarray(scores)[keep], kind="stable")]
    return keep[:max_det]


def camera_indices(frames: FrameSet, scene: Scene | None) -> list[int]:
    """Scene index of each camera in ``frames`` (its position when there is no scene)."""
    if scene is None or not scene.cameras:
        return list(range(len(frames.cameras)))
    by_name = {cam.name: i for i, cam in enumerate(scene.cameras)}
    out = []
    for name in frames.cameras:
        if name not in by_name:
            raise DataError(
                f"frame {frames.frame}: camera {name!r} is not in the scene ({', '.join(by_name)})"
            )
        out.append(by_name[name])
    return out


def frame_images(frames: FrameSet, detector: str) -> list[np.ndarray]:
    """The decoded BGR images of a FrameSet, or a DataError naming the camera without one."""
    if len(frames.images) != len(frames.cameras):
        raise DataError(
            f"frame {frames.frame}: detector {detector!r} got {len(frames.images)} images "
            f"for {len(frames.cameras)} cameras"
        )
    for name, image in zip(frames.cameras, frames.images):
        if image is None:
            raise DataError(
                f"frame {frames.frame}: detector {detector!r} needs decoded images; camera {name!r} has none"
            )
        if image.ndim != 3 or image.shape[2] != 3:
            raise DataError(
                f"frame {frames.frame}: camera {name!r}: expected a BGR HxWx3 image, got shape {image.shape}"
            )
    return list(frames.images)  # type: ignore[arg-type]


def coco_classes_to_cls(classes: np.ndarray) -> np.ndarray:
    """COCO class indices -> the project's ``cls`` values (index + 1; person = 1)."""
    return np.asarray(classes, dtype=np.int32) + 1


def require_file(path: str | Path, key: str, hint: str) -> Path:
    """``path`` as a Path, or a one-line ConfigError saying it is missing and how to get it."""
    if not str(path):
        raise ConfigError(f"{key}: no weights file given; {hint}")
    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigError(f"{key}: weights file {str(p)!r} not found; {hint}")
    return p


def check_range(key_path: str, name: str, value: float, lo: float, hi: float) -> None:
    """ConfigError unless ``lo <= value <= hi``."""
    if not lo <= value <= hi:
        prefix = f"{key_path}." if key_path else ""
        raise ConfigError(f"{prefix}{name}: expected a value in [{lo}, {hi}], got {value}")
