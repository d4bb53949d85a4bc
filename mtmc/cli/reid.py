"""``mtmc reid VERB``: ReID model export, benchmark, training, evaluation and search."""

from __future__ import annotations

import argparse
import importlib

# sub-verb -> module with ``register(subparsers)``
REID_VERBS = {
    "export": "mtmc.cli.reid_export",
    "bench": "mtmc.cli.reid_bench",
    "train": "mtmc.cli.reid_train",
    "eval": "mtmc.cli.reid_eval",
    "search": "mtmc.cli.reid_search",
}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("reid", help="ReID models: export, bench, train, eval, search")
    reid_sub = parser.add_subparsers(dest="reid_verb", metavar="REID_VERB")
    reid_sub.required = True
    for module_name in REID_VERBS.values():
        importlib.import_module(module_name).register(reid_sub)
