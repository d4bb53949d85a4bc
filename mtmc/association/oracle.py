"""An oracle "ReID model" for upper-bound experiments: the embedding of a box is its ground-truth identity.

Each box is matched to the ground truth of its camera and frame (IoU >= 0.5); a matched box gets the
fixed random unit vector of that identity, an unmatched one (a false positive) a vector of its own.
It needs the boxes' ``frame`` and ``camera`` fields, which the pipeline sets before asking for
embeddings.  Selected with ``reid.model=oracle``; only meaningful on inputs with ground truth.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.recfunctions import repack_fields

from mtmc.boxes import xyxy
from mtmc.errors import DataError
from mtmc.stages import Embedder
from trackers.matching import iou_matrix


class OracleEmbedder(Embedder):
    """Perfect appearance: nearly orthogonal random vectors keyed by ground-truth identity."""

    needs_pixels = False

    def __init__(self, scene, dim: int = 128, seed: int = 0):
        from mtmc.io.mot import group_by_frame

        self.dim, self.seed = dim, seed
        self._codes: dict[int, np.ndarray] = {}
        self._gt = []
        for cam in scene.cameras:
            gt = scene.load_gt(cam.index)
            if gt is None:
                raise DataError(f"reid.model=oracle needs ground truth, and camera {cam.name!r} has none")
            # only what matching needs (frame, id, box): 48 of a box row's 80 bytes, kept for the whole run
            self._gt.append(group_by_frame(repack_fields(gt[["frame", "id", "x", "y", "w", "h"]])))

    def _vector(self, *key: int) -> np.ndarray:
        # Seeded by the key alone, not drawn from one stream: the same vector whichever process
        # (or Ray worker holding some of the cameras) asks, and in whatever order.
        v = np.random.default_rng(np.random.SeedSequence([self.seed, *key])).normal(size=self.dim)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def _code(self, identity: int) -> np.ndarray:
        if identity not in self._codes:
            self._codes[identity] = self._vector(0 if identity >= 0 else 2, abs(identity))
        return self._codes[identity]

    def embed(self, image, boxes: np.ndarray) -> np.ndarray:
        out = np.empty((len(boxes), self.dim), dtype=np.float32)
        for i, box in enumerate(boxes):
            cam, frame = int(box["camera"]), int(box["frame"])
            gt = self._gt[cam].get(frame)
            identity = None
            if gt is not None and len(gt):
                iou = iou_matrix(xyxy(box[None]), xyxy(gt))[0]
                if iou.max() >= 0.5:
                    identity = int(gt["id"][int(iou.argmax())])
            # a false positive looks like nobody else (its own vector, keyed by where it was asked for)
            out[i] = self._code(identity) if identity is not None else self._vector(1, cam, frame, i)
        return out

    def embed_crops(self, crops) -> np.ndarray:
        raise DataError("reid.model=oracle embeds boxes of a scene with ground truth, not loose crops")
