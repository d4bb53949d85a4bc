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

import io
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain
from pathlib import Path

import numpy as np

from mtmc.atomic import atomic_path
from mtmc.boxes import make_boxes
from mtmc.errors import DataError

KINDS = ("result", "gt", "det")
_CHUNK_LINES = 2048  # lines parsed, or formatted, at a time: bounds the transient Python objects
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
    ({count: description}); every other line must have the same count.  Lines are converted
    in chunks, so the Python strings alive at once stay few however long the file is.
    """
    chunks: list[np.ndarray] = []
    numbers: list[int] = []
    values: list[list[str]] = []
    ncols = 0
    for lineno, raw in enumerate(io.StringIO(text, newline=None), start=1):
        line = raw.strip().rstrip(",")
        if not line or line.startswith("#"):
            continue
        # str.split is ~2x faster than a regex on large files; float() ignores spaces around commas
        fields = line.split(",") if "," in line else line.split()
        if not ncols:
            ncols = len(fields)
            if ncols not in layouts:
                expected = "; ".join(f"{n} ({desc})" for n, desc in layouts.items())
                raise DataError(f"found {ncols} columns, expected one of: {expected}", path=path, line=lineno)
        if len(fields) != ncols:
            raise DataError(
                f"found {len(fields)} columns, expected {ncols} like the first line ({layouts[ncols]})",
                path=path,
                line=lineno,
            )
        numbers.append(lineno)
        values.append(fields)
        if len(values) == _CHUNK_LINES:
            chunks.append(_to_floats(path, values, numbers[-len(values):], ncols))
            values = []
    if not numbers:
        return np.zeros((0, max(layouts))), np.zeros(0, dtype=np.int64)
    if values:
        chunks.append(_to_floats(path, values, numbers[-len(values):], ncols))
    return np.concatenate(chunks), np.asarray(numbers, dtype=np.int64)


def _to_floats(path: Path, values: list[list[str]], numbers: list[int], ncols: int) -> np.ndarray:
    try:
        flat = np.fromiter(map(float, chain.from_iterable(values)), dtype=np.float64, count=len(values) * ncols)
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
    return flat.reshape(len(values), ncols)


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


_MOT_LINE = "{},{},{:.3f},{:.3f},{:.3f},{:.3f},{:.5g},-1,-1,-1\n"
_MOT_COLUMNS = ("frame", "id", "x", "y", "w", "h", "score")


def format_mot(boxes: np.ndarray) -> str:
    """MOT result text (10 columns: frame,id,x,y,w,h,score,-1,-1,-1), sorted by frame then id."""
    return "".join(format_lines(boxes[np.lexsort((boxes["id"], boxes["frame"]))], _MOT_LINE, _MOT_COLUMNS))


def write_mot(path: str | Path, boxes: np.ndarray) -> None:
    """Write ``boxes`` as a MOTChallenge result file, atomically (see :func:`format_mot`)."""
    write_lines(path, [boxes[np.lexsort((boxes["id"], boxes["frame"]))]], _MOT_LINE, _MOT_COLUMNS)


def format_lines(rows: np.ndarray, line: str, columns: tuple[str, ...]) -> Iterator[str]:
    """``line.format(*row)`` per row of the ``columns`` of structured ``rows``, a chunk of text at a time."""
    for start in range(0, len(rows), _CHUNK_LINES):
        part = rows[start : start + _CHUNK_LINES]
        yield "".join(line.format(*values) for values in zip(*(part[c].tolist() for c in columns)))


def write_lines(path: str | Path, parts: Iterable[np.ndarray], line: str, columns: tuple[str, ...]) -> None:
    """Write :func:`format_lines` of each of ``parts`` in turn to ``path`` atomically, chunk by chunk."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        for rows in parts:
            f.writelines(format_lines(rows, line, columns))


class FrameGroups(Mapping[int, np.ndarray]):
    """{frame: boxes of that frame} over one copy sorted by frame (stable); frames without boxes are absent.

    A frame's boxes are a view cut when asked for, so a long sequence costs no Python object per frame.
    """

    def __init__(self, boxes: np.ndarray):
        self._boxes = boxes[np.argsort(boxes["frame"], kind="stable")]
        self._frames, starts = np.unique(self._boxes["frame"], return_index=True)
        self._bounds = np.append(starts, len(self._boxes))

    def __getitem__(self, frame: int) -> np.ndarray:
        i = int(np.searchsorted(self._frames, frame))
        if i == len(self._frames) or self._frames[i] != frame:
            raise KeyError(frame)
        return self._boxes[self._bounds[i] : self._bounds[i + 1]]

    def __iter__(self) -> Iterator[int]:
        return iter(self._frames.tolist())

    def __len__(self) -> int:
        return len(self._frames)


def group_by_frame(boxes: np.ndarray) -> FrameGroups:
    """{frame: boxes of that frame} in O(N log N) (see :class:`FrameGroups`)."""
    return FrameGroups(boxes)


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
