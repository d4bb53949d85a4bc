"""Building and checking cameras: OpenCV storages, K + R + t files, image/ground point pairs.

* :func:`read_opencv_camera`: OpenCV ``FileStorage`` files (XML or YAML) holding a camera
  matrix, distortion and a pose as ``rvec`` (Rodrigues) / ``R`` and ``tvec`` / ``t`` —
  one file or several (intrinsics and extrinsics apart, as WILDTRACK ships them).
* :func:`camera_from_krt_files`: K, R (or a Rodrigues vector), t and optional distortion
  in plain text files of numbers.
* :func:`camera_from_point_pairs`: a ground-plane homography fitted to >= 4 image/ground pairs.
* :func:`reprojection_errors`: project known ground points and measure the pixel error.

World units: translations (and ground points) are given in ``units`` (m, cm or mm) and
converted to metres, the unit of ``calibration.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from mtmc.calibration import Camera
from mtmc.errors import DataError

UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}  # metres per unit

# Node names used by OpenCV samples, calibration tools and datasets, first match wins.
_K_NAMES = ("camera_matrix", "cameraMatrix", "K", "intrinsic_matrix", "intrinsics")
_DIST_NAMES = ("distortion_coefficients", "dist_coeffs", "distCoeffs", "dist", "D", "distortion")
_RVEC_NAMES = ("rvec", "rotation_vector", "rvecs")
_R_NAMES = ("R", "rotation_matrix", "rotation")
_T_NAMES = ("tvec", "t", "T", "translation", "translation_vector", "tvecs")


def metres_per_unit(units: str) -> float:
    """Scale of ``units`` (m, cm, mm) in metres; DataError for anything else."""
    if units not in UNITS:
        raise DataError(f"unknown units {units!r}; expected one of {', '.join(UNITS)}")
    return UNITS[units]


def _node_values(node, name: str, path: Path) -> np.ndarray | None:
    """A FileStorage node as a float array: an ``opencv-matrix``, a sequence of numbers or one number."""
    if node.isMap():
        mat = node.mat()  # opencv-matrix maps decode to an array; other maps give None
        return None if mat is None else np.asarray(mat, dtype=np.float64)
    if node.isSeq():
        values = []
        for i in range(node.size()):
            item = node.at(i)
            if not (item.isReal() or item.isInt()):
                raise DataError(f"node {name!r}: expected a sequence of numbers", path=path)
            values.append(item.real())
        return np.asarray(values, dtype=np.float64)
    if node.isReal() or node.isInt():
        return np.asarray([node.real()], dtype=np.float64)
    return None


def read_opencv_storage(path: str | Path) -> dict[str, np.ndarray]:
    """Every numeric top-level node of an OpenCV XML/YAML storage, by name."""
    path = Path(path)
    if not path.is_file():
        raise DataError("OpenCV storage file not found", path=path)
    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError) as err:
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise DataError(f"not an OpenCV XML/YAML storage ({first})", path=path) from None
    try:
        if not fs.isOpened():
            raise DataError("cannot open as an OpenCV XML/YAML storage", path=path)
        out = {}
        for name in fs.root().keys():
            values = _node_values(fs.getNode(name), name, path)
            if values is not None:
                out[name] = values
        return out
    finally:
        fs.release()


def _pick(nodes: dict[str, np.ndarray], names: Sequence[str]) -> tuple[str, np.ndarray] | None:
    for name in names:
        if name in nodes:
            return name, nodes[name]
    return None


def _shaped(found: tuple[str, np.ndarray], size: int, shape: tuple[int, ...], where: str, path) -> np.ndarray:
    name, values = found
    if values.size != size:
        raise DataError(f"{where}: node {name!r} has {values.size} values, expected {size}", path=path)
    if not np.all(np.isfinite(values)):
        raise DataError(f"{where}: node {name!r} has non-finite values", path=path)
    return values.reshape(shape)


def _rotation(rvec_or_r: np.ndarray) -> np.ndarray:
    """A 3x3 rotation from a Rodrigues vector (3 values) or a matrix (9 values)."""
    if rvec_or_r.size == 3:
        return cv2.Rodrigues(rvec_or_r.reshape(3, 1).astype(np.float64))[0]
    return rvec_or_r.reshape(3, 3)


def _check_rotation(R: np.ndarray, name: str, path) -> None:
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-3) or np.linalg.det(R) <= 0:
        raise DataError(f"camera {name!r}: R is not a rotation matrix (R R^T != I or det <= 0)", path=path)


def read_opencv_camera(
    name: str, files: Sequence[str | Path], image_size: tuple[int, int] | None = None, units: str = "m"
) -> Camera:
    """A K + dist + R + t camera from OpenCV storages (nodes may be spread over several files).

    ``image_size`` ([width, height]) is needed unless a file holds ``image_width``/``image_height``.
    """
    scale = metres_per_unit(units)
    nodes: dict[str, np.ndarray] = {}
    origin: dict[str, Path] = {}
    for f in files:
        for key, values in read_opencv_storage(f).items():
            if key in nodes and not np.array_equal(nodes[key], values):
                raise DataError(f"camera {name!r}: node {key!r} differs from the one in {origin[key]}", path=f)
            nodes[key], origin[key] = values, Path(f)
    where = f"camera {name!r}"
    src = ", ".join(str(f) for f in files)
    found_k, found_t = _pick(nodes, _K_NAMES), _pick(nodes, _T_NAMES)
    found_r = _pick(nodes, _RVEC_NAMES) or _pick(nodes, _R_NAMES)
    missing = [what for what, found in (("camera_matrix", found_k), ("rvec or R", found_r), ("tvec or t", found_t))
               if found is None]
    if missing:
        raise DataError(f"{where}: no {', '.join(missing)} node (have: {', '.join(nodes) or 'none'})", path=src)
    K = _shaped(found_k, 9, (3, 3), where, origin[found_k[0]])
    if found_r[1].size not in (3, 9):
        raise DataError(f"{where}: node {found_r[0]!r} needs 3 (Rodrigues) or 9 values", path=origin[found_r[0]])
    R = _rotation(_shaped(found_r, found_r[1].size, (found_r[1].size,), where, origin[found_r[0]]))
    _check_rotation(R, name, origin[found_r[0]])
    t = _shaped(found_t, 3, (3,), where, origin[found_t[0]]) * scale
    found_d = _pick(nodes, _DIST_NAMES)
    dist = None if found_d is None else found_d[1].ravel()
    if image_size is None and "image_width" in nodes and "image_height" in nodes:
        image_size = (int(nodes["image_width"][0]), int(nodes["image_height"][0]))
    if image_size is None:
        raise DataError(f"{where}: image size unknown (no image_width/image_height node); give it", path=src)
    return Camera.from_krt(name, K, dist, R, t, image_size)


def read_matrix_file(path: str | Path, sizes: Sequence[int], what: str) -> np.ndarray:
    """Numbers of a text file (whitespace or commas, ``#`` comments) as a flat array of one of ``sizes``."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {what} file: {err}", path=path) from None
    values = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0]
        for sep in ",;[]":
            line = line.replace(sep, " ")
        for token in line.split():
            try:
                values.append(float(token))
            except ValueError:
                raise DataError(f"{what}: non-numeric value {token!r}", path=path, line=lineno) from None
    if len(values) not in sizes:
        expected = " or ".join(map(str, sizes))
        raise DataError(f"{what}: found {len(values)} numbers, expected {expected}", path=path)
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{what}: non-finite values", path=path)
    return arr


