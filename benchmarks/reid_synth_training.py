"""Does ReID training work, and what does SWAG add?  On synthetic identities from `mtmc synth`.

    mtmc synth --reid-crops work/crops --train-ids 100 --test-ids 50
    python benchmarks/reid_synth_training.py --data work/crops --out runs/reid_synth \
        --models cdnet,compact_reid_1x --epochs 30 --extra-epochs 10 --swag-cycles 2

For each model, with its ``configs/reid/<model>_synth.yaml`` recipe:

1. the untrained network is scored (Market-1501 protocol on the test identities, disjoint from training);
2. ``--epochs`` of the recipe's main schedule are trained and scored (``main/``);
3. from that checkpoint, two continuations of the same length (``--extra-epochs``):
   * ``swag/``: the recipe's SWAG stage — ``--swag-cycles`` cosine cycles from ``swag.lr_max``, the weights
     collected at every cycle end, scored at the last epoch and as the SWA mean (BN refreshed);
   * ``plain/``: the control — the same epochs at a constant ``swag.lr_max`` (the main schedule stepped down
     at epoch ``--epochs``), no averaging.

Results: ``OUT/results.json`` (after every model; an interrupted run resumes from its checkpoints) and a
markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEEP = ("rank1", "rank5", "mAP")


def _trainer(name: str, args, out: Path, extra: list[str]):
    from mtmc.config import load_config
    from reid.engine import Trainer
    from reid.train_config import TrainRecipe

    overrides = [f"data.root={args.data}", f"device={args.device}", f"data.num_workers={args.workers}",
                 "progress=false", "eval.every=0"] + extra
    recipe = load_config([ROOT / "configs" / "reid" / f"{name}_synth.yaml"], overrides, cls=TrainRecipe)
    return Trainer(recipe, out, log=lambda s: print(f"[{name}/{out.name}] {s}", flush=True)), recipe


def _scores(history: list[dict]) -> dict:
    last = history[-1] if history else {}
    return {k: last.get(k) for k in KEEP}


def _continue_from(main: Path, out: Path) -> None:
    """Seed a continuation run with the main run's final checkpoint (once)."""
    if not (out / "checkpoint.pth").is_file():
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(main / "checkpoint.pth", out / "checkpoint.pth")


def run_model(name: str, args) -> dict:
    from reid.evaluate import evaluate_model

    root = Path(args.out) / name
    n, extra = args.epochs, args.extra_epochs
    trainer, recipe = _trainer(name, args, root / "main", [f"epochs={n}", "swag.enabled=false"])
    untrained, _ = evaluate_model(trainer.model, trainer.data.query, trainer.data.gallery, trainer.test_tf,
                                  device=trainer.device)
    start = time.perf_counter()
    main = trainer.fit(resume=(root / "main" / "checkpoint.pth").is_file())
    main_seconds = time.perf_counter() - start

    if extra % args.swag_cycles:
        raise SystemExit(f"--extra-epochs {extra} must be a multiple of --swag-cycles {args.swag_cycles}")
    lr_max = recipe.swag.lr_max
    _continue_from(root / "main", root / "swag")
    swag_trainer, _ = _trainer(name, args, root / "swag", [
        f"epochs={n}", "swag.enabled=true", f"swag.cycles={args.swag_cycles}",
        f"swag.cycle_epochs={extra // args.swag_cycles}"])
    swag_history = swag_trainer.fit(resume=True)
    swa = json.loads((root / "swag" / "swag_metrics.json").read_text()).get("swa_mean", {})

    _continue_from(root / "main", root / "plain")
    # The main schedule, stepped down to lr_max at epoch n (the resumed scheduler keeps its base lr).
    plain_trainer, _ = _trainer(name, args, root / "plain", [
        f"epochs={n + extra}", "swag.enabled=false", f"schedule.milestones=[{n}]",
        f"schedule.gamma={lr_max / recipe.optim.lr!r}"])
    plain_history = plain_trainer.fit(resume=True)
    return {
        "model": name, "epochs": n, "extra_epochs": extra, "swag_cycles": args.swag_cycles,
        "lr_extra": lr_max, "main_seconds": round(main_seconds, 1),
        "seconds": round(time.perf_counter() - start, 1), "device": str(trainer.device),
        "untrained": {k: untrained.get(k) for k in KEEP},
        "trained": _scores(main),
        "plain_continuation": _scores(plain_history),
        "swag_last": _scores(swag_history),
        "swa_mean": {k: swa.get(k) for k in KEEP},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="Market-layout crops from `mtmc synth --reid-crops`")
    p.add_argument("--out", default="runs/reid_synth")
    p.add_argument("--models", default="cdnet,compact_reid_1x")
    p.add_argument("--epochs", type=int, default=30, help="main schedule epochs")
    p.add_argument("--extra-epochs", type=int, default=10, help="epochs of each continuation (SWAG / plain)")
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
    print("| model | epochs | train s (main) | untrained R1 / mAP | trained R1 / mAP | + plain R1 / mAP "
          "| + SWAG (last) R1 / mAP | SWA mean R1 / mAP |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        def cell(d):
            return "n/a" if d.get("rank1") is None else f"{d['rank1']:.1f} / {d['mAP']:.1f}"
        print(f"| {r['model']} | {r['epochs']} + {r['extra_epochs']} | {r['main_seconds']} | "
              f"{cell(r['untrained'])} | {cell(r['trained'])} | {cell(r['plain_continuation'])} | "
              f"{cell(r['swag_last'])} | {cell(r['swa_mean'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
