"""The one data type that travels through the pipeline: a structured numpy array of boxes.

Ground truth, detections, per-camera tracks and global tracks are all arrays of
:data:`BOX_DTYPE`.  Fields that a stage does not know stay at their defaults
(``id = -1``, ``gx = gy = nan`` ...).  Boxes are top-left / width / height in
pixels, as in MOTChallenge files; frames are 1-based like MOTChallenge.

>>> b = make_boxes(2)
>>> b["x"], b["w"] = [10, 50], [20, 30]
>>> xyxy(b).shape
(2, 4)
"""

from __future__ import annotations

import numpy as np

BOX_DTYPE = np.dtype(
    [
        ("frame", np.int64),  # 1-based frame number
        ("camera", np.int32),  # index of the camera in the scene (0-based); 0 for single-camera input
        ("id", np.int64),  # track / identity id; -1 when unknown (raw detections)
        ("x", np.float64),  # top-left x, pixels
        ("y", np.float64),  # top-left y, pixels
        ("w", np.float64),  # width, pixels
        ("h", np.float64),  # height, pixels
        ("score", np.float32),  # detection confidence, 1 for ground truth
        ("cls", np.int32),  # class (MOT17: 1 = pedestrian); -1 when unknown
        ("vis", np.float32),  # visibility ratio in [0, 1]; 1 when unknown
        ("gx", np.float64),  # ground-plane x (world units, metres); nan when unknown
        ("gy", np.float64),  # ground-plane y; nan when unknown
    ]
)

_DEFAULTS = {"frame": 0, "camera": 0, "id": -1, "score": 1.0, "cls": -1, "vis": 1.0, "gx": np.nan, "gy": np.nan}


def make_boxes(n: int = 0) -> np.ndarray:
    """Return ``n`` boxes with every field at its default value."""
    out = np.zeros(n, dtype=BOX_DTYPE)
    for name, value in _DEFAULTS.items():
        out[name] = value
    return out


def from_xyxy(xyxy_arr: np.ndarray, score: np.ndarray | None = None, **fields) -> np.ndarray:
    """Build boxes from an (N, 4) array of x1, y1, x2, y2; extra fields by keyword."""
    xyxy_arr = np.asarray(xyxy_arr, dtype=np.float64).reshape(-1, 4)
    out = make_boxes(len(xyxy_arr))
    out["x"], out["y"] = xyxy_arr[:, 0], xyxy_arr[:, 1]
    out["w"], out["h"] = xyxy_arr[:, 2] - xyxy_arr[:, 0], xyxy_arr[:, 3] - xyxy_arr[:, 1]
    if score is not None:
        out["score"] = score
    for name, value in fields.items():
        out[name] = value
    return out


def from_tlwh(tlwh: np.ndarray, score: np.ndarray | None = None, **fields) -> np.ndarray:
    """Build boxes from an (N, 4) array of x, y, w, h; extra fields by keyword."""
    tlwh = np.asarray(tlwh, dtype=np.float64).reshape(-1, 4)
    xy = tlwh.copy()
    xy[:, 2:] += xy[:, :2]
    return from_xyxy(xy, score=score, **fields)


def xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) float64 array of x1, y1, x2, y2."""
    return np.stack([boxes["x"], boxes["y"], boxes["x"] + boxes["w"], boxes["y"] + boxes["h"]], axis=1).astype(
        np.float64
    ).reshape(-1, 4)


def tlwh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) float64 array of x, y, w, h."""
    return np.stack([boxes["x"], boxes["y"], boxes["w"], boxes["h"]], axis=1).astype(np.float64).reshape(-1, 4)


def foot_points(boxes: np.ndarray) -> np.ndarray:
    """(N, 2) bottom-centre points (where a standing person touches the ground)."""
    return np.stack([boxes["x"] + boxes["w"] / 2.0, boxes["y"] + boxes["h"]], axis=1).reshape(-1, 2)


def own_ground_points(boxes: np.ndarray) -> np.ndarray:
    """(N, 2) ground points (gx, gy) of the boxes, as float64."""
    return np.stack([boxes["gx"], boxes["gy"]], axis=1).astype(np.float64).reshape(-1, 2)


def concat(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate box arrays (an empty list gives an empty array)."""
    return np.concatenate(parts) if parts else make_boxes(0)


class BoxLog:
    """Boxes of a whole run, appended a frame at a time and kept as a few large arrays.

    A long run appends tens of thousands of tiny arrays; each costs more in object overhead than its
    rows and they fragment the heap, so every ``chunk`` appends are joined into one array.
    """

    def __init__(self, chunk: int = 256):
        self.chunk = chunk
        self._joined: list[np.ndarray] = []
        self._recent: list[np.ndarray] = []

    def append(self, boxes: np.ndarray) -> None:
        if len(boxes):
            self._recent.append(boxes)
        if len(self._recent) >= self.chunk:
            self._joined.append(concat(self._recent))
            self._recent = []

    def take(self) -> np.ndarray:
        """Every box in the order appended; the log is empty afterwards (its arrays are released)."""
        parts, self._joined, self._recent = self._joined + self._recent, [], []
        return concat(parts)
