"""Constant-velocity Kalman filters for boxes.

Two state layouts are used by the trackers:

* :class:`SortKalman` -- SORT / OC-SORT's 7-dim state ``[cx, cy, s, r, vcx, vcy, vs]`` (``s`` = area,
  ``r`` = aspect ratio w/h, constant), a ``filterpy`` filter per track with SORT's exact noise settings.
  OC-SORT's observation-centric re-update (ORU) is built on it (:meth:`SortKalman.freeze` / ``reupdate``).
* :class:`BatchKalman` -- ByteTrack (``"xyah"``: centre, aspect, height) and BoT-SORT (``"xywh"``) 8-dim
  states whose noise scales with the box size.  The arithmetic is filterpy's (``filterpy.kalman.predict``
  / ``update`` equations) but vectorised over all tracks at once, because per-track filter objects cost
  ~50 us each per frame in Python and the trackers must stay under 1 ms a frame.
"""

from __future__ import annotations

import copy
import math
from typing import Literal

import numpy as np
from filterpy.kalman import KalmanFilter


def constant_velocity_matrix(ndim: int, nvel: int | None = None, dt: float = 1.0) -> np.ndarray:
    """Transition matrix of ``ndim`` positions of which the first ``nvel`` have a velocity."""
    nvel = ndim if nvel is None else nvel
    f = np.eye(ndim + nvel)
    f[np.arange(nvel), ndim + np.arange(nvel)] = dt
    return f


# ---------------------------------------------------------------------------------------------
# SORT state [cx, cy, s, r] (+ velocities of cx, cy, s)
# ---------------------------------------------------------------------------------------------


def xyxy_to_xysr(b: np.ndarray) -> np.ndarray:
    """(..., 4) x1, y1, x2, y2 -> (..., 4) centre x, centre y, area, aspect w/h."""
    b = np.asarray(b, dtype=np.float64)
    if b.ndim == 1:
        x1, y1, x2, y2 = (float(v) for v in b[:4])
        w, h = x2 - x1, y2 - y1
        return np.array([x1 + w / 2.0, y1 + h / 2.0, w * h, w / max(h, 1e-9)])
    w, h = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
    return np.stack([b[..., 0] + w / 2.0, b[..., 1] + h / 2.0, w * h, w / np.maximum(h, 1e-9)], axis=-1)


def xysr_to_xyxy(z: np.ndarray) -> np.ndarray:
    """(..., >=4) centre x, centre y, area, aspect -> (..., 4) x1, y1, x2, y2."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:  # one box (the per-track hot path): plain floats are ~10x cheaper than array ops
        area, ratio = float(z[2]), float(z[3])
        w = math.sqrt(area * ratio) if area * ratio > 0 else 0.0
        h = area / w if w > 0 else 0.0
        cx, cy = float(z[0]), float(z[1])
        return np.array([cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0])
    w = np.sqrt(np.clip(z[..., 2] * z[..., 3], 0.0, None))
    h = np.where(w > 0, z[..., 2] / np.where(w > 0, w, 1.0), 0.0)
    return np.stack([z[..., 0] - w / 2.0, z[..., 1] - h / 2.0, z[..., 0] + w / 2.0, z[..., 1] + h / 2.0], axis=-1)


class SortKalman:
    """SORT's box filter (Bewley et al. 2016): filterpy ``KalmanFilter(dim_x=7, dim_z=4)``."""

    def __init__(self, box_xyxy: np.ndarray):
        kf = KalmanFilter(dim_x=7, dim_z=4)
        kf.F = constant_velocity_matrix(4, 3)
        kf.H = np.eye(4, 7)
        kf.R[2:, 2:] *= 10.0
        kf.P[4:, 4:] *= 1000.0  # velocities are unobserved at birth: high uncertainty
        kf.P *= 10.0
        kf.Q[-1, -1] *= 0.01
        kf.Q[4:, 4:] *= 0.01
        kf.x[:4, 0] = xyxy_to_xysr(box_xyxy)
        self.kf = kf
        self._saved: dict | None = None

    def predict(self) -> np.ndarray:
        """Advance one frame; return the predicted x1, y1, x2, y2."""
        x = self.kf.x
        if x[6, 0] + x[2, 0] <= 0:  # the area would turn negative: stop shrinking
            x[6, 0] = 0.0
        self.kf.predict()
        return self.box

    def update(self, box_xyxy: np.ndarray) -> None:
        self.kf.update(xyxy_to_xysr(box_xyxy).reshape(4, 1))

    @property
    def box(self) -> np.ndarray:
        return xysr_to_xyxy(self.kf.x[:4, 0])

    # --- OC-SORT observation-centric re-update ------------------------------------------------
    def freeze(self) -> None:
        """Remember the filter as it is at the first frame without an observation."""
        if self._saved is None:
            self._saved = copy.deepcopy(self.kf.__dict__)

    def thaw(self) -> None:
        """Forget the frozen state (the track was observed again without a re-update)."""
        self._saved = None

    @property
    def frozen(self) -> bool:
        return self._saved is not None

    def reupdate(self, last_box: np.ndarray, new_box: np.ndarray, gap: int) -> None:
        """ORU: rewind to the frozen state (predicted to the first lost frame) and re-run the ``gap`` frames
        since ``last_box`` along a virtual trajectory interpolated linearly (in centre / width / height)
        up to ``new_box``.  As in the reference code the last virtual observation is ``new_box`` itself
        and the caller then updates with it once more."""
        if self._saved is None:
            return
        self.kf.__dict__.update(self._saved)
        self._saved = None
        a, b = np.asarray(last_box, dtype=np.float64), np.asarray(new_box, dtype=np.float64)
        for k in range(1, gap + 1):
            self.kf.update(xyxy_to_xysr(a + (b - a) * (k / gap)).reshape(4, 1))
            if k < gap:
                self.kf.predict()


