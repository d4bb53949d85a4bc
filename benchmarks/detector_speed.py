"""Detector speed: milliseconds per camera image for each backend, one camera vs. a batch of cameras.

    python benchmarks/detector_speed.py                      # yolox-onnx 416 + ultralytics yolov8n.yaml 640
    python benchmarks/detector_speed.py --cameras 1 4 8 --steps 20 --threads 2 --json out.json

Images are TUD-Campus frames from ../shared when present, otherwise random 640x480
noise (speed barely depends on content, but NMS load does: real frames are preferred).
The ultralytics model defaults to the untrained ``yolov8n.yaml`` (same network and cost as
yolov8n.pt, no download needed); pass ``--ultralytics-weights`` for a trained file.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TUD = SHARED / "data" / "mot15" / "train" / "TUD-Campus" / "img1"
YOLOX = SHARED / "weights" / "yolox_nano_coco" / "yolox_nano.onnx"


def load_images(count: int) -> tuple[list[np.ndarray], str]:
    import cv2

    files = sorted(TUD.glob("*.jpg"))[:count] if TUD.is_dir() else []
    if files:
        return [cv2.imread(str(f)) for f in files], f"TUD-Campus frames ({len(files)})"
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(count)], "random 640x480 noise"


def time_backend(detector, images: list[np.ndarray], cameras: int, steps: int, warmup: int = 2) -> dict:
    """Run ``steps`` time steps of ``cameras`` images each; per-image and per-step milliseconds."""
    from mtmc.stages import FrameSet

    names = [f"cam{i}" for i in range(cameras)]

    def frameset(step: int) -> FrameSet:
        batch = [images[(step * cameras + i) % len(images)] for i in range(cameras)]
        return FrameSet(step + 1, 0.0, names, batch)

    for step in range(warmup):
        detector.detect(frameset(step))
    times, cpu = [], []
    for step in range(steps):
        fs = frameset(step)
        start, start_cpu = time.perf_counter(), time.process_time()
        detector.detect(fs)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    t = np.asarray(times) * 1000.0
    return {
        "cameras": cameras,
        "ms_per_image": float(np.median(t) / cameras),
        # process CPU time (all threads): on a busy shared machine wall time inflates, CPU time much less
        "cpu_ms_per_image": float(np.median(np.asarray(cpu) * 1000.0) / cameras),
        "ms_per_step": float(np.median(t)),
        "ms_per_step_p90": float(np.percentile(t, 90)),
    }


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cameras", type=int, nargs="+", default=[1, 4], help="batch sizes (cameras per step)"
    )
    parser.add_argument("--steps", type=int, default=10, help="timed time steps per setting")
    parser.add_argument("--threads", type=int, default=2, help="torch / onnxruntime intra-op threads")
    parser.add_argument("--yolox-weights", default=str(YOLOX))
    parser.add_argument("--ultralytics-weights", default="yolov8n.yaml")
    parser.add_argument("--imgsz", type=int, default=640, help="ultralytics inference size")
    parser.add_argument("--skip", nargs="*", default=[], choices=["yolox-onnx", "ultralytics"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    from mtmc.cli.main import offline_environment

    offline_environment()
    import torch

    torch.set_num_threads(args.threads)
    from mtmc.detectors import DETECTORS

    images, source = load_images(max(args.cameras) * 4)
    setups = []
    if "yolox-onnx" not in args.skip:
        if Path(args.yolox_weights).is_file():
            params = {"weights": args.yolox_weights, "threads": args.threads}
            setups.append(("yolox-onnx", Path(args.yolox_weights).name, params))
        else:
            print(f"skipping yolox-onnx: {args.yolox_weights} not found", file=sys.stderr)
    if "ultralytics" not in args.skip:
        params = {"weights": args.ultralytics_weights, "imgsz": args.imgsz}
        setups.append(("ultralytics", args.ultralytics_weights, params))

    rows = []
    for name, model, params in setups:
        detector = DETECTORS.build(name, params)
        size = getattr(detector, "size", None)  # YOLOX: fixed (h, w); ultralytics: long side, letterboxed
        label = f"{size[1]}x{size[0]}" if size else f"{args.imgsz} (long side)"
        for cameras in args.cameras:
            row = {"backend": name, "model": model, "input": label}
            row.update(time_backend(detector, images, cameras, args.steps))
            rows.append(row)
            print(
                f"{name:12s} {model:18s} cams={cameras:<2d} {row['ms_per_image']:8.1f} ms/image",
                file=sys.stderr,
            )

    cpu = cpu_name()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\nimages: {source}; CPU: {cpu}, {os.cpu_count()} cores, {args.threads} threads, "
        f"load average {load:.1f} (busy machines inflate wall times); median of {args.steps}\n"
    )
    print("| backend | model | input | cameras/step | ms/image | ms/step | p90 ms/step | CPU ms/image |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['model']} | {r['input']} | {r['cameras']} | {r['ms_per_image']:.1f} "
            f"| {r['ms_per_step']:.1f} | {r['ms_per_step_p90']:.1f} | {r['cpu_ms_per_image']:.1f} |"
        )
    if args.json:
        from mtmc.atomic import write_json

        write_json(args.json, {"images": source, "threads": args.threads, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
