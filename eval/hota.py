"""HOTA / DetA / AssA through trackeval, fed in memory (no files) from matched frames.

trackeval is an optional extra (``pip install mtmc[hota]``): :func:`hota_metric` returns ``None``
with a reason when it cannot be imported, and callers skip HOTA instead of failing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from eval.frames import Frame


def hota_metric() -> tuple[Any | None, str | None]:
    """(trackeval HOTA metric object, None) or (None, why HOTA is unavailable)."""
    try:
        from trackeval.metrics import HOTA  # eval/__init__ installed the NumPy 2 aliases first
    except Exception as err:  # ImportError, or an incompatible trackeval failing at import time
        return None, f"HOTA skipped: trackeval is unavailable ({type(err).__name__}: {err}); pip install mtmc[hota]"
    return HOTA(), None


def sequence_data(frames: Sequence[Frame], gt_ids: np.ndarray, pred_ids: np.ndarray) -> dict[str, Any]:
    """The dict ``trackeval.metrics.HOTA.eval_sequence`` expects (what its dataset classes produce).

    Ids are relabelled to 0..K-1 (trackeval indexes arrays with them); similarity is IoU in [0, 1].
    """
    gt_uniq, gt_dense = np.unique(gt_ids, return_inverse=True)
    pr_uniq, pr_dense = np.unique(pred_ids, return_inverse=True)
    return {
        "num_timesteps": len(frames),
        "num_gt_ids": len(gt_uniq),
        "num_tracker_ids": len(pr_uniq),
        "num_gt_dets": int(sum(len(f.gt) for f in frames)),
        "num_tracker_dets": int(sum(len(f.pred) for f in frames)),
        "gt_ids": [gt_dense[f.gt].astype(np.int64) for f in frames],
        "tracker_ids": [pr_dense[f.pred].astype(np.int64) for f in frames],
        "similarity_scores": [np.clip(1.0 - f.dist, 0.0, 1.0) for f in frames],
    }


def summarize(res: dict[str, Any]) -> dict[str, float]:
    """trackeval's per-alpha arrays -> scalar fractions (mean over the IoU thresholds alpha)."""
    return {
        "hota": float(np.mean(res["HOTA"])),
        "deta": float(np.mean(res["DetA"])),
        "assa": float(np.mean(res["AssA"])),
        "loca": float(np.mean(res["LocA"])),
    }