# ---------------------------------------------------------------------------------------------
# ByteTrack / BoT-SORT 8-dim states, batched
# ---------------------------------------------------------------------------------------------


class BatchKalman:
    """Constant-velocity filter over ``(N, 8)`` states, process/measurement noise proportional to size.

    ``layout="xyah"`` (ByteTrack, DeepSORT): measurement ``[cx, cy, w/h, h]``, noise scaled by height.
    ``layout="xywh"`` (BoT-SORT): measurement ``[cx, cy, w, h]``, noise scaled by width and height.
    """

    std_position = 1.0 / 20.0
    std_velocity = 1.0 / 160.0

    def __init__(self, layout: Literal["xyah", "xywh"] = "xyah"):
        if layout not in ("xyah", "xywh"):
            raise ValueError(f"unknown Kalman layout {layout!r}")
        self.layout = layout
        self.F = constant_velocity_matrix(4)
        self.H = np.eye(4, 8)

    # measurement space <-> boxes
    def to_measurement(self, b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        third = w / np.maximum(h, 1e-9) if self.layout == "xyah" else w
        return np.stack([b[:, 0] + w / 2.0, b[:, 1] + h / 2.0, third, h], axis=1)

    def to_xyxy(self, mean: np.ndarray) -> np.ndarray:
        mean = np.asarray(mean, dtype=np.float64).reshape(-1, mean.shape[-1])
        h = mean[:, 3]
        w = mean[:, 2] * h if self.layout == "xyah" else mean[:, 2]
        cx, cy = mean[:, 0], mean[:, 1]
        return np.stack([cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0], axis=1)

    def _scale(self, mean: np.ndarray) -> np.ndarray:
        """(N, 4) size reference for each measured coordinate."""
        h = mean[:, 3]
        if self.layout == "xyah":
            return np.stack([h, h, np.full_like(h, np.nan), h], axis=1)
        w = mean[:, 2]
        return np.stack([w, h, w, h], axis=1)

    def _diag(self, scale: np.ndarray, factor: float, aspect: float) -> np.ndarray:
        std = factor * scale
        if self.layout == "xyah":
            std[:, 2] = aspect  # the aspect ratio has a fixed (tiny) noise, not a size-relative one
        return std

    def initiate(self, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = np.asarray(measurement, dtype=np.float64).reshape(-1, 4)
        mean = np.concatenate([z, np.zeros_like(z)], axis=1)
        scale = self._scale(z)
        std = np.concatenate(
            [self._diag(scale, 2 * self.std_position, 1e-2), self._diag(scale, 10 * self.std_velocity, 1e-5)], axis=1
        )
        cov = np.zeros((len(z), 8, 8))
        idx = np.arange(8)
        cov[:, idx, idx] = std**2
        return mean, cov

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(mean) == 0:
            return mean, cov
        scale = self._scale(mean)
        std = np.concatenate(
            [self._diag(scale, self.std_position, 1e-2), self._diag(scale, self.std_velocity, 1e-5)], axis=1
        )
        q = np.zeros_like(cov)
        idx = np.arange(8)
        q[:, idx, idx] = std**2
        mean = mean @ self.F.T
        cov = self.F @ cov @ self.F.T + q
        return mean, cov

    def project(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        std = self._diag(self._scale(mean), self.std_position, 1e-1)
        r = np.zeros((len(mean), 4, 4))
        idx = np.arange(4)
        r[:, idx, idx] = std**2
        return mean[:, :4], cov[:, :4, :4] + r

    def update(self, mean: np.ndarray, cov: np.ndarray, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(mean) == 0:
            return mean, cov
        z = np.asarray(measurement, dtype=np.float64).reshape(-1, 4)
        proj_mean, proj_cov = self.project(mean, cov)
        pht = cov[:, :, :4]  # P H^T with H = [I 0]
        gain = np.linalg.solve(proj_cov, np.transpose(pht, (0, 2, 1))).transpose(0, 2, 1)  # (N, 8, 4)
        innovation = z - proj_mean
        mean = mean + np.einsum("nij,nj->ni", gain, innovation)
        cov = cov - gain @ proj_cov @ np.transpose(gain, (0, 2, 1))
        return mean, cov
