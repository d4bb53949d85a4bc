"""Render time of a synthetic scene (default: 60 s, 4 cameras, 640x480, 15 fps, mp4).

    python benchmarks/synth_speed.py [--duration 60] [--workers N] [--format mp4]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from mtmc.synth import SynthConfig, generate_scene


def _cpu() -> float:
    """CPU seconds of this process and its finished children (render workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--people", type=int, default=10)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--format", default="mp4", choices=["mp4", "avi", "images"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cfg = SynthConfig(duration=args.duration, cameras=args.cameras, people=args.people, format=args.format,
                      seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), _cpu()
        out = generate_scene(cfg, Path(tmp) / "scene", workers=args.workers)
        wall, cpu = time.perf_counter() - wall, _cpu() - cpu
        rows = sum(len((out / c / "gt" / "gt.txt").read_text().splitlines()) for c in cfg.camera_names)
    frames = cfg.num_frames * cfg.cameras
    print(f"{cfg.duration:g} s x {cfg.cameras} cameras {cfg.size[0]}x{cfg.size[1]} @ {cfg.fps:g} fps "
          f"({frames} images, {rows} gt boxes): {wall:.1f} s wall ({frames / wall:.0f} images/s), "
          f"{cpu:.1f} s CPU (all processes; wall ~ CPU / workers on an idle machine)")


if __name__ == "__main__":
    main()
