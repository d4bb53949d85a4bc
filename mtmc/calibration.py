"""Camera models and ground-plane geometry.

Three ways to calibrate a camera, one :class:`Camera` type:

* a ground-plane homography ``H`` mapping an image foot point ``[u, v, 1]`` to the
  ground ``[x, y, 1]`` (world = H @ [u, v, 1], normalised) — enough for tracking on
  a flat floor;
* intrinsics ``K`` + distortion + extrinsics ``R, t`` (``x_cam = R X + t``, world z
  up, the ground is ``z = 0``);
* a 3x4 projection matrix ``P``.

``calibration.json`` holds one entry per camera::

    {"units": "m", "cameras": {"cam0": {"image_size": [640, 480], "K": ..., "dist": ...,
                                        "R": ..., "t": ..., "homography": ..., "P": ...}}}

Every camera needs ``image_size`` and at least one of (K, R, t), P or homography.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mtmc.atomic import write_json
from mtmc.errors import DataError, read_json_file

MAX_CONDITION = 1e12  # a homography worse conditioned than this maps the plane to (nearly) a line


def _check_finite(arr: np.ndarray, camera: str, key: str, source: str | Path | None) -> None:
    if not np.isfinite(arr).all():
        raise DataError(f"camera {camera!r}: {key!r} holds non-finite values (NaN or infinity)", path=source)


class Camera:
    """A calibrated camera: image <-> ground-plane mapping, and 3D projection when known."""

    def __init__(
        self,
        name: str,
        image_size: tuple[int, int],
        *,
        K: np.ndarray | None = None,
        dist: np.ndarray | None = None,
        R: np.ndarray | None = None,
        t: np.ndarray | None = None,
        P: np.ndarray | None = None,
        homography: np.ndarray | None = None,
    ):
        self.name = name
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.K = None if K is None else np.asarray(K, dtype=np.float64).reshape(3, 3)
        self.dist = np.zeros(5) if dist is None else np.asarray(dist, dtype=np.float64).ravel()
        self.R = None if R is None else np.asarray(R, dtype=np.float64).reshape(3, 3)
        self.t = None if t is None else np.asarray(t, dtype=np.float64).reshape(3)
        if self.K is not None and self.R is not None and self.t is not None:
            P = self.K @ np.hstack([self.R, self.t[:, None]])
        self.P = None if P is None else np.asarray(P, dtype=np.float64).reshape(3, 4)
        if homography is None:
            if self.P is None:
                raise DataError(f"camera {name!r}: needs a homography, K + R + t, or a projection matrix P")
            # ground (x, y, 0, 1) -> image: columns 0, 1 and 3 of P.  Distortion is removed before use.
            try:
                homography = np.linalg.inv(self.P[:, [0, 1, 3]])
            except np.linalg.LinAlgError:
                raise DataError(f"camera {name!r}: projection matrix P is singular on the ground plane") from None
        self.H = np.asarray(homography, dtype=np.float64).reshape(3, 3)
        self.H /= self.H[2, 2] if abs(self.H[2, 2]) > 1e-12 else 1.0
        # inv() only fails on exact singularity; rounding makes a rank-deficient H merely ill-conditioned
        if not np.isfinite(self.H).all() or np.linalg.cond(self.H) > MAX_CONDITION:
            raise DataError(f"camera {name!r}: ground-plane homography is singular")
        self.H_inv = np.linalg.inv(self.H)
        # Sign of the homogeneous coordinate for points in front of the camera (image centre as reference).
        centre = np.array([self.image_size[0] / 2.0, self.image_size[1] / 2.0, 1.0])
        self._front_sign = float(np.sign((self.H @ centre)[2]) or 1.0)

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def from_homography(cls, name: str, H: np.ndarray, image_size: tuple[int, int]) -> Camera:
        """Camera from an image -> ground homography (foot point to floor)."""
        return cls(name, image_size, homography=H)

    @classmethod
    def from_krt(
        cls,
        name: str,
        K: np.ndarray,
        dist: np.ndarray | None,
        R: np.ndarray,
        t: np.ndarray,
        image_size: tuple[int, int],
    ) -> Camera:
        """Pinhole camera with distortion (OpenCV model), ``x_cam = R X + t``."""
        return cls(name, image_size, K=K, dist=dist, R=R, t=t)

    @classmethod
    def from_projection(cls, name: str, P: np.ndarray, image_size: tuple[int, int]) -> Camera:
        """Camera from a 3x4 projection matrix (world z up, ground z = 0)."""
        return cls(name, image_size, P=P)

    # -- geometry -----------------------------------------------------------------------------

    @property
    def center(self) -> np.ndarray | None:
        """Camera centre in world coordinates (None for a homography-only camera)."""
        if self.R is not None and self.t is not None:
            return -self.R.T @ self.t
        if self.P is not None:
            _, _, vt = np.linalg.svd(self.P)
            c = vt[-1]
            return c[:3] / c[3]
        return None

    def undistort(self, uv: np.ndarray) -> np.ndarray:
        """Remove lens distortion from pixel coordinates (identity without K/distortion)."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        if self.K is None or not np.any(self.dist) or len(uv) == 0:
            return uv
        out = cv2.undistortPoints(uv.reshape(-1, 1, 2), self.K, self.dist, P=self.K)
        return out.reshape(-1, 2)

    def image_to_ground(self, uv: np.ndarray) -> np.ndarray:
        """(N, 2) image points (foot points) -> (N, 2) ground-plane points; nan above the horizon."""
        uv = self.undistort(uv)
        homog = np.hstack([uv, np.ones((len(uv), 1))]) @ self.H.T
        w = homog[:, 2:3]
        out = homog[:, :2] / np.where(np.abs(w) < 1e-12, np.nan, w)
        out[(w[:, 0] * self._front_sign) <= 0] = np.nan
        return out

    def ground_to_image(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) ground points -> (N, 2) pixels (with lens distortion); nan behind the camera."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return self.project(np.hstack([xy, np.zeros((len(xy), 1))])) if self.P is not None else self._h_inv(xy)

    def _h_inv(self, xy: np.ndarray) -> np.ndarray:
        homog = np.hstack([xy, np.ones((len(xy), 1))]) @ self.H_inv.T
        w = homog[:, 2:3]
        out = homog[:, :2] / np.where(np.abs(w) < 1e-12, np.nan, w)
        # A valid image point maps to ground with the "front" sign; check the round trip sign.
        back_w = (np.hstack([out, np.ones((len(out), 1))]) @ self.H.T)[:, 2]
        with np.errstate(invalid="ignore"):
            out[~(back_w * self._front_sign > 0)] = np.nan
        return out

    def depth(self, xyz: np.ndarray) -> np.ndarray:
        """Depth along the optical axis of (N, 3) world points (needs K/R/t or P)."""
        if self.P is None:
            raise DataError(f"camera {self.name!r}: 3D projection needs K + R + t or a projection matrix P")
        xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        homog = np.hstack([xyz, np.ones((len(xyz), 1))]) @ self.P.T
        return homog[:, 2] * np.sign(np.linalg.det(self.P[:, :3]))

    def project(self, xyz: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 2) pixels (distortion applied); nan behind the camera."""
        if self.P is None:
            raise DataError(f"camera {self.name!r}: 3D projection needs K + R + t or a projection matrix P")
        xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
        homog = np.hstack([xyz, np.ones((len(xyz), 1))]) @ self.P.T
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = homog[:, :2] / homog[:, 2:3]
        if self.K is not None and np.any(self.dist) and len(uv):
            uv = self._distort(uv)
        uv[self.depth(xyz) <= 1e-9] = np.nan
        return uv

    def _distort(self, uv: np.ndarray) -> np.ndarray:
        """Apply OpenCV's (k1, k2, p1, p2, k3) distortion to ideal pixel coordinates."""
        k1, k2, p1, p2, k3 = (list(self.dist) + [0.0] * 5)[:5]
        fx, fy, cx, cy = self.K[0, 0], self.K[1, 1], self.K[0, 2], self.K[1, 2]
        x, y = (uv[:, 0] - cx) / fx, (uv[:, 1] - cy) / fy
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.stack([xd * fx + cx, yd * fy + cy], axis=1)

    def in_view(self, xy: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Whether ground points project inside the image (shrunk by ``margin`` pixels)."""
        uv = self.ground_to_image(xy)
        w, h = self.image_size
        with np.errstate(invalid="ignore"):
            return (
                np.isfinite(uv).all(axis=1)
                & (uv[:, 0] >= margin)
                & (uv[:, 0] < w - margin)
                & (uv[:, 1] >= margin)
                & (uv[:, 1] < h - margin)
            )

    # -- serialisation ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"image_size": list(self.image_size)}
        if self.K is not None and self.R is not None and self.t is not None:
            out.update(K=self.K.tolist(), dist=self.dist.tolist(), R=self.R.tolist(), t=self.t.tolist())
        elif self.P is not None:
            out["P"] = self.P.tolist()
        out["homography"] = self.H.tolist()
        return out

    @classmethod
    def from_dict(cls, name: str, data: dict, source: str | Path | None = None) -> Camera:
        """Build from a ``calibration.json`` entry; errors name the camera (and file)."""

        def matrix(key: str, shape: tuple[int, ...]) -> np.ndarray | None:
            if key not in data or data[key] is None:
                return None
            try:
                arr = np.asarray(data[key], dtype=np.float64).reshape(shape)
            except (ValueError, TypeError):
                raise DataError(
                    f"camera {name!r}: {key!r} must be a {'x'.join(map(str, shape))} matrix of numbers", path=source
                ) from None
            _check_finite(arr, name, key, source)
            return arr

        if not isinstance(data, dict):
            raise DataError(f"camera {name!r}: expected a mapping of calibration fields", path=source)
        size = data.get("image_size")
        if not (
            isinstance(size, (list, tuple))
            and len(size) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            raise DataError(f"camera {name!r}: 'image_size' must be [width, height]", path=source)
        K, R, t, P, H = matrix("K", (3, 3)), matrix("R", (3, 3)), matrix("t", (3,)), matrix("P", (3, 4)), matrix(
            "homography", (3, 3)
        )
        dist = None
        if data.get("dist") is not None:
            try:
                dist = np.asarray(data["dist"], dtype=np.float64).ravel()
            except (ValueError, TypeError):
                raise DataError(f"camera {name!r}: 'dist' must be a list of numbers", path=source) from None
            _check_finite(dist, name, "dist", source)
        partial = [k for k, v in (("K", K), ("R", R), ("t", t)) if v is not None]
        if partial and len(partial) < 3 and P is None and H is None:
            missing = sorted({"K", "R", "t"} - set(partial))
            raise DataError(f"camera {name!r}: K + R + t given without {', '.join(missing)}", path=source)
        if len(partial) < 3:
            K = R = t = None
        if K is None and P is None and H is None:
            raise DataError(
                f"camera {name!r}: needs 'homography', 'K' + 'R' + 't', or 'P' (3x4 projection)", path=source
            )
        try:
            cam = cls(name, tuple(size), K=K, dist=dist, R=R, t=t, P=P, homography=H)
        except np.linalg.LinAlgError:
            raise DataError(f"camera {name!r}: calibration matrix is singular", path=source) from None
        except DataError as err:
            if err.path is None and source is not None:
                raise DataError(err.message, path=source) from None
            raise
        return cam


def load_calibration(path: str | Path) -> dict[str, Camera]:
    """Read ``calibration.json`` into cameras by name (errors name the file and camera)."""
    path = Path(path)
    data = read_json_file(path, "calibration file")
    cameras = data.get("cameras") if isinstance(data, dict) else None
    if not isinstance(cameras, dict) or not cameras:
        raise DataError("expected a 'cameras' mapping of camera name -> calibration", path=path)
    return {name: Camera.from_dict(name, entry, source=path) for name, entry in cameras.items()}


def save_calibration(path: str | Path, cameras: dict[str, Camera], **extra: Any) -> None:
    """Write cameras (and any extra top-level keys) to ``calibration.json`` atomically."""
    data = {"units": extra.pop("units", "m"), **extra, "cameras": {n: c.to_dict() for n, c in cameras.items()}}
    write_json(path, data)


def look_at(eye: np.ndarray, target: np.ndarray, up: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> tuple:
    """Rotation R and translation t (``x_cam = R X + t``) of a camera at ``eye`` looking at ``target``.

    Camera axes follow OpenCV: x right, y down, z forward.
    """
    eye, target = np.asarray(eye, dtype=np.float64), np.asarray(target, dtype=np.float64)
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=np.float64))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ eye
