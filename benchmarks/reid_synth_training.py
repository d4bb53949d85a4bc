"""Does ReID training work?  Untrained vs trained vs SWA, on synthetic identities from `mtmc synth`.

    mtmc synth --reid-crops work/crops --train-ids 100 --test-ids 50
    python benchmarks/reid_synth_training.py --data work/crops --out runs/reid_synth \
        --models cdnet,compact_reid_1x --epochs 30

Each model is trained with its ``configs/reid/<model>_synth.yaml`` recipe (plus a short SWAG stage), and
scored with the Market-1501 protocol on the 50 test identities (disjoint from the 100 training ones)
before training, at the end of the SGD epochs, and with the SWA mean.  Results: ``OUT/results.json`` and a
markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_model(name: str, args) -> dict:
    from mtmc.config import load_config
    from reid.engine import Trainer
    from reid.evaluate import evaluate_model
    from reid.train_config import TrainRecipe

    overrides = [
        f"data.root={args.data}", f"epochs={args.epochs}", f"device={args.device}",
        f"data.num_workers={args.workers}", f"eval.every={args.eval_every}", "progress=false",
        "swag.enabled=true", f"swag.cycles={args.swag_cycles}", f"swag.cycle_epochs={args.eval_every}",
    ]
    recipe = load_config([ROOT / "configs" / "reid" / f"{name}_synth.yaml"], overrides, cls=TrainRecipe)
    out = Path(args.out) / name
    trainer = Trainer(recipe, out, log=lambda s: print(f"[{name}] {s}", flush=True))
    untrained, _ = evaluate_model(trainer.model, trainer.data.query, trainer.data.gallery, trainer.test_tf,
                                  device=trainer.device)
    start = time.perf_counter()
    history = trainer.fit(resume=(out / "checkpoint.pth").is_file())
    seconds = time.perf_counter() - start
    evaluated = [row for row in history if "rank1" in row]
    sgd_end = next((r for r in evaluated if r["epoch"] == args.epochs), evaluated[-1] if evaluated else {})
    swag = json.loads((out / "swag_metrics.json").read_text()) if (out / "swag_metrics.json").is_file() else {}
    keep = ("rank1", "rank5", "mAP")
    return {
        "model": name,
        "epochs": args.epochs,
        "swag_epochs": args.swag_cycles * args.eval_every,
        "train_seconds": round(seconds, 1),
        "device": str(trainer.device),
        "untrained": {k: untrained.get(k) for k in keep},
        "trained": {k: sgd_end.get(k) for k in keep},
        "trained_plus_sgd_cycles": {k: evaluated[-1].get(k) for k in keep} if evaluated else {},
        "swa_mean": {k: swag.get("swa_mean", {}).get(k) for k in keep},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="Market-layout crops from `mtmc synth --reid-crops`")
    p.add_argument("--out", default="runs/reid_synth")
    p.add_argument("--models", default="cdnet,compact_reid_1x")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--eval-every", type=int, default=5)
    p.add_argument("--swag-cycles", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    results = []
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for name in args.models.split(","):
        results.append(run_model(name, args))
        (Path(args.out) / "results.json").write_text(json.dumps(results, indent=2))  # after every model
    print("| model | device | train s | untrained R1 / mAP | trained R1 / mAP | + SGD cycles R1 / mAP | SWA mean R1 / mAP |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        def cell(d):
            return "n/a" if d.get("rank1") is None else f"{d['rank1']:.1f} / {d['mAP']:.1f}"
        print(f"| {r['model']} ({r['epochs']}+{r['swag_epochs']} ep) | {r['device']} | {r['train_seconds']} | "
              f"{cell(r['untrained'])} | {cell(r['trained'])} | {cell(r['trained_plus_sgd_cycles'])} | "
              f"{cell(r['swa_mean'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
