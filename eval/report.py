"""The result of a MOT evaluation: one row of metrics per camera plus pooled rows, in three formats."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtmc.atomic import write_text

# Display column -> (raw metric name, kind).  "pct": a fraction shown in percent; "motp": motmetrics'
# mean IoU *distance* of matches, shown as the mean IoU *overlap* in percent; "count": an integer.
COLUMNS: dict[str, tuple[str, str]] = {
    "IDF1": ("idf1", "pct"),
    "IDP": ("idp", "pct"),
    "IDR": ("idr", "pct"),
    "MOTA": ("mota", "pct"),
    "MOTP": ("motp", "motp"),
    "MODA": ("moda", "pct"),  # ground-plane detection rows (eval.ground)
    "MODP": ("modp", "pct"),
    "HOTA": ("hota", "pct"),
    "DetA": ("deta", "pct"),
    "AssA": ("assa", "pct"),
    "Rcll": ("recall", "pct"),
    "Prcn": ("precision", "pct"),
    "FP": ("num_false_positives", "count"),
    "FN": ("num_misses", "count"),
    "IDsw": ("num_switches", "count"),
    "Frag": ("num_fragmentations", "count"),
    "MT": ("mostly_tracked", "count"),
    "PT": ("partially_tracked", "count"),
    "ML": ("mostly_lost", "count"),
    "GT": ("num_objects", "count"),
    "Pred": ("num_predictions", "count"),
    "IDs": ("num_unique_objects", "count"),
}


def display_row(raw: dict[str, float]) -> dict[str, float]:
    """Raw metric values (fractions, counts) -> the report's columns (percent, counts)."""
    out: dict[str, float] = {}
    for column, (name, kind) in COLUMNS.items():
        if name not in raw:
            continue  # e.g. HOTA when trackeval is not installed
        value = float(raw[name])
        if kind == "pct":
            value *= 100.0
        elif kind == "motp":
            value = (1.0 - value) * 100.0
        out[column] = value
    return out


def _number(value: float | None) -> float:
    """A cell value as float; None (a NaN that went through JSON) becomes NaN."""
    return math.nan if value is None else float(value)


def _finite_or_none(value: float | None) -> float | None:
    value = _number(value)
    return value if math.isfinite(value) else None  # NaN (e.g. precision without predictions) is not JSON


def _format(column: str, value: float | None) -> str:
    value = _number(value)
    if not math.isfinite(value):
        return "-"
    if COLUMNS[column][1] == "count":
        return str(int(round(value)))
    return f"{value:.1f}"


@dataclass
class MetricsReport:
    """MOT metrics by row name: one row per camera, ``OVERALL`` (pooled) and ``MULTICAM`` (joint).

    Built by :func:`eval.mot.evaluate`; ``MetricsReport(rows)`` (e.g. rows read back from a summary) is
    enough for :meth:`to_table`.  ``rows`` holds the report's columns (ratios in percent in [0, 100], MOTP as the mean IoU overlap of
    matches in percent, counts as floats); ``raw`` keeps motmetrics' / trackeval's own values (fractions,
    motmetrics' ``motp`` = mean IoU distance) under their library names.
    """

    rows: dict[str, dict[str, float]]
    raw: dict[str, dict[str, float]] = field(default_factory=dict)
    iou_threshold: float = 0.5
    notes: list[str] = field(default_factory=list)

    def columns(self) -> list[str]:
        present = {c for row in self.rows.values() for c in row}
        return [c for c in COLUMNS if c in present]

    def to_table(self) -> str:
        """Aligned plain-text table for the terminal (notes, if any, below it)."""
        columns = self.columns()
        header = ["", *columns]
        body = [[name, *(_format(c, row.get(c, math.nan)) for c in columns)] for name, row in self.rows.items()]
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
            for r in [header, *body]
        ]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        def clean(rows: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
            return {n: {k: _finite_or_none(v) for k, v in r.items()} for n, r in rows.items()}

        return {
            "iou_threshold": self.iou_threshold,
            "conventions": "ratios in percent; MOTP = mean IoU overlap of matched pairs in percent; "
            "'raw' holds motmetrics/trackeval values (fractions; raw motp = mean IoU distance)",
            "rows": clean(self.rows),
            "raw": clean(self.raw),
            "notes": list(self.notes),
        }

    def to_json(self, path: str | Path) -> None:
        """Write rows, raw values and notes as JSON (atomically)."""
        write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def to_csv(self, path: str | Path) -> None:
        """Write one line per row name with the report's columns (atomically)."""
        columns = self.columns()
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["name", *columns])
        for name, row in self.rows.items():
            cells = []
            for c in columns:
                value = _number(row.get(c))
                if not math.isfinite(value):
                    cells.append("")
                elif COLUMNS[c][1] == "count":
                    cells.append(str(int(round(value))))
                else:
                    cells.append(repr(float(value)))
            writer.writerow([name, *cells])
        write_text(path, buf.getvalue())
