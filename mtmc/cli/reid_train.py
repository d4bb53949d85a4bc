"""``mtmc reid train -c RECIPE [--resume] [-o OUT] [key=value ...]``: train a ReID model."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train",
        help="train a ReID model from a recipe (configs/reid/*.yaml)",
        description="Train a ReID model. Checkpoints are written after every epoch; --resume continues exactly. "
        "Multi-GPU: torchrun --nproc_per_node N -m mtmc.cli.main reid train -c RECIPE",
    )
    parser.add_argument("-c", "--config", action="append", required=True, metavar="RECIPE",
                        help="recipe YAML (repeatable; later files override earlier ones)")
    parser.add_argument("-o", "--output", default=None, help="run folder (default: recipe 'output' or "
                        "runs/reid/<recipe name>)")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoint.pth")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="recipe overrides, e.g. data.root=/data")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mtmc.config import load_config
    from reid.engine import train
    from reid.train_config import TrainRecipe

    recipe = load_config(args.config, args.overrides, cls=TrainRecipe)
    out = Path(args.output or recipe.output or Path("runs") / "reid" / Path(args.config[0]).stem)
    history = train(recipe, out, resume=args.resume)
    evals = [row for row in history if row.get("rank1") is not None]
    if evals:
        last = evals[-1]
        print(f"epoch {last['epoch']}: rank-1 {last['rank1']:.2f}  rank-5 {last['rank5']:.2f}  "
              f"rank-10 {last['rank10']:.2f}  mAP {last['mAP']:.2f}")
    print(f"run folder: {out}")
    return 0
