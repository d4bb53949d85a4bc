"""WILDTRACK benchmark: per-view box metrics and ground-plane metrics, noise-free and realistic detections.

Imports ``../shared/data/wildtrack`` as a scene (``mtmc import wildtrack``), tracks it with
``configs/wildtrack.yaml`` (ground-plane association over the 7 views, no ReID), and scores

* per view (pooled ``OVERALL`` and joint ``MULTICAM``): MOTA / IDF1 on boxes (IoU 0.5);
* on the ground plane: MODA / MODP / MOTA / IDF1 / HOTA at 0.5 m and 1 m (``eval.ground``);
* the ground projection of the gt boxes against the gt positions (median error, metres);
* the wall time of the tracking run (360 frames x 7 views).

Every row is reported on the first half of the frames (used to tune ``configs/wildtrack.yaml``), the
second half (never used for tuning) and the whole sequence::

    python benchmarks/wildtrack.py [--data ../shared/data/wildtrack] [--work work/bench_wildtrack] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.ground import evaluate_ground, ground_points, projection_errors, row_name  # noqa: E402
from eval.mot import MULTICAM, OVERALL, evaluate  # noqa: E402
from mtmc.boxes import concat  # noqa: E402
from mtmc.cli.import_data import noise_params  # noqa: E402
from mtmc.config import load_config  # noqa: E402
from mtmc.io.scene import open_input  # noqa: E402
from mtmc.io.wildtrack import import_wildtrack  # noqa: E402
from mtmc.pipeline import Pipeline  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "wildtrack"
NOISE_OVERRIDES = {  # "realistic" and "none" are the noise levels of `mtmc import wildtrack --noise`
    "realistic": [],
    "none": ["detector.params.miss_rate=0", "detector.params.occlusion_miss=0", "detector.params.min_visibility=0",
             "detector.params.fp_per_frame=0", "detector.params.jitter=0"],
    "jitter-0.02": ["detector.params.jitter=0.02"],  # sensitivity: realistic noise, but tighter boxes
}


def _frames(boxes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return boxes[(boxes["frame"] >= lo) & (boxes["frame"] <= hi)]


def score(scene, tracks: list[np.ndarray], lo: int, hi: int) -> dict[str, float]:
    """Box metrics (pooled and joint) and ground metrics on frames lo..hi."""
    gt = {c.name: _frames(scene.load_gt(c.index), lo, hi) for c in scene.cameras}
    pred = {c.name: _frames(t, lo, hi) for c, t in zip(scene.cameras, tracks)}
    boxes = evaluate(gt, pred, hota=False).rows
    ground = evaluate_ground(_frames(scene.load_world_gt(), lo, hi), _frames(ground_points(concat(tracks)), lo, hi))
    row = {"view MOTA": boxes[OVERALL]["MOTA"], "view IDF1": boxes[OVERALL]["IDF1"],
           "multicam IDF1": boxes[MULTICAM]["IDF1"]}
    for t in (0.5, 1.0):
        g = ground.rows[row_name(t)]
        for col in ("MODA", "MODP", "MOTA", "IDF1", "HOTA"):
            if col in g:
                row[f"{col}@{t:g}m"] = g[col]
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="WILDTRACK folder")
    ap.add_argument("--work", default=str(ROOT / "work" / "bench_wildtrack"), help="scratch folder for the scene")
    ap.add_argument("-c", "--config", action="append", default=None, help="config layers (default wildtrack.yaml)")
    ap.add_argument("--noise", choices=list(NOISE_OVERRIDES), action="append", default=None)
    ap.add_argument("--out", default=None, help="also write the markdown table here")
    ap.add_argument("overrides", nargs="*", help="KEY=VALUE config overrides")
    args = ap.parse_args(argv)
    configs = args.config or [str(ROOT / "configs" / "wildtrack.yaml")]
    scene_dir = Path(args.work) / "scene"
    import_wildtrack(args.data, scene_dir, noise_params("realistic"), overwrite=True)
    scene = open_input(scene_dir)
    err = projection_errors(scene)
    n = scene.num_frames
    halves = {"1st half (tuning)": (1, n // 2), "2nd half (held out)": (n // 2 + 1, n), "all": (1, n)}
    lines = [f"scene: {n} frames x {len(scene.cameras)} views at {scene.fps:g} fps; ground projection of gt boxes: "
             f"median {np.median(err):.3f} m, 90th percentile {np.percentile(err, 90):.3f} m ({len(err)} boxes)", ""]
    header = None
    for noise in args.noise or list(NOISE_OVERRIDES):
        cfg = load_config(configs, NOISE_OVERRIDES[noise] + list(args.overrides))
        start = time.perf_counter()
        result = Pipeline(cfg, scene).run()
        wall = time.perf_counter() - start
        for label, (lo, hi) in halves.items():
            row = score(scene, result.tracks, lo, hi)
            if header is None:
                header = ["noise", "frames", *row, "track wall s"]
                lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            cells = [noise, label, *(f"{v:.1f}" for v in row.values()), f"{wall:.1f}" if label == "all" else ""]
            lines.append("| " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
