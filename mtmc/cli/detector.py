"""``mtmc detector train|eval|export``: adapt a person detector to one's cameras, measure it, export it."""

from __future__ import annotations

import argparse
from pathlib import Path

from mtmc.cli.common import add_config_args
from mtmc.errors import ConfigError

EPILOG = """\
examples:
  mtmc detector train runs/synth1 runs/synth2 --out runs/det --epochs 30
  mtmc detector train runs/mycams --out runs/det --model yolov8n.pt --split time   # fine-tune a .pt
  mtmc detector eval runs/held-out --weights runs/det/best.pt
  mtmc detector eval runs/held-out detector.name=yolox-onnx detector.params.weights=yolox_nano.onnx
  mtmc track runs/held-out -o runs/t -c configs/lab.yaml -c runs/det/detector.yaml
  mtmc detector export runs/det/best.pt --out runs/det/best.onnx    # ~1.7x faster on CPU (yolo-onnx)
  mtmc track runs/held-out -o runs/t -c configs/lab.yaml -c runs/det/best.yaml
"""


def tracker_threshold() -> float:
    """The default tracker's high detection threshold (ByteTrack ``track_thresh``)."""
    from mtmc.config import load_config

    return float(load_config([], []).tracker.params.get("track_thresh", 0.5))


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("detector", help="person detector: train on scenes with gt, evaluate against gt",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    dsub = parser.add_subparsers(dest="detector_verb", metavar="DETECTOR_VERB")
    dsub.required = True
    t = dsub.add_parser("train", help="train/fine-tune an ultralytics YOLO person detector (resumable)",
                        description="Export the scenes' gt as a YOLO dataset (OUT/dataset) and train an ultralytics "
                        "model into OUT/run; writes OUT/best.pt and OUT/metrics.json.  Rerun the same command to "
                        "resume an interrupted run.", epilog=EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("scenes", nargs="+", metavar="SCENE", help="scene / sequence folders with gt/gt.txt per camera")
    t.add_argument("--out", required=True, help="output folder (dataset/, run/, best.pt, metrics.json)")
    t.add_argument("--model", default="yolov8n.yaml", help="model YAML (from scratch) or .pt to fine-tune")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--hours", type=float, default=None, help="wall-time cap (ultralytics 'time'; sets the schedule)")
    t.add_argument("--imgsz", type=int, default=320, help="training / inference input size (default 320)")
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--workers", type=int, default=0, choices=[0, 1], help="dataloader workers (0 or 1)")
    t.add_argument("--device", default="cpu")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--split", choices=["camera", "time"], default="camera",
                   help="validation = the last cameras of each scene, or the end of each scene")
    t.add_argument("--val-fraction", type=float, default=0.25)
    t.add_argument("--every", type=int, default=1, help="export one frame in EVERY (default 1)")
    t.add_argument("--conf", type=float, default=None, help="threshold of the reported precision/recall "
                   "(default: the tracker's track_thresh)")
    t.add_argument("--nms-iou", type=float, default=0.5, help="NMS IoU of the validation and of OUT/detector.yaml "
                   "(default 0.5: at ultralytics' 0.7 a person's full and cut-off boxes both survive and start two "
                   "tracks)")
    t.add_argument("--quiet", action="store_true", help="no export progress bar")
    t.set_defaults(func=run_train)
    e = dsub.add_parser("eval", help="precision / recall / AP at IoU 0.5 of a detector against a scene's gt",
                        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("scene", help="scene / sequence folder with gt")
    e.add_argument("--weights", help="ultralytics weights (sets detector.name=ultralytics and its weights)")
    e.add_argument("--imgsz", type=int, default=320, help="inference size with --weights (default 320)")
    e.add_argument("--conf", type=float, default=None, help="threshold of precision/recall (default: the "
                   "tracker's track_thresh); AP uses every detection the detector returns")
    e.add_argument("--every", type=int, default=1, help="evaluate one frame in EVERY")
    e.add_argument("--min-vis", type=float, default=0.0, help="ignore gt boxes less visible than this")
    e.add_argument("--json", help="also write the metrics to this JSON file")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_args(e)
    e.set_defaults(func=run_eval)
    x = dsub.add_parser("export", help="ultralytics weights -> ONNX for the yolo-onnx backend (checked)",
                        description="Export ultralytics YOLO weights to ONNX at the input size ultralytics feeds "
                        "the network for the cameras' images, check it against the weights on a test image, and "
                        "write it atomically; next to a `detector train` output, also write OUT's .yaml config "
                        "layer (detector.name=yolo-onnx, the same thresholds).", epilog=EPILOG,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    x.add_argument("weights", help="ultralytics .pt (or a model .yaml: random weights)")
    x.add_argument("--out", required=True, help="output .onnx file")
    x.add_argument("--imgsz", type=int, default=320, help="inference size, as in detector.params.imgsz (default 320)")
    x.add_argument("--image-size", default="640x480", help="the cameras' WIDTHxHEIGHT (default 640x480)")
    x.set_defaults(func=run_export)


def _check(args: argparse.Namespace) -> float:
    if args.every < 1:
        raise ConfigError(f"--every: expected a positive number of frames, got {args.every}")
    conf = tracker_threshold() if args.conf is None else args.conf
    if not 0 <= conf <= 1:
        raise ConfigError(f"--conf: expected a score in [0, 1], got {conf}")
    for scene in getattr(args, "scenes", None) or [args.scene]:
        if not Path(scene).exists():
            raise ConfigError("scene folder not found", path=scene)
    return conf


def run_train(args: argparse.Namespace) -> int:
    from mtmc.detectors.training import dataset_matches, export_yolo_dataset, finish_training, train_detector

    conf = _check(args)
    if args.epochs < 1 or args.batch < 1 or args.imgsz < 32 or args.imgsz % 32:
        raise ConfigError("--epochs and --batch: positive; --imgsz: a multiple of 32")
    if not 0 < args.nms_iou <= 1:
        raise ConfigError(f"--nms-iou: expected an IoU in (0, 1], got {args.nms_iou}")
    out = Path(args.out)
    dataset = out / "dataset"
    if dataset_matches(dataset, args.scenes, args.split, args.val_fraction, args.every):
        print(f"reusing the dataset in {dataset}")
    else:
        export_yolo_dataset(args.scenes, dataset, split=args.split, val_fraction=args.val_fraction, every=args.every,
                            progress=not args.quiet)
    best = train_detector(dataset / "data.yaml", out, model=args.model, epochs=args.epochs, imgsz=args.imgsz,
                          batch=args.batch, workers=args.workers, device=args.device, seed=args.seed,
                          hours=args.hours)
    metrics = finish_training(best, out, dataset, args.imgsz, conf, args.device, args.nms_iou)
    v = metrics["val"]
    print(f"wrote {out / 'best.pt'}: val mAP50 {v['mAP50']:.3f}, precision {v['precision']:.3f}, recall "
          f"{v['recall']:.3f} at conf {conf:g} ({out / 'metrics.json'})")
    print(f"track with it: mtmc track SCENE -c configs/lab.yaml -c {out / 'detector.yaml'}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from mtmc.atomic import write_json
    from mtmc.config import load_config
    from mtmc.detectors.evaluation import evaluate_detector

    conf = _check(args)
    overrides = list(args.overrides)
    if args.weights:
        overrides = ["detector.name=ultralytics", f"detector.params.weights={args.weights}",
                     f"detector.params.imgsz={args.imgsz}", "detector.params.conf=0.01", *overrides]
    cfg = load_config(args.config, overrides)
    m = evaluate_detector(args.scene, cfg.detector.name, cfg.detector.params, conf, every=args.every,
                          min_visibility=args.min_vis, progress=not args.quiet)
    print(f"{m['detector']} on {m['scene']} ({m['frames']} frames, {m['gt']} gt boxes, IoU 0.5): "
          f"precision {m['precision']:.4f}  recall {m['recall']:.4f} at conf {conf:g}  AP50 {m['ap']:.4f}")
    if m["best_f1"]:
        f = m["best_f1"]
        print(f"  best F1 at conf {f['conf']:.3f}: precision {f['precision']:.4f}  recall {f['recall']:.4f}")
    if args.json:
        write_json(args.json, m)
        print(f"  wrote {args.json}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from mtmc.detectors.export import export_onnx

    try:
        w, h = (int(v) for v in args.image_size.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--image-size: expected WIDTHxHEIGHT such as 640x480, got {args.image_size!r}") from None
    r = export_onnx(args.weights, args.out, imgsz=args.imgsz, image_size=(w, h))
    shape = "x".join(str(v) for v in r["input_shape"])
    print(f"wrote {args.out}: input {shape} (h x w); on a test image {r['boxes_onnx']} boxes vs ultralytics' "
          f"{r['boxes_ultralytics']}, top boxes within {r['max_box_diff_px']:.3g} px")
    if "layer" in r:
        print(f"track with it: mtmc track SCENE -c configs/lab.yaml -c {r['layer']}")
    else:
        print(f"track with it: detector.name=yolo-onnx detector.params.weights={args.out}")
    return 0
