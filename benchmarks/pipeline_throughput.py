"""End-to-end time steps per second of `mtmc track` on a 4-camera scene, and the accuracy cost of the schedule.

    python benchmarks/pipeline_throughput.py SCENE --frames 90 --json out.json [--set KEY=VALUE ...]

Throughput rows: configs/lab.yaml (BoT-SORT, global association) + OSNet x0.25 MSMT17 ONNX ReID, detector
YOLOX-nano ONNX, ultralytics (``--ultralytics yolov8n.yaml``, imgsz 320) or its ONNX export
(``--detectors yolo-onnx --onnx best.onnx``, from ``mtmc detector export``), ``every_n`` 1, 2, 4 with round robin;
time steps/s over frames ``--warmup``+1..``--frames`` (decoding, detection, tracking, ReID, association).
Accuracy rows: the same config with the ``simulated`` detector (the schedule alone), MULTICAM MOTA/IDF1 over
the whole scene.  The load average is printed with every row (the CPU is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "weights"
LAB = [str(ROOT / "configs" / "lab.yaml")]
REID = ["reid.model=onnx", f"reid.weights={SHARED / 'osnet_x0_25_msmt17' / 'osnet_x0_25_msmt17.onnx'}"]


def steps_per_second(scene, overrides: list[str], frames: int, warmup: int) -> dict:
    from mtmc.config import load_config
    from mtmc.io.reader import SyncReader
    from mtmc.pipeline import Pipeline

    pipeline = Pipeline(load_config(LAB, overrides + ["output.map=false"]), scene)
    pipeline.stage  # noqa: B018 -- load the models before the clock starts
    stamps: list[float] = []

    def timed():
        for fs in SyncReader(scene, end=frames):
            stamps.append(time.perf_counter())
            yield fs

    result = pipeline.run(frames=timed())
    end = time.perf_counter()
    rate = (len(stamps) - warmup) / (end - stamps[warmup])
    return {"steps_per_s": round(rate, 2), "seconds": {k: round(v, 2) for k, v in result.seconds.items()},
            "embedded_crops": result.embedded_crops,
            "load": [round(x, 2) for x in os.getloadavg()]}


def accuracy(scene, every_n: int, overrides: list[str]) -> dict:
    from mtmc.config import load_config
    from mtmc.pipeline import Pipeline
    from mtmc.run import evaluate_run

    cfg = load_config(LAB, ["detector.name=simulated", f"detector.params.every_n={every_n}",
                            "detector.params.round_robin=true", "output.map=false", *overrides])
    m = evaluate_run(scene, Pipeline(cfg, scene).run(), cfg).rows["MULTICAM"]
    return {k: round(float(m[k]), 1) for k in ("MOTA", "IDF1", "IDsw")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scene")
    p.add_argument("--frames", type=int, default=90)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--every", default="1,2,4")
    p.add_argument("--detectors", default="yolox,ultralytics")
    p.add_argument("--ultralytics", default="yolov8n.yaml", help="weights (an untrained .yaml has the same speed)")
    p.add_argument("--onnx", default="", help="an ultralytics ONNX export (`mtmc detector export`) for yolo-onnx")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra config override for every row, e.g. tracker.params.motion_only=true")
    p.add_argument("--no-accuracy", action="store_true")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    from mtmc.cli.main import offline_environment
    from mtmc.io.scene import open_input

    offline_environment()
    scene = open_input(args.scene)
    detectors = {
        "yolox": ["detector.name=yolox-onnx", f"detector.params.weights={SHARED / 'yolox_nano_coco' / 'yolox_nano.onnx'}"],
        "ultralytics": ["detector.name=ultralytics", f"detector.params.weights={args.ultralytics}",
                        "detector.params.imgsz=320"],
        "yolo-onnx": ["detector.name=yolo-onnx", f"detector.params.weights={args.onnx}"],
    }
    rows = []
    for name in args.detectors.split(","):
        for n in [int(v) for v in args.every.split(",")]:
            sched = [f"detector.params.every_n={n}", "detector.params.round_robin=true"]
            row = {"detector": name, "every_n": n, **steps_per_second(
                scene, detectors[name] + sched + REID + args.set, args.frames, args.warmup)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    if not args.no_accuracy:
        for n in [int(v) for v in args.every.split(",")]:
            row = {"detector": "simulated", "every_n": n, **accuracy(scene, n, args.set)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
