"""Multi-camera output files.

``global.txt`` (AI City multi-camera tracking style), one box per line, space separated,
no header::

    camera_id obj_id frame x y w h xworld yworld

* ``camera_id`` = scene camera index + 1 (1-based, AI City uses positive camera ids),
* ``obj_id`` = global identity, the same person has the same id in every camera,
* ``frame`` is 1-based (first frame = 1), as in MOTChallenge files,
* ``x y w h`` = top-left, width, height in pixels,
* ``xworld yworld`` = ground-plane position (calibration units, metres), ``-1 -1`` when unknown
  (read back as nan; a real ground point of exactly (-1, -1) therefore reads back as unknown).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mtmc.atomic import write_json
from mtmc.boxes import concat, make_boxes
from mtmc.errors import DataError
from mtmc.io.mot import format_lines, parse_rows, write_lines

_GLOBAL_LAYOUT = {9: "camera_id obj_id frame x y w h xworld yworld"}


_GLOBAL_LINE = "{} {} {} {:.3f} {:.3f} {:.3f} {:.3f} {:.4f} {:.4f}\n"
_GLOBAL_COLUMNS = ("camera", "id", "frame", "x", "y", "w", "h", "gx", "gy")


def _global_rows(boxes: np.ndarray) -> np.ndarray:
    """A copy of ``boxes`` as global.txt writes them: sorted by camera, frame, id; camera 1-based; -1 = unknown."""
    b = boxes[np.lexsort((boxes["id"], boxes["frame"], boxes["camera"]))]
    b["camera"] += 1
    known = np.isfinite(b["gx"]) & np.isfinite(b["gy"])
    for key in ("gx", "gy"):
        b[key] = np.where(known, b[key], -1.0)
    return b


def format_global(boxes: np.ndarray) -> str:
    """global.txt text, sorted by camera, frame, id."""
    return "".join(format_lines(_global_rows(boxes), _GLOBAL_LINE, _GLOBAL_COLUMNS))


def write_global(path: str | Path, boxes: np.ndarray | Sequence[np.ndarray]) -> None:
    """Write ``boxes`` (with ``camera`` and global ``id`` set) as global.txt, atomically.

    ``boxes`` may be one array per camera, as the pipeline holds them: they are then written one
    camera at a time, without a concatenated (and a sorted) copy of the whole run in memory.
    """
    parts = [boxes] if isinstance(boxes, np.ndarray) else [p for p in boxes if len(p)]
    if any(len(p) and p["camera"].min() < 0 for p in parts):
        raise ValueError("write_global: boxes need a camera index >= 0")
    cameras = [np.unique(p["camera"]) for p in parts]
    if len(parts) > 1 and (any(len(c) != 1 for c in cameras) or len({int(c[0]) for c in cameras}) < len(parts)):
        parts = [concat(parts)]  # not one camera per part: sort them together
    parts.sort(key=lambda p: int(p["camera"].min()) if len(p) else 0)
    write_lines(path, (_global_rows(p) for p in parts), _GLOBAL_LINE, _GLOBAL_COLUMNS)


def read_global(path: str | Path) -> np.ndarray:
    """Read a global.txt back into boxes (``camera`` 0-based, ``score`` 1)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("global tracking file not found", path=path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read global tracking file: {err}", path=path) from None
    rows, lines = parse_rows(path, text, _GLOBAL_LAYOUT)
    if len(rows) == 0:
        return make_boxes(0)
    ints = rows[:, :3]
    checks = [
        (~np.isfinite(rows[:, :7]).all(axis=1), "non-finite value in camera_id..h"),
        ((ints != np.round(ints)).any(axis=1), "camera_id, obj_id and frame must be integers"),
        ((rows[:, 0] < 1) | (rows[:, 2] < 1), "camera_id and frame are 1-based (>= 1)"),
        ((rows[:, 5] <= 0) | (rows[:, 6] <= 0), "width and height must be > 0"),
    ]
    for mask, msg in checks:
        if mask.any():
            raise DataError(f"{msg}; expected {_GLOBAL_LAYOUT[9]}", path=path, line=int(lines[mask.argmax()]))
    out = make_boxes(len(rows))
    out["camera"], out["id"], out["frame"] = rows[:, 0] - 1, rows[:, 1], rows[:, 2]
    out["x"], out["y"], out["w"], out["h"] = rows[:, 3], rows[:, 4], rows[:, 5], rows[:, 6]
    unknown = (rows[:, 7] == -1) & (rows[:, 8] == -1)
    out["gx"] = np.where(unknown, np.nan, rows[:, 7])
    out["gy"] = np.where(unknown, np.nan, rows[:, 8])
    return out


def write_summary(path: str | Path, summary: dict[str, Any]) -> None:
    """Write a run summary as indented JSON, atomically (numpy scalars/arrays and Paths allowed)."""
    write_json(path, summary)
