"""MOTChallenge text files: ground truth, detections and tracking results.

Supported layouts (detected per file from the number of columns; commas or
whitespace separate the values; blank lines and ``#`` comments are skipped):

* 10 columns, MOT15 / MOT results: ``frame,id,x,y,w,h,conf,wx,wy,wz``.  For gt
  ``conf`` is the "consider" flag (1/0); ``wx, wy`` are ground-plane coordinates,
  ``-1, -1`` when unknown (they go to ``gx, gy``, nan when unknown).
* 9 columns, MOT16/17/20 gt: ``frame,id,x,y,w,h,active,class,visibility``.
* 7 columns, MOT17 public detections: ``frame,id,x,y,w,h,conf``.
* 6 columns: ``frame,id,x,y,w,h`` (score 1).

Frames are 1-based.  For gt, ``score`` holds the consider/active flag so that an
unfiltered read (``filter_gt=False``) keeps it for the evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from pathlib import Path

import numpy as np

from mtmc.atomic import atomic_path
from mtmc.boxes import make_boxes
from mtmc.errors import DataError

KINDS = ("result", "gt", "det")
PEDESTRIAN = 1  # MOT16/17/20 class id of a walking / standing person
_LAYOUTS = {
    6: "frame,id,x,y,w,h",
    7: "frame,id,x,y,w,h,conf",
    9: "frame,id,x,y,w,h,active,class,visibility (MOT17 gt)",
    10: "frame,id,x,y,w,h,conf,wx,wy,wz (MOT15 / results)",
}


def parse_rows(path: Path, text: str, layouts: dict[int, str] = _LAYOUTS) -> tuple[np.ndarray, np.ndarray]:
    """(rows (N, C) float64, 1-based line numbers (N,)) of the data lines of ``text``.

    The first data line fixes the column count, which must be a key of ``layouts``
    ({count: description}); every other line must have the same count.
    """
    numbers: list[int] = []
    values: list[list[str]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().rstrip(",")
        if not line or line.startswith("#"):
            continue
        numbers.append(lineno)
        # str.split is ~2x faster than a regex on large files; float() ignores spaces around commas
        values.append(line.split(",") if "," in line else line.split())
    if not values:
        return np.zeros((0, max(layouts))), np.zeros(0, dtype=np.int64)
    ncols = len(values[0])
    if ncols not in layouts:
        expected = "; ".join(f"{n} ({desc})" for n, desc in layouts.items())
        raise DataError(f"found {ncols} columns, expected one of: {expected}", path=path, line=numbers[0])
    for lineno, fields in zip(numbers, values):
        if len(fields) != ncols:
            raise DataError(
                f"found {len(fields)} columns, expected {ncols} like the first line ({layouts[ncols]})",
                path=path,
                line=lineno,
            )
    try:
        flat = np.fromiter(
            map(float, chain.from_iterable(values)), dtype=np.float64, count=len(values) * ncols
        )
    except ValueError:
        for lineno, fields in zip(numbers, values):  # slow path only to name the bad line
            for value in fields:
                try:
                    float(value)
                except ValueError:
                    raise DataError(
                        f"non-numeric value {value.strip()!r}, expected numbers", path=path, line=lineno
                    ) from None
        raise
    rows = flat.reshape(len(values), ncols)
    return rows, np.asarray(numbers, dtype=np.int64)


def _check(path: Path, rows: np.ndarray, lines: np.ndarray) -> None:
    """Reject rows that cannot be boxes, naming the first offending line."""
    checks = [
        (~np.isfinite(rows[:, :6]).all(axis=1), "non-finite value in frame,id,x,y,w,h"),
        ((rows[:, 0] < 1) | (rows[:, 0] != np.round(rows[:, 0])), "frame must be an integer >= 1"),
        (rows[:, 1] != np.round(rows[:, 1]), "id must be an integer"),
        ((rows[:, 4] <= 0) | (rows[:, 5] <= 0), "width and height must be > 0"),
    ]
    bad_line, bad_msg = None, ""
    for mask, msg in checks:
        if mask.any():
            first = int(np.argmax(mask))
            if bad_line is None or lines[first] < bad_line:
                bad_line, bad_msg = int(lines[first]), msg
    if bad_line is not None:
        row = rows[np.searchsorted(lines, bad_line)]
        shown = ",".join(f"{v:g}" for v in row[:6])
        raise DataError(f"{bad_msg} (got {shown})", path=path, line=bad_line)


def read_mot(path: str | Path, kind: str = "result", filter_gt: bool = True) -> np.ndarray:
    """Read a MOTChallenge gt / det / result file into a BOX_DTYPE array (``camera`` = 0).

    ``filter_gt`` (gt only): drop rows whose consider/active flag is 0 and, for
    MOT17-style gt, keep only pedestrians (class 1) - the standard MOT17 filtering.
    An empty file gives an empty array; a missing or malformed file raises DataError.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{kind} file not found", path=path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {kind} file: {err}", path=path) from None
    rows, lines = parse_rows(path, text)
    if len(rows) == 0:
        return make_boxes(0)
    _check(path, rows, lines)
    ncols = rows.shape[1]
    out = make_boxes(len(rows))
    out["frame"], out["id"] = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64)
    out["x"], out["y"], out["w"], out["h"] = rows[:, 2], rows[:, 3], rows[:, 4], rows[:, 5]
    if ncols >= 7:
        out["score"] = rows[:, 6]
    if ncols == 9:
        out["cls"] = rows[:, 7].astype(np.int32)
        out["vis"] = np.clip(rows[:, 8], 0.0, 1.0)
    elif ncols == 10:
        known = ~((rows[:, 7] == -1) & (rows[:, 8] == -1))
        out["gx"] = np.where(known, rows[:, 7], np.nan)
        out["gy"] = np.where(known, rows[:, 8], np.nan)
    if kind == "gt" and filter_gt:
        keep = out["score"] != 0
        if ncols == 9:
            keep &= out["cls"] == PEDESTRIAN
        out = out[keep]
    return out


