"""``mtmc reid bench``: CPU crops/s of zoo models on torch and onnxruntime, against the matmul peak."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

DEFAULT_MODELS = "cdnet,cnet,osnet_x1_0,osnet_x0_25"


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="ReID throughput (crops/s) on this CPU, torch vs onnxruntime")
    parser.add_argument(
        "--models", default=DEFAULT_MODELS, help=f"comma-separated (default {DEFAULT_MODELS})"
    )
    parser.add_argument("--batch-sizes", default="1,16,64", help="comma-separated batch sizes")
    parser.add_argument("--backends", default="torch,onnx", help="comma-separated: torch, onnx")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--rounds", type=int, default=3, help="timed calls per cell (round-robin, fastest kept)"
    )
    parser.add_argument("--out", default=None, help="also write the markdown report to this file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mtmc.atomic import write_text
    from mtmc.errors import ConfigError
    from reid.bench import markdown_report, run_bench
    from reid.registry import model_info

    models = _csv(args.models)
    backends = _csv(args.backends)
    try:
        batches = [int(b) for b in _csv(args.batch_sizes)]
    except ValueError:
        raise ConfigError(
            f"--batch-sizes: expected comma-separated integers, got {args.batch_sizes!r}"
        ) from None
    if not batches or min(batches) < 1:
        raise ConfigError(f"--batch-sizes: expected positive integers, got {args.batch_sizes!r}")
    if bad := [b for b in backends if b not in ("torch", "onnx")]:
        raise ConfigError(f"--backends: unknown {', '.join(bad)}; expected torch and/or onnx")
    if args.rounds < 1:
        raise ConfigError(f"--rounds: expected >= 1, got {args.rounds}")
    if args.threads < 1:
        raise ConfigError(f"--threads: expected >= 1, got {args.threads}")
    for name in models:
        model_info(name)  # unknown names fail before any timing
    rows, peak = run_bench(models, batches, backends, args.threads, args.rounds, log=_log)
    command = (
        "mtmc " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        if sys.argv[1:2] == ["reid"]
        else (
            f"mtmc reid bench --models {','.join(models)} --batch-sizes {','.join(map(str, batches))} "
            f"--backends {','.join(backends)} --threads {args.threads}"
        )
    )
    report = markdown_report(rows, peak, args.threads, command)
    print(report)
    if args.out:
        write_text(args.out, report)
    return 0


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
