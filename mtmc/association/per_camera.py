"""The ``none`` association: no cross-camera identities, only per-camera ids made unique."""

from __future__ import annotations

import numpy as np

from mtmc.association import ASSOCIATORS
from mtmc.boxes import make_boxes, own_ground_points

CAMERA_ID_STRIDE = 100_000  # camera c's local id i becomes c * stride + i in multi-camera scenes


@ASSOCIATORS.register("none")
class PerCameraIds:
    """Keeps each camera's tracker ids; in multi-camera scenes they are offset per camera."""

    latency = 0  # ids are final at once

    def __init__(self, scene=None, has_reid: bool = False):
        self.offset = CAMERA_ID_STRIDE if scene is not None and len(scene.cameras) > 1 else 0
        self.n_cameras = len(scene.cameras) if scene is not None else 0

    def wants_embeddings(self, camera: int, tracks: np.ndarray) -> np.ndarray:
        return np.zeros(len(tracks), dtype=bool)

    def update(self, frame: int, tracks: list[np.ndarray], embeddings: list) -> list[np.ndarray]:
        """Ids are final at once (no latency)."""
        self.n_cameras = max(self.n_cameras, len(tracks))
        out = []
        for cam, boxes in enumerate(tracks):
            boxes = boxes.copy()
            boxes["id"] = self.relabel_ids(cam, boxes)
            out.append(boxes)
        return out

    def relabel_ids(self, camera: int, boxes: np.ndarray) -> np.ndarray:
        return boxes["id"] + camera * self.offset

    def flush(self) -> list[np.ndarray]:
        return [make_boxes(0) for _ in range(self.n_cameras)]

    def finalize(self) -> None:
        return None

    def relabel(self, camera: int, boxes: np.ndarray) -> np.ndarray:
        """Final global ids for a camera's boxes carrying tracker (local) ids."""
        return self.relabel_ids(camera, boxes)

    def relocate(self, camera: int, boxes: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """The boxes' own ground points (nothing to refine)."""
        return own_ground_points(boxes)
