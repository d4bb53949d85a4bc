"""One tracking run end to end: open the input, run the pipeline, write every output atomically.

Outputs are written only once everything is computed, through a staging folder: a run that fails
or is interrupted (Ctrl-C) leaves the run folder as it was.

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

from mtmc.atomic import staged_outputs, write_text
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
    for warning in scene.warnings:  # also with --quiet: a warning is about the input, not progress
        print(f"warning: {warning}", file=sys.stderr)
    pipeline = Pipeline(cfg, scene, embedder=embedder)
    start = time.perf_counter()
    result: PipelineResult = pipeline.run(progress=progress, online=online)
    wall = time.perf_counter() - start
    report = evaluate_run(scene, result, cfg) if evaluate else None

    # Everything is computed: write it all, or (error, Ctrl-C) nothing.
    out_dir = Path(out_dir)
    outputs = {"config": out_dir / "config.yaml", "tracks": out_dir / "tracks", "global": out_dir / "global.txt"}
    with staged_outputs(out_dir) as stage:
        write_text(stage / "config.yaml", dump_config(cfg))
        for name, boxes in zip(result.cameras, result.tracks):
            write_mot(stage / "tracks" / f"{name}.txt", boxes)
        write_global(stage / "global.txt", result.tracks)  # camera by camera: no copy of the whole run
        if cfg.output.videos:
            from mtmc.visualize import write_annotated_videos

            trail = int(cfg.output.trail_seconds * scene.fps)
            write_annotated_videos(scene, result.tracks, stage / "videos", trail)
            outputs["videos"] = out_dir / "videos"
        if cfg.output.map:
            from mtmc.visualize import write_map

            if write_map(result.tracks, stage / "map.png", stage / "map.mp4", scene.fps, scene):
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
        }
        if report is not None:
            report.to_json(stage / "metrics.json")
            report.to_csv(stage / "metrics.csv")
            summary["metrics"] = report.rows
            outputs["metrics"] = out_dir / "metrics.json"
        summary["outputs"] = {k: str(v) for k, v in outputs.items()}
        write_summary(stage / "summary.json", summary)
    return summary


def evaluate_run(scene, result: PipelineResult, cfg: PipelineConfig):
    """Score a run against the scene's ground truth (None when there is none)."""
    from eval.mot import evaluate

    gt = scene.ground_truth()
    if not gt:
        return None
    missing = [c for c in gt if c not in result.cameras]
    if missing:
        raise DataError(f"no tracks for camera {missing[0]!r}")
    pred = {name: boxes for name, boxes in zip(result.cameras, result.tracks) if name in gt}
    return evaluate(gt, pred, iou_threshold=cfg.eval.iou_threshold, hota=cfg.eval.hota)
