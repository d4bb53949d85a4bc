"""Readers for calibration files of public multi-camera datasets into :class:`Camera` objects.

* EPFL CVLab ``calibration-*.txt``: per camera a "Ground plane homography" block of
  3 lines x 3 numbers (image foot point -> ground grid, world = H @ [u, v, 1]).
* ``epfl_ground_plane_homographies.json``: ``{sequence: {"cams": [3x3, ...]}}`` with the
  same convention.
* CMC ``camN_cam_mat.mat``: MATLAB v7.3 (HDF5) file with one 3x4 projection matrix
  named ``camN_cam_mat``, stored transposed (MATLAB is column-major).

Every reader raises :class:`DataError` naming the file (and camera) on bad input.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mtmc.calibration import Camera
from mtmc.errors import DataError, read_json_file

EPFL_IMAGE_SIZE = (360, 288)
CMC_IMAGE_SIZE = (1920, 1024)

_CAMERA_HEADER = re.compile(r"^#\s*Camera\s+(\d+)\s*$", re.IGNORECASE)
_GROUND_HEADER = re.compile(r"^#\s*Ground plane homography", re.IGNORECASE)


def _camera(name: str, path: Path, build, matrix: np.ndarray, image_size: tuple[int, int]) -> Camera:
    """Build a camera, turning numerical failures into a DataError naming file and camera."""
    if not np.all(np.isfinite(matrix)):
        raise DataError(f"camera {name!r}: calibration matrix has non-finite values", path=path)
    try:
        return build(name, matrix, image_size)
    except np.linalg.LinAlgError:
        raise DataError(f"camera {name!r}: calibration matrix is singular", path=path) from None


def read_epfl_calibration_txt(
    path: str | Path, image_size: tuple[int, int] = EPFL_IMAGE_SIZE
) -> dict[str, Camera]:
    """Ground-plane homographies of an EPFL ``calibration-*.txt`` as cameras ``cam0``, ``cam1``, ..."""
    path = Path(path)
    if not path.is_file():
        raise DataError("EPFL calibration file not found", path=path)
    lines = path.read_text(errors="replace").splitlines()
    cameras: dict[str, Camera] = {}
    current: str | None = None
    i = 0
    while i < len(lines):
        text = lines[i].strip()
        header = _CAMERA_HEADER.match(text)
        if header:
            current = f"cam{int(header.group(1))}"
        elif _GROUND_HEADER.match(text):
            if current is None:
                raise DataError(
                    "ground plane homography before any '# Camera N' header", path=path, line=i + 1
                )
            rows = []
            for j in range(i + 1, i + 4):
                try:
                    row = [float(v) for v in lines[j].split()]
                except (IndexError, ValueError):
                    row = []
                if len(row) != 3:
                    raise DataError(
                        f"camera {current!r}: expected 3 numbers per homography row", path=path, line=j + 1
                    )
                rows.append(row)
            cameras[current] = _camera(current, path, Camera.from_homography, np.array(rows), image_size)
            i += 3
        i += 1
    if not cameras:
        raise DataError("no '# Ground plane homography' blocks found", path=path)
    return cameras


def read_epfl_homography_json(
    path: str | Path, sequence: str, image_size: tuple[int, int] = EPFL_IMAGE_SIZE
) -> dict[str, Camera]:
    """Ground-plane homographies of one sequence of ``epfl_ground_plane_homographies.json``."""
    path = Path(path)
    data = read_json_file(path, "homography file")
    entry = data.get(sequence) if isinstance(data, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("cams"), list):
        known = sorted(k for k in data if not k.startswith("_")) if isinstance(data, dict) else []
        raise DataError(
            f"sequence {sequence!r} with a 'cams' list not found (have: {', '.join(known)})", path=path
        )
    cameras = {}
    for index, matrix in enumerate(entry["cams"]):
        name = f"cam{index}"
        try:
            H = np.asarray(matrix, dtype=np.float64).reshape(3, 3)
        except (ValueError, TypeError):
            raise DataError(
                f"{sequence}.cams[{index}] ({name}): expected a 3x3 matrix of numbers", path=path
            ) from None
        cameras[name] = _camera(name, path, Camera.from_homography, H, image_size)
    return cameras


def read_cmc_projection(
    path: str | Path, name: str | None = None, image_size: tuple[int, int] = CMC_IMAGE_SIZE
) -> Camera:
    """One CMC ``camN_cam_mat.mat`` (HDF5, transposed 3x4 P) as a projection camera."""
    import h5py  # optional dependency, only needed for MATLAB v7.3 files

    path = Path(path)
    key = path.stem  # e.g. cam1_cam_mat
    name = name or key.replace("_cam_mat", "")
    if not path.is_file():
        raise DataError(f"camera {name!r}: projection file not found", path=path)
    try:
        with h5py.File(path, "r") as f:
            if key not in f:
                raise DataError(
                    f"camera {name!r}: dataset {key!r} not in file (have: {', '.join(f)})", path=path
                )
            raw = np.asarray(f[key][()], dtype=np.float64)
    except OSError as err:
        raise DataError(f"camera {name!r}: not a MATLAB v7.3/HDF5 file ({err})", path=path) from None
    if raw.shape != (4, 3):
        raise DataError(
            f"camera {name!r}: expected a 3x4 projection (stored 4x3), got {raw.shape}", path=path
        )
    return _camera(name, path, Camera.from_projection, raw.T, image_size)


def read_cmc_calibration(
    folder: str | Path, image_size: tuple[int, int] = CMC_IMAGE_SIZE
) -> dict[str, Camera]:
    """All ``camN_cam_mat.mat`` files of a CMC calibration folder, by name ``camN`` (sorted by N)."""
    folder = Path(folder)
    files = sorted(folder.glob("cam*_cam_mat.mat"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
    if not files:
        raise DataError("no camN_cam_mat.mat files found", path=folder)
    return {cam.name: cam for cam in (read_cmc_projection(f, image_size=image_size) for f in files)}
