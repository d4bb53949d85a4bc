"""Training reports: metrics CSV and PNG plots (losses, rank-1/mAP over epochs, CMC curve)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from mtmc.atomic import atomic_path, write_text


def write_metrics_csv(path: str | Path, history: Sequence[dict]) -> None:
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns and k != "cmc"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: _fmt(row.get(k)) for k in columns})
    write_text(path, buf.getvalue())


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def plot_history(out_dir: str | Path, history: Sequence[dict]) -> list[Path]:
    """losses.png, eval.png (rank-1 / mAP) and cmc.png (last evaluation); returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    written = []
    epochs = [r["epoch"] for r in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in ("loss", "id", "triplet"):
        values = [r.get(key) for r in history]
        if any(v is not None for v in values):
            ax.plot(epochs, values, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    written.append(_save(fig, out_dir / "losses.png"))
    plt.close(fig)

    evals = [r for r in history if r.get("rank1") is not None]
    if evals:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([r["epoch"] for r in evals], [r["rank1"] for r in evals], "o-", label="rank-1")
        ax.plot([r["epoch"] for r in evals], [r["mAP"] for r in evals], "s-", label="mAP")
        ax.set_xlabel("epoch")
        ax.set_ylabel("%")
        ax.legend()
        ax.grid(alpha=0.3)
        written.append(_save(fig, out_dir / "eval.png"))
        plt.close(fig)
        cmc = evals[-1].get("cmc")
        if cmc:
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.plot(range(1, len(cmc) + 1), cmc, "-")
            ax.set_xlabel("rank")
            ax.set_ylabel("matching rate (%)")
            ax.set_title(f"CMC, epoch {evals[-1]['epoch']}")
            ax.grid(alpha=0.3)
            written.append(_save(fig, out_dir / "cmc.png"))
            plt.close(fig)
    return written


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
    return path
