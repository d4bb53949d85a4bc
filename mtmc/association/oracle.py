"""An oracle "ReID model" for upper-bound experiments: the embedding of a box is its ground-truth identity.

Each box is matched to the ground truth of its camera and frame (IoU >= 0.5); a matched box gets the
fixed random unit vector of that identity, an unmatched one (a false positive) a vector of its own.
It needs the boxes' ``frame`` and ``camera`` fields, which the pipeline sets before asking for
embeddings.  Selected with ``reid.model=oracle``; only meaningful on inputs with ground truth.
"""

from __future__ import annotations

import numpy as np

from mtmc.boxes import xyxy
from mtmc.errors import DataError


class OracleEmbedder:
    """Perfect appearance: nearly orthogonal random vectors keyed by ground-truth identity."""

    needs_pixels = False

    def __init__(self, scene, dim: int = 128, seed: int = 0):
        from mtmc.io.mot import group_by_frame

        self.dim = dim
        self._rng = np.random.default_rng(seed)
        self._codes: dict[int, np.ndarray] = {}
        self._gt = []
        for cam in scene.cameras:
            gt = scene.load_gt(cam.index)
            if gt is None:
                raise DataError(f"reid.model=oracle needs ground truth, and camera {cam.name!r} has none")
            self._gt.append(group_by_frame(gt))

    def _code(self, key: int) -> np.ndarray:
        if key not in self._codes:
            v = self._rng.normal(size=self.dim).astype(np.float32)
            self._codes[key] = v / np.linalg.norm(v)
        return self._codes[key]

    def embed(self, image, boxes: np.ndarray) -> np.ndarray:
        out = np.empty((len(boxes), self.dim), dtype=np.float32)
        for i, box in enumerate(boxes):
            gt = self._gt[int(box["camera"])].get(int(box["frame"]))
            key = -(10**9) - self._rng.integers(1 << 30)  # a false positive looks like nobody else
            if gt is not None and len(gt):
                a, g = xyxy(box[None])[0], xyxy(gt)
                iw = np.clip(np.minimum(a[2], g[:, 2]) - np.maximum(a[0], g[:, 0]), 0, None)
                ih = np.clip(np.minimum(a[3], g[:, 3]) - np.maximum(a[1], g[:, 1]), 0, None)
                inter = iw * ih
                iou = inter / ((a[2] - a[0]) * (a[3] - a[1]) + (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1]) - inter)
                if iou.max() >= 0.5:
                    key = int(gt["id"][int(iou.argmax())])
            out[i] = self._code(key)
        return out

    def embed_crops(self, crops) -> np.ndarray:
        raise DataError("reid.model=oracle embeds boxes of a scene with ground truth, not loose crops")
