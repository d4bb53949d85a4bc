"""One tracking run end to end: open the input, run the pipeline, write every output atomically.

Run folder layout::

    runs/NAME/config.yaml        fully resolved config (re-run with ``mtmc track INPUT -c runs/NAME/config.yaml``)
    runs/NAME/tracks/<cam>.txt   per-camera MOT results (global ids)
    runs/NAME/global.txt         all cameras: camera_id obj_id frame x y w h xworld yworld
    runs/NAME/summary.json       input, cameras, frames, timings, identities
    runs/NAME/videos/<cam>.mp4   annotated videos (output.videos)
    runs/NAME/map.png, map.mp4   top-down ground-plane trajectories (output.map)
    runs/NAME/metrics.{json,csv} scores against ground truth (--eval)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mtmc.atomic import write_text
from mtmc.config import PipelineConfig, dump_config
from mtmc.errors import DataError
from mtmc.pipeline import Pipeline, PipelineResult


def run_tracking(
    input_path: str | Path,
    cfg: PipelineConfig,
    out_dir: str | Path,
    evaluate: bool = False,
    progress: bool = True,
    embedder=None,
    online: bool = False,
) -> dict:
    """Track ``input_path`` with ``cfg`` into ``out_dir``; returns the run summary.

    ``online``: write the ids exactly as the stream emitted them (``association.params.latency_seconds``
    late, never changed afterwards); otherwise the whole run is relabelled with the final decisions."""
    from mtmc.io.mot import write_mot
    from mtmc.io.scene import open_input
    from mtmc.io.writers import write_global, write_summary

    scene = open_input(input_path)
    if progress:
        for warning in scene.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "config.yaml", dump_config(cfg))

    pipeline = Pipeline(cfg, scene, embedder=embedder)
    start = time.perf_counter()
    result: PipelineResult = pipeline.run(progress=progress, online=online)
    wall = time.perf_counter() - start

    tracks_dir = out_dir / "tracks"
    for name, boxes in zip(result.cameras, result.tracks):
        write_mot(tracks_dir / f"{name}.txt", boxes)
    write_global(out_dir / "global.txt", _concat(result.tracks))

    outputs = {"config": out_dir / "config.yaml", "tracks": tracks_dir, "global": out_dir / "global.txt"}
    if cfg.output.videos:
        from mtmc.visualize import write_annotated_videos

        write_annotated_videos(scene, result.tracks, out_dir / "videos", int(cfg.output.trail_seconds * scene.fps))
        outputs["videos"] = out_dir / "videos"
    if cfg.output.map:
        from mtmc.visualize import write_map

        if write_map(result.tracks, out_dir / "map.png", out_dir / "map.mp4", scene.fps, scene):
            outputs["map"] = out_dir / "map.png"
            outputs["map_video"] = out_dir / "map.mp4"

    summary = {
        "input": str(Path(input_path).resolve()),
        "scene": scene.name,
        "fps": scene.fps,
        "detector": cfg.detector.name,
        "tracker": cfg.tracker.name,
        "reid": cfg.reid.model,
        "association": cfg.association.name,
        "online": online,
        "latency_frames": int(pipeline.associator.latency),
        "wall_seconds": round(wall, 3),
        **result.as_dict(),
        "frame_base": 1,
        "outputs": {k: str(v) for k, v in outputs.items()},
    }
    if evaluate:
        report = evaluate_run(scene, result, cfg, out_dir)
        if report is not None:
            summary["metrics"] = report.rows
            summary["outputs"]["metrics"] = str(out_dir / "metrics.json")
    write_summary(out_dir / "summary.json", summary)
    return summary


def evaluate_run(scene, result: PipelineResult, cfg: PipelineConfig, out_dir: Path):
    """Score a run against the scene's ground truth (None when there is none)."""
    from eval.mot import evaluate

    gt = scene.ground_truth()
    if not gt:
        return None
    missing = [c for c in gt if c not in result.cameras]
    if missing:
        raise DataError(f"no tracks for camera {missing[0]!r}")
    pred = {name: boxes for name, boxes in zip(result.cameras, result.tracks) if name in gt}
    report = evaluate(gt, pred, iou_threshold=cfg.eval.iou_threshold, hota=cfg.eval.hota)
    report.to_json(out_dir / "metrics.json")
    report.to_csv(out_dir / "metrics.csv")
    return report


def _concat(parts):
    from mtmc.boxes import concat

    return concat(parts)
