"""The headline benchmark: multi-camera MOTA / IDF1 on synthetic LAB scenes, with and without ReID.

    python benchmarks/lab_headline.py --seeds 0,1,2 --duration 180 --people 12 \
        --reid osnet_x0_25=runs/reid/osnet_x0_25/model.pth --reid cdnet=runs/reid/cdnet/model.pth

For every seed a LAB-style scene is synthesized (cached in --workdir), then tracked with the
config ``configs/lab.yaml`` + ``configs/detectors/simulated.yaml`` (simulated detector with realistic noise, BoT-SORT per camera, global
association) under each setting:

* ``no ReID``  — ground-plane fusion and motion continuations only;
* one row per ``--reid NAME=WEIGHTS`` — models trained on synthetic identities disjoint from the scenes
  (`mtmc synth --reid-crops` draws its people from a population no scene uses, whatever the seed);
* ``oracle``   — the embedding of a box is its ground-truth identity: the upper bound of ReID.

``--latency 0,2,5`` adds each model's streaming rows: the ids exactly as emitted ``L`` seconds after each
frame and never changed afterwards (``mtmc track --online``), with the window re-clustering for L > 0.
``--offline`` adds each model's offline-refined row, ``--variant`` more rows per model with other
settings (e.g. bytetrack, where only the association asks for crops), ``--embedding-cache`` keeps the
embeddings so a rerun with other association settings costs minutes.
``--detector yolox=PATH.onnx`` (YOLOX ONNX), ``--detector trained=PATH.pt`` (an ultralytics model, run at
``--detector-imgsz``) or ``--detector trained=OUT/detector.yaml`` (the layer `mtmc detector train` writes:
weights and tracker thresholds) adds real-detector rows (no ReID, oracle ReID, with ``--offline`` its
offline row) labelled NAME.  Scores are MULTICAM (one accumulator over all
cameras with global ids).  Results go to ``--out`` (JSON) and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # association_sweep's embedding cache


def scene_for(seed: int, args) -> Path:
    from mtmc.synth import SynthConfig, generate_scene

    out = Path(args.workdir) / f"lab_s{seed}_{int(args.duration)}s"
    if not (out / "scene.json").is_file():
        cfg = SynthConfig(seed=seed, duration=args.duration, people=args.people)
        generate_scene(cfg, out, overwrite=True)
    return out


OFFLINE = ["association.params.refine.offline=true"]


def settings(args) -> list[tuple[str, list[str], list[str], bool]]:
    """(label, extra config files, overrides, streaming) per row; ``--offline`` adds an offline-refined row
    per model, ``--latency`` streaming rows."""
    rows = [("no ReID", [], ["reid.model=none"], False)]
    variants = [("", [])] + [(label, extra.split(",")) for label, _, extra in
                             (v.partition(":") for v in args.variant)]
    for spec in args.reid:
        name, _, weights = spec.partition("=")
        model = "onnx" if weights.endswith(".onnx") and name == "onnx" else name
        for variant, extra in variants:
            over = [f"reid.model={model}", f"reid.weights={weights}"] + extra
            label = f"ReID {name}" + (f" [{variant}]" if variant else "")
            if not args.latency:
                rows.append((label, args.reid_config, over, False))
            for latency in args.latency:
                rows.append((f"{label} streamed L={latency:g}s", args.reid_config,
                             over + [f"association.params.latency_seconds={latency:g}"], True))
            if args.offline:
                rows.append((f"{label} offline", args.reid_config, over + OFFLINE, False))
    rows.append(("oracle ReID", [], ["reid.model=oracle"], False))
    if args.offline:
        rows.append(("oracle ReID offline", [], ["reid.model=oracle"] + OFFLINE, False))
    return rows


def _cache_file(args, scene: Path, key: tuple) -> Path | None:
    """Where the embeddings of ``scene`` under (model, weights, detector, tracker) ``key`` are kept, if anywhere."""
    if not args.embedding_cache:
        return None
    model, weights, detector, tracker = key
    tag = f"{scene.name}_{detector}_{tracker}_{model}_{Path(str(weights)).parent.name}_{Path(str(weights)).stem}"
    return Path(args.embedding_cache) / f"{tag}.pkl"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--duration", type=float, default=180.0)
    p.add_argument("--people", type=int, default=12)
    p.add_argument("--workdir", default="work/headline")
    p.add_argument("--reid", action="append", default=[], metavar="NAME=WEIGHTS")
    p.add_argument("--detector", action="append", default=[], metavar="NAME=PATH",
                   help="also run a real detector (PATH.onnx: YOLOX ONNX; else ultralytics weights) for the "
                        "no-ReID and oracle settings")
    p.add_argument("--detector-imgsz", type=int, default=320, help="input size of ultralytics --detector rows")
    p.add_argument("--config", default=str(ROOT / "configs" / "lab.yaml"))
    p.add_argument("--reid-config", action="append", default=[], metavar="YAML",
                   help="config layered on top for the --reid rows (thresholds tuned for that model)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config overrides")
    p.add_argument("--variant", action="append", default=[], metavar="LABEL:KEY=VALUE[,KEY=VALUE]",
                   help="more rows per ReID model with these overrides, e.g. 'bytetrack:tracker.name=bytetrack' "
                        "(ReID scheduled by the association instead of every detection embedded)")
    p.add_argument("--latency", default="", type=lambda t: [float(v) for v in t.split(",") if v],
                   metavar="L1,L2,...", help="streaming rows per ReID model: ids emitted L seconds late, final")
    p.add_argument("--offline", action="store_true",
                   help="also score each ReID model with the offline refinement (same embeddings, reused)")
    p.add_argument("--out", default="work/headline/results.json")
    p.add_argument("--embedding-cache", metavar="DIR",
                   help="keep every box's embedding per scene and model here, so a rerun (other association "
                        "settings) skips the ReID forward passes")
    args = p.parse_args(argv)

    from association_sweep import CachedEmbedder

    from mtmc.atomic import atomic_path, write_json
    from mtmc.config import load_config
    from mtmc.embedders import build_embedder
    from mtmc.run import run_tracking

    # Resumable: rows already in --out (same seed, detector and setting) are kept, not run again.
    done = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else []
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        scene = scene_for(seed, args)
        runs = [(label, files, over, "simulated", stream) for label, files, over, stream in settings(args)]
        for spec in args.detector:
            name, _, path = spec.partition("=")
            layer = [path] if path.endswith((".yaml", ".yml")) else []  # e.g. OUT/detector.yaml of detector train
            det = ([] if layer else
                   ["detector.name=yolox-onnx", f"detector.params.weights={path}"] if path.endswith(".onnx") else
                   ["detector.name=ultralytics", f"detector.params.weights={path}",
                    f"detector.params.imgsz={args.detector_imgsz}"])
            runs += [(label, files + layer, over + det, name, stream) for label, files, over, stream in settings(args)
                     if label in ("no ReID", "oracle ReID", "oracle ReID offline")]
        embedders: dict[tuple, CachedEmbedder] = {}  # the online and offline rows of a model share crops
        for label, files, overrides, detector, stream in runs:
            previous = [r for r in done if (r["seed"], r["setting"], r["detector"]) == (seed, label, detector)]
            if previous:
                results.append(previous[0])
                continue
            # the simulated detector unless a row names another (--detector rows override it)
            cfg = load_config([args.config, str(ROOT / "configs" / "detectors" / "simulated.yaml"), *files], overrides + ["output.map=false"] + args.set)
            out = Path(args.workdir) / "runs" / f"s{seed}_{detector}_{label.replace(' ', '_')}"
            embedder, cache_file = None, None
            if cfg.reid.model not in ("none", "oracle"):
                # Per tracker: each asks for other crops, and its ReID time is measured, not read from a cache.
                key = (cfg.reid.model, cfg.reid.weights, detector, cfg.tracker.name)
                cache_file = _cache_file(args, scene, key)
                if key not in embedders:
                    embedders[key] = CachedEmbedder(build_embedder(cfg.reid))
                    if cache_file is not None and cache_file.is_file():  # only ever our own file
                        embedders[key].cache = pickle.loads(cache_file.read_bytes())
                embedder = embedders[key]
            start = time.perf_counter()
            summary = run_tracking(scene, cfg, out, evaluate=True, progress=False, embedder=embedder,
                                   online=stream)
            m = summary["metrics"]["MULTICAM"]
            secs = summary["seconds"]
            row = {
                "seed": seed, "setting": label, "detector": detector,
                "MOTA": round(m["MOTA"], 1), "IDF1": round(m["IDF1"], 1), "IDsw": int(m["IDsw"]),
                "identities": summary["identities"], "gt_identities": int(m["IDs"]),
                "embedded_crops": summary["embedded_crops"],
                "reid_share": round(secs.get("reid", 0.0) / max(sum(secs.values()), 1e-9), 3),
                "seconds": round(time.perf_counter() - start, 1),
                "associate_ms_per_frame": round(1000 * secs.get("associate", 0.0) / max(summary["frames"], 1), 2),
            }
            if embedder is not None:
                if cache_file is not None and embedder.misses:
                    with atomic_path(cache_file) as tmp:
                        tmp.write_bytes(pickle.dumps(embedder.cache))
                if embedder.misses == 0:
                    row["reid_share"] = None  # every crop came from the cache: no ReID timing to report
                embedder.misses = 0
            results.append(row)
            print(json.dumps(row), flush=True)
            write_json(Path(args.out), done + [r for r in results if r not in done])

    print("\n| seed | detector | setting | MULTICAM MOTA | MULTICAM IDF1 | IDsw | ids (gt) | crops embedded | "
          "association ms/frame |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['seed']} | {r['detector']} | {r['setting']} | {r['MOTA']} | {r['IDF1']} | {r['IDsw']} | "
              f"{r['identities']} ({r['gt_identities']}) | {r['embedded_crops']} | "
              f"{r.get('associate_ms_per_frame', '')} |")
    by_setting: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        by_setting.setdefault((r["detector"], r["setting"]), []).append(r)
    print("\n| detector | setting | mean MOTA | mean IDF1 |")
    print("|---|---|---|---|")
    for (det, label), rows in by_setting.items():
        mota = sum(r["MOTA"] for r in rows) / len(rows)
        idf1 = sum(r["IDF1"] for r in rows) / len(rows)
        print(f"| {det} | {label} | {mota:.1f} | {idf1:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