def camera_from_krt_files(
    name: str,
    k_file: str | Path,
    r_file: str | Path,
    t_file: str | Path,
    image_size: tuple[int, int],
    dist_file: str | Path | None = None,
    units: str = "m",
) -> Camera:
    """A camera from text files: K (9 numbers), R (9, or 3 = Rodrigues), t (3, in ``units``), dist (4-14)."""
    K = read_matrix_file(k_file, (9,), "K").reshape(3, 3)
    R = _rotation(read_matrix_file(r_file, (3, 9), "R"))
    _check_rotation(R, name, r_file)
    t = read_matrix_file(t_file, (3,), "t") * metres_per_unit(units)
    dist = None if dist_file is None else read_matrix_file(dist_file, (4, 5, 8, 12, 14), "dist")
    return Camera.from_krt(name, K, dist, R, t, image_size)


def read_point_pairs(path: str | Path, what: str = "u,v,x,y") -> np.ndarray:
    """(N, 4) rows of a point-pair file: ``u, v, x, y`` per line (commas or whitespace)."""
    from mtmc.io.mot import parse_rows

    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read point file: {err}", path=path) from None
    rows, lines = parse_rows(path, text, {4: what})
    bad = ~np.isfinite(rows).all(axis=1)
    if bad.any():
        raise DataError(f"non-finite value; expected {what}", path=path, line=int(lines[bad.argmax()]))
    return rows


def camera_from_point_pairs(
    name: str, uv: np.ndarray, xy: np.ndarray, image_size: tuple[int, int], units: str = "m"
) -> Camera:
    """A homography camera fitted (least squares, OpenCV) to >= 4 image points and their ground points."""
    uv, xy = np.asarray(uv, dtype=np.float64).reshape(-1, 2), np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    xy = xy * metres_per_unit(units)
    if len(uv) < 4:
        raise DataError(f"camera {name!r}: a homography needs at least 4 point pairs, got {len(uv)}")
    H, _ = cv2.findHomography(uv, xy, 0)
    if H is None or not np.all(np.isfinite(H)) or abs(np.linalg.det(H)) < 1e-12:
        raise DataError(f"camera {name!r}: the point pairs do not fix a homography (collinear or repeated points?)")
    return Camera.from_homography(name, H, image_size)


def reprojection_errors(camera: Camera, xy: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Pixel distance between ground points ``xy`` (metres) projected by ``camera`` and their image points."""
    proj = camera.ground_to_image(np.asarray(xy, dtype=np.float64).reshape(-1, 2))
    return np.linalg.norm(proj - np.asarray(uv, dtype=np.float64).reshape(-1, 2), axis=1)
