"""Vector helpers shared by ReID, tracking, association and evaluation."""

from __future__ import annotations

import numpy as np


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Scale vectors (along the last axis) to unit length; all-zero vectors stay zero.

    Floating inputs keep their dtype (float32 embeddings stay float32); others become float64.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, eps).astype(x.dtype, copy=False)
