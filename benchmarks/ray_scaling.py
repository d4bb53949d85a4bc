"""Local vs Ray executor on one multi-camera scene with a pixel detector: speed, identical outputs, projection.

    python benchmarks/ray_scaling.py [--scene work/ray_bench/scene] [--cameras 8] [--duration 20] [--workers 2]
        [--weights /work/shared/weights/yolox_nano_coco/yolox_nano.onnx] [key=value ...]

Synthesises the scene if it does not exist (``mtmc synth --cameras 8 --duration 20``), tracks it with
YOLOX-nano (``detector.name=yolox-onnx``) in one process, then with ``runtime.executor=ray`` on
``--workers`` workers of a local Ray (``ray.init(num_cpus=workers)``), checks that the per-camera MOT files and
global.txt are byte-identical, and prints a markdown table (time steps/s, speed-up, bytes per camera and frame
crossing between workers and driver) plus a projection to 100 cameras on N nodes from the measured costs.
The load average is printed with the timings: on a shared machine they move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WEIGHTS = ROOT.parent / "shared" / "weights" / "yolox_nano_coco" / "yolox_nano.onnx"


def track(scene: Path, out: Path, overrides: list[str]) -> dict:
    from mtmc.config import load_config
    from mtmc.run import run_tracking

    cfg = load_config([], ["detector.name=simulated", *overrides])
    return run_tracking(scene, cfg, out, progress=False)


def same_outputs(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in (a / "tracks").glob("*.txt"))
    files = [Path("tracks") / n for n in names] + [Path("global.txt")]
    return bool(names) and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def projection(per_camera_s: float, bytes_per_camera_frame: float, associate_s_per_camera: float, fps: float,
               cores_per_node: int) -> list[str]:
    """100 cameras at ``fps``: worker cores, nodes, driver network and associator load, from measured costs."""
    cameras = 100
    cores = cameras * fps * per_camera_s  # core-seconds of per-camera work per second of video
    lines = [f"Projection to {cameras} cameras at {fps:g} fps (per-camera work {per_camera_s * 1e3:.1f} ms/frame "
             f"CPU time on one core, {bytes_per_camera_frame:.0f} B/camera/frame, associator "
             f"{associate_s_per_camera * 1e3:.3f} ms/camera/step):", "",
             "| nodes x cores | real-time factor (>= 1: keeps up) | driver ingress | associator share of a step |",
             "|---|---|---|---|"]
    ingress = cameras * fps * bytes_per_camera_frame
    assoc = cameras * associate_s_per_camera * fps  # seconds of association per second of video
    for nodes in (1, 2, 4, 8, 16, 32):
        total = nodes * cores_per_node
        factor = total / cores
        lines.append(f"| {nodes} x {cores_per_node} | {factor:.2f} | {ingress / 1e6:.2f} MB/s | {assoc:.2f} |")
    lines += ["", f"({cores:.0f} cores of per-camera work are needed for real time; the driver's associator "
              "is single-threaded, so its share must stay < 1 on one core.)"]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scene", type=Path, default=ROOT / "work" / "ray_bench" / "scene")
    ap.add_argument("--cameras", type=int, default=8)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    ap.add_argument("--out", type=Path, default=ROOT / "work" / "ray_bench" / "runs")
    ap.add_argument("--cores-per-node", type=int, default=32, help="for the projection")
    ap.add_argument("overrides", nargs="*", help="config overrides for both runs, e.g. reid.model=oracle")
    args = ap.parse_args()

    if not args.scene.exists():
        from mtmc.synth import SynthConfig, generate_scene

        generate_scene(SynthConfig(duration=args.duration, cameras=args.cameras), args.scene)
    common = ["detector.name=yolox-onnx", f"detector.params.weights={args.weights}", *args.overrides]

    import ray

    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    load = [os.getloadavg()[0]]
    cpu = time.process_time()
    local = track(args.scene, args.out / "local", common)
    local_cpu = time.process_time() - cpu  # this process, all threads
    load.append(os.getloadavg()[0])
    start = time.perf_counter()
    remote = track(args.scene, args.out / "ray", [*common, "runtime.executor=ray",
                                                   f"runtime.num_workers={args.workers}"])
    ray_wall = time.perf_counter() - start
    load.append(os.getloadavg()[0])
    ray.shutdown()

    steps = local["frames"]
    rt = remote["runtime"]
    local_rate = steps / local["wall_seconds"]
    ray_rate = steps / ray_wall
    identical = same_outputs(args.out / "local", args.out / "ray")
    print(f"scene {args.scene} ({len(local['cameras'])} cameras x {steps} steps), detector yolox-onnx, "
          f"extra overrides {args.overrides or 'none'}; load average (1 min) {load[0]:.1f} / {load[1]:.1f} / "
          f"{load[2]:.1f} before local / before Ray / after; outputs identical: {identical}")
    print()
    print("| executor | wall s | time steps/s | speed-up | startup s | steady steps/s | steady speed-up |")
    print("|---|---|---|---|---|---|---|")
    print(f"| local (1 process) | {local['wall_seconds']:.1f} | {local_rate:.2f} | 1.00 | - | {local_rate:.2f} | 1.00 |")
    print(f"| ray, {args.workers} workers | {ray_wall:.1f} | {ray_rate:.2f} | {ray_rate / local_rate:.2f} | "
          f"{rt['startup_seconds']:.1f} | {rt['steps_per_second']:.2f} | {rt['steps_per_second'] / local_rate:.2f} |")
    print()
    print(f"Cores obtained (CPU seconds / wall seconds): local {local_cpu / local['wall_seconds']:.2f}, "
          f"Ray workers {rt['worker_cpu_seconds'] / ray_wall:.2f} (of {args.workers} requested); share of their "
          f"lives the workers had work (not waiting for the driver): {rt['worker_busy']}")
    per = rt["bytes_per_camera_frame"]
    print()
    print(f"Bytes per camera per frame (pickled, worker <-> driver): tracks {per['tracks']:.0f}, "
          f"embeddings {per['embeddings']:.0f}, requests {per['requests']:.0f}, total {per['total']:.0f}; "
          f"workers {rt['workers']}")
    seconds = remote["seconds"]
    camera_frames = steps * len(local["cameras"])
    per_camera = rt["worker_cpu_seconds"] / camera_frames  # CPU time: what contention on a shared machine inflates least
    print()
    print("\n".join(projection(per_camera, per["total"], seconds["associate"] / camera_frames, local["fps"],
                               args.cores_per_node)))
    (args.out / "ray_scaling.json").write_text(json.dumps(
        {"local": local, "ray": remote, "ray_wall": ray_wall, "local_cpu": local_cpu, "load": load,
         "identical": identical}, indent=1))


if __name__ == "__main__":
    main()
