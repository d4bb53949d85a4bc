"""Offline clean-up of finished tracks: fill short gaps by linear interpolation.

A detector misses a person for a frame or two now and then; a tracker keeps the identity but outputs
nothing for those frames.  When latency does not matter, the missing boxes of a track are
interpolated between the frames around the gap (the standard post-processing of offline MOT).
"""

from __future__ import annotations

import numpy as np

from mtmc.boxes import concat

_INTERPOLATED = ("x", "y", "w", "h", "gx", "gy")


def interpolate_gaps(boxes: np.ndarray, max_gap: int) -> np.ndarray:
    """Add linearly interpolated boxes for gaps of at most ``max_gap`` frames within each (camera, id)."""
    if max_gap < 1 or len(boxes) < 2:
        return boxes
    order = np.lexsort((boxes["frame"], boxes["id"], boxes["camera"]))
    b = boxes[order]
    same_track = (b["camera"][1:] == b["camera"][:-1]) & (b["id"][1:] == b["id"][:-1])
    gap = b["frame"][1:] - b["frame"][:-1]
    starts = np.flatnonzero(same_track & (gap > 1) & (gap <= max_gap + 1))
    if len(starts) == 0:
        return boxes
    filled = []
    for i in starts:
        a, z = b[i], b[i + 1]
        steps = np.arange(1, int(z["frame"] - a["frame"]))
        t = steps / float(z["frame"] - a["frame"])
        new = np.repeat(a[None], len(steps))
        new["frame"] = a["frame"] + steps
        for name in _INTERPOLATED:
            new[name] = a[name] + (z[name] - a[name]) * t
        new["score"] = np.minimum(a["score"], z["score"])
        filled.append(new)
    out = concat([b] + filled)
    return out[np.lexsort((out["id"], out["frame"]))]
