"""Atomic file output: write to a temporary sibling, then rename over the target.

A run that is killed half-way leaves either the old file or the new one, never a
truncated file; :func:`staged_outputs` does the same for a whole set of outputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success rename it to ``target``.

    The temporary file keeps the target's extension (``suffix``) so writers that
    pick a format from the extension (OpenCV, matplotlib, torch) still work.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def staged_outputs(out_dir: str | Path) -> Iterator[Path]:
    """Yield a hidden staging folder next to ``out_dir`` to write a set of outputs into.

    On success each staged entry is moved into ``out_dir`` (replacing an entry of the same name,
    keeping every other file there); on any failure, Ctrl-C included, the staging folder is deleted,
    so a failed run leaves no partial outputs.
    """
    from mtmc.errors import DataError

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError("output folder is a file", path=out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        yield staging
        out_dir.mkdir(exist_ok=True)
        for entry in sorted(staging.iterdir()):
            target = out_dir / entry.name
            if target.is_dir() and not target.is_symlink():  # os.replace cannot replace a folder
                old = staging / f".old-{entry.name}"
                os.replace(target, old)
            os.replace(entry, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_text(target: str | Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_json(target: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``target`` atomically."""
    write_text(target, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
