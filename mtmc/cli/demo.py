"""``mtmc demo``: synthesize a small LAB scene, track it with and without ReID, score, show the outputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# The demo's embedded default: simulated detections with realistic noise, a motion tracker per camera,
# and the global association (ground-plane fusion + ReID on entry when a ReID model is given).
DEMO_CONFIG = [
    "detector.name=simulated",
    "tracker.name=botsort",
    "association.name=global",
    "output.map=true",
    "output.interpolate_seconds=1.0",
]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="synthesize a LAB scene, track it, evaluate, and show where every output is",
        description="The main job on an embedded default: synthesize a small LAB-style scene (4 corner cameras, "
        "people entering, leaving and re-entering), run `mtmc track` without and with ReID, evaluate "
        "MOTA/IDF1 per camera and jointly across cameras, and print the results.",
    )
    parser.add_argument("--workdir", default="work/demo", help="folder for the scene and runs (default work/demo)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--duration", type=float, default=90.0, help="seconds of video (default 90)")
    parser.add_argument("--people", type=int, default=10, help="identities who visit the room (default 10)")
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--reid-model", default=None, help="ReID model name (default: from the checkpoint)")
    parser.add_argument("--reid-weights", default=None, help="ReID checkpoint or ONNX file to compare against")
    parser.add_argument("--reid-config", action="append", default=[], metavar="YAML",
                        help="config layered on for the ReID run (its thresholds, e.g. configs/lab_reid_osnet.yaml)")
    parser.add_argument("--videos", action="store_true", help="also write annotated videos")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eval.mot import MetricsReport
    from mtmc.config import load_config
    from mtmc.run import run_tracking
    from mtmc.synth import SynthConfig, generate_scene

    work = Path(args.workdir)
    scene_dir = work / "scene"
    synth = SynthConfig(seed=args.seed, duration=args.duration, people=args.people, cameras=args.cameras)
    synth.validate()
    meta = scene_dir / "scene.json"
    if meta.is_file() and _same_scene(meta, synth):
        print(f"scene: reusing {scene_dir}")
    else:
        print(f"scene: synthesizing {args.duration:g} s, {args.cameras} cameras, {args.people} people -> {scene_dir}")
        generate_scene(synth, scene_dir, overwrite=True)

    runs = {"no ReID": (work / "runs" / "no_reid", [])}
    # The oracle "ReID" embeds a box as its ground-truth identity: what perfect appearance would buy.
    runs["oracle ReID"] = (work / "runs" / "oracle_reid", ["reid.model=oracle"])
    if args.reid_weights:
        reid = [f"reid.weights={args.reid_weights}"]
        if args.reid_model:
            reid.append(f"reid.model={args.reid_model}")
        elif str(args.reid_weights).endswith(".onnx") and not args.reid_config:  # else the layer names it
            reid.append("reid.model=onnx")
        runs["ReID"] = (work / "runs" / "reid", reid)

    rows = {}
    for label, (out, extra) in runs.items():
        overrides = DEMO_CONFIG + extra + (["output.videos=true"] if args.videos else [])
        cfg = load_config(args.reid_config if label == "ReID" else [], overrides)
        print(f"track ({label}): {out}")
        summary = run_tracking(scene_dir, cfg, out, evaluate=True, progress=not args.quiet)
        rows[label] = summary
        print(MetricsReport(summary["metrics"]).to_table())
        for name, path in summary["outputs"].items():
            print(f"  {name:10s} {path}")

    print("\nmulti-camera scores (joint over cameras, global ids):")
    print(f"  {'run':12s} {'MOTA':>7s} {'IDF1':>7s} {'IDsw':>6s} {'ids':>5s} {'gt ids':>7s}")
    for label, summary in rows.items():
        m = summary["metrics"]["MULTICAM"]
        print(f"  {label:12s} {m['MOTA']:7.1f} {m['IDF1']:7.1f} {int(m['IDsw']):6d} {summary['identities']:5d} "
              f"{int(m['IDs']):7d}")
    if not args.reid_weights:
        print("  (pass --reid-weights CHECKPOINT to compare with a ReID model; train one with `mtmc reid train`)")
    return 0


def _same_scene(meta: Path, synth) -> bool:
    try:
        data = json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    cfg = data.get("config", {})
    return all(cfg.get(k) == getattr(synth, k) for k in ("seed", "duration", "people", "cameras"))
