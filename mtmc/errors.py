"""User-facing errors: one clear line, no traceback.

Every error caused by bad input (a malformed file, a wrong config key, a missing
video) is raised as :class:`MtmcError`; the CLI prints ``str(err)`` and exits
non-zero.  The message names where the problem is (file, line or key) and what
was expected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class MtmcError(Exception):
    """An error in the user's input, reported as a single line."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.message = message
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        return f"{where}{self.message}"


class ConfigError(MtmcError):
    """A config value is unknown, missing or of the wrong type (message names the key path)."""


class DataError(MtmcError):
    """A data file (video, annotation, calibration, dataset) is missing or malformed."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none (one-line reports)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def read_json_file(path: str | Path, what: str) -> Any:
    """Parse a JSON file; a missing file (``what`` not found) or bad JSON is one :class:`DataError` line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} not found", path=path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"invalid JSON: {err.msg}", path=path, line=err.lineno) from None