def format_mot(boxes: np.ndarray) -> str:
    """MOT result text (10 columns: frame,id,x,y,w,h,score,-1,-1,-1), sorted by frame then id."""
    order = np.lexsort((boxes["id"], boxes["frame"]))
    b = boxes[order]
    lines = [
        f"{f},{i},{x:.3f},{y:.3f},{w:.3f},{h:.3f},{s:.5g},-1,-1,-1"
        for f, i, x, y, w, h, s in zip(
            b["frame"].tolist(),
            b["id"].tolist(),
            b["x"].tolist(),
            b["y"].tolist(),
            b["w"].tolist(),
            b["h"].tolist(),
            b["score"].tolist(),
        )
    ]
    return "\n".join(lines) + ("\n" if lines else "")


def write_mot(path: str | Path, boxes: np.ndarray) -> None:
    """Write ``boxes`` as a MOTChallenge result file, atomically (see :func:`format_mot`)."""
    text = format_mot(boxes)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def group_by_frame(boxes: np.ndarray) -> dict[int, np.ndarray]:
    """{frame: boxes of that frame} in O(N log N) (one stable sort + split); frames without boxes are absent."""
    if len(boxes) == 0:
        return {}
    order = np.argsort(boxes["frame"], kind="stable")
    b = boxes[order]
    frames, starts = np.unique(b["frame"], return_index=True)
    parts = np.split(b, starts[1:])
    return {int(f): p for f, p in zip(frames, parts)}


def iter_frames(
    boxes: np.ndarray, start: int = 1, end: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame, boxes)`` for EVERY frame from ``start`` to ``end`` (default: last frame with a box),
    empty arrays included - trackers must see empty frames too, to age their tracks."""
    groups = group_by_frame(boxes)
    if end is None:
        end = max(groups) if groups else start - 1
    for frame in range(start, end + 1):
        yield frame, groups[frame] if frame in groups else make_boxes(0)
