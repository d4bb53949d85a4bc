"""MOTChallenge ``seqinfo.ini``: name, frame rate, length and image layout of a sequence."""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

from mtmc.errors import DataError


@dataclass(frozen=True)
class SeqInfo:
    """The ``[Sequence]`` section of a seqinfo.ini (sizes in pixels, frame rate in frames/s)."""

    name: str
    frame_rate: float | None = None
    seq_length: int | None = None
    im_width: int | None = None
    im_height: int | None = None
    im_dir: str = "img1"
    im_ext: str = ".jpg"

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(width, height), or None when the file does not give both."""
        if self.im_width is None or self.im_height is None:
            return None
        return (self.im_width, self.im_height)


def _number(path: Path, section: configparser.SectionProxy, key: str, cast: type, positive: bool = True):
    raw = section.get(key)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = cast(float(raw)) if cast is float else int(raw.strip())
    except ValueError:
        raise DataError(f"[Sequence] {key}: expected a {cast.__name__}, got {raw!r}", path=path) from None
    if positive and value <= 0:
        raise DataError(f"[Sequence] {key}: expected a positive number, got {raw!r}", path=path)
    return value


def read_seqinfo(path: str | Path) -> SeqInfo:
    """Parse a seqinfo.ini; every key is optional except the ``[Sequence]`` section itself."""
    path = Path(path)
    if not path.is_file():
        raise DataError("seqinfo.ini not found", path=path)
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are camelCase (frameRate, seqLength)
    try:
        parser.read_string(path.read_text(), source=str(path))
    except (configparser.Error, UnicodeDecodeError) as err:
        first = str(err).splitlines()[0]
        raise DataError(f"not a valid ini file ({first})", path=path) from None
    if "Sequence" not in parser:
        raise DataError(
            "missing the [Sequence] section (expected name, frameRate, seqLength, ...)", path=path
        )
    sec = parser["Sequence"]
    ext = sec.get("imExt", ".jpg").strip() or ".jpg"
    return SeqInfo(
        name=sec.get("name", path.parent.name).strip() or path.parent.name,
        frame_rate=_number(path, sec, "frameRate", float),
        seq_length=_number(path, sec, "seqLength", int),
        im_width=_number(path, sec, "imWidth", int),
        im_height=_number(path, sec, "imHeight", int),
        im_dir=sec.get("imDir", "img1").strip() or "img1",
        im_ext=ext if ext.startswith(".") else "." + ext,
    )
