"""``mtmc synth``: render a synthetic multi-camera scene and/or a ReID crop set."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from mtmc.errors import ConfigError

EPILOG = """\
examples:
  mtmc synth runs/lab --duration 60 --seed 3
  mtmc synth runs/tiny room=[4,5] max_present=3 --duration 3 --cameras 2 --size 320x240
  mtmc synth --reid-crops runs/synth-reid --train-ids 100 --test-ids 50
  mtmc synth runs/lab -c configs/synth/lab.yaml noise=0

key=value overrides set any SynthConfig field (see mtmc/synth/config.py) and go right after OUT,
before the flags; flags win over -c files, key=value wins over flags.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="render a synthetic multi-camera scene (LAB-like room) with exact ground truth",
        description="Render a synthetic indoor multi-camera scene: calibrated corner cameras, people who "
        "enter, walk, sit and leave through a door and come back; writes videos, per-camera MOT gt with "
        "global ids, world_gt.txt, calibration.json and scene.json.  With --reid-crops, writes identity "
        "crops in Market-1501 layout instead of (or as well as) a scene.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("items", nargs="*", metavar="OUT | key=value",
                   help="scene output folder (optional with --reid-crops) and config overrides")
    p.add_argument("-c", "--config", action="append", default=[], metavar="FILE", help="YAML SynthConfig file(s)")
    p.add_argument("--seed", type=int, help="random seed (same seed, same bytes)")
    p.add_argument("--duration", type=float, help="seconds of video (default 60)")
    p.add_argument("--cameras", type=int, help="number of cameras (default 4, corners first)")
    p.add_argument("--people", type=int, help="number of distinct identities (default 10)")
    p.add_argument("--fps", type=float, help="frame rate (default 15)")
    p.add_argument("--size", metavar="WxH", help="image size, e.g. 640x480 (default)")
    p.add_argument("--format", choices=["mp4", "avi", "images"], help="mp4 (mp4v), avi (MJPG) or img1/ JPEGs")
    p.add_argument("--workers", type=int, default=None, help="render processes (default: one per CPU core)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("ReID crops (Market-1501 layout)")
    g.add_argument("--reid-crops", metavar="DIR", help="write bounding_box_train/, query/, bounding_box_test/ here")
    g.add_argument("--train-ids", type=int, default=100, help="training identities (default 100)")
    g.add_argument("--test-ids", type=int, default=50, help="test identities, disjoint from training (default 50)")
    g.add_argument("--min-visibility", type=float, default=0.7, help="least visible fraction of a crop (0.7)")
    g.add_argument("--min-height", type=int, default=48, help="least crop height in pixels (48)")
    g.add_argument("--per-camera", type=int, default=6, help="most crops per identity and camera (6)")
    g.add_argument("--every", type=int, default=None, help="render every N-th frame (default fps/1.5)")
    p.set_defaults(func=run)


def _size(text: str) -> list[int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", text)
    if not m:
        raise ConfigError(f"--size: expected WIDTHxHEIGHT such as 640x480, got {text!r}")
    return [int(m.group(1)), int(m.group(2))]


def build_config(args: argparse.Namespace):
    """SynthConfig from -c files, flags and key=value overrides (in that order)."""
    from mtmc.config import load_config
    from mtmc.synth.config import SynthConfig

    flags = []
    for key in ("seed", "duration", "cameras", "people", "fps", "format"):
        value = getattr(args, key)
        if value is not None:
            flags.append(f"{key}={value}")
    if args.size is not None:
        w, h = _size(args.size)
        flags.append(f"size=[{w}, {h}]")
    overrides = [item for item in args.items if "=" in item]
    return load_config(args.config, flags + overrides, cls=SynthConfig)


def run(args: argparse.Namespace) -> int:
    from mtmc.synth import export_reid_crops, generate_scene

    outs = [item for item in args.items if "=" not in item]
    if len(outs) > 1:
        raise ConfigError(f"expected one output folder, got {len(outs)}: {' '.join(outs)}")
    if not outs and not args.reid_crops:
        raise ConfigError("give an output folder (OUT) or --reid-crops DIR")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers: expected at least 1, got {args.workers}")
    cfg = build_config(args)
    if outs:
        start = time.perf_counter()
        out = generate_scene(cfg, Path(outs[0]), overwrite=args.overwrite, progress=not args.quiet,
                             workers=args.workers)
        print(f"wrote {out}: {cfg.cameras} cameras x {cfg.num_frames} frames "
              f"({cfg.size[0]}x{cfg.size[1]} @ {cfg.fps:g} fps) in {time.perf_counter() - start:.1f} s")
    if args.reid_crops:
        start = time.perf_counter()
        summary = export_reid_crops(
            cfg, Path(args.reid_crops), train_ids=args.train_ids, test_ids=args.test_ids, every=args.every,
            min_visibility=args.min_visibility, min_height=args.min_height, per_camera=args.per_camera,
            overwrite=args.overwrite, progress=not args.quiet,
        )
        images, ids = summary["images"], summary["identities"]
        print(f"wrote {args.reid_crops}: " + ", ".join(f"{k} {images[k]} images / {ids[k]} ids" for k in images)
              + f" in {time.perf_counter() - start:.1f} s")
        if summary["identities_without_crops"]:
            print(f"note: {len(summary['identities_without_crops'])} identities got no crop "
                  "(try a lower --min-visibility or --min-height)")
    return 0
