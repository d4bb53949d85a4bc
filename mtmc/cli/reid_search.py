"""``mtmc reid search -c RECIPE [-o OUT] [--resume] [key=value ...]``: ReID architecture search."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "search",
        help="search a ReID architecture (configs/reid/search_*.yaml)",
        description="Architecture search: method topk-cds / topk-cs (CDNet Top-k Sample Search) or "
        "darts-autoreid (first-order DARTS over the Auto-ReID space). A checkpoint is written after every "
        "epoch; --resume continues. Writes OUT/genotype.json and OUT/train_model.yaml "
        "(use: mtmc reid train -c BASE_RECIPE -c OUT/train_model.yaml).",
    )
    parser.add_argument("-c", "--config", action="append", required=True, metavar="RECIPE",
                        help="search recipe YAML (repeatable; later files override earlier ones)")
    parser.add_argument("-o", "--output", default=None,
                        help="run folder (default: recipe 'output' or runs/reid_search/<recipe name>)")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoint.pth")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="recipe overrides, e.g. data.root=/data method=topk-cs topk.k=3")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mtmc.config import load_config
    from reid.search import SearchRecipe, search

    recipe = load_config(args.config, args.overrides, cls=SearchRecipe)
    out = Path(args.output or recipe.output or Path("runs") / "reid_search" / Path(args.config[0]).stem)
    print(f"{recipe.method} search -> {out}")
    genotype = search(recipe, out, resume=args.resume)
    print(f"genotype: {genotype}")
    print(f"train it: mtmc reid train -c BASE_RECIPE -c {out / 'train_model.yaml'}")
    return 0
