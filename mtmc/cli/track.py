"""``mtmc track INPUT -c CONFIG -o runs/NAME``: detect, track, associate, write (and score)."""

from __future__ import annotations

import argparse
import sys

from mtmc.cli.common import add_config_args


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "track",
        help="track people in a MOT sequence, a video, an image folder or a multi-camera scene",
        description="Track people in INPUT (MOT sequence folder, video file, image folder or multi-camera "
        "scene folder) and write per-camera MOT files, the global multi-camera file and a summary.",
    )
    parser.add_argument("input", help="MOT sequence, video, image folder or multi-camera scene folder")
    parser.add_argument("-o", "--out", required=True, help="run folder to write (e.g. runs/lab)")
    parser.add_argument("--eval", action="store_true", help="score against the ground truth when present")
    parser.add_argument("--videos", action="store_true", help="write annotated videos (output.videos=true)")
    parser.add_argument("--map", action="store_true", help="write the top-down map (output.map=true)")
    parser.add_argument("--online", action="store_true",
                        help="write the ids as a live system emits them: association.params.latency_seconds "
                             "after each frame, never changed afterwards (default: relabel the whole run with "
                             "the final decisions)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--batch", action="store_true", help="INPUT is a folder of scenes/videos: one run "
                        "each into OUT/<name>, finished ones skipped, a table at the end (mtmc.runtime.batch)")
    add_config_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mtmc.config import load_config
    from mtmc.run import run_tracking

    overrides = list(args.overrides)
    if args.videos:
        overrides.append("output.videos=true")
    if args.map:
        overrides.append("output.map=true")
    cfg = load_config(args.config, overrides)
    if args.batch:
        return run_batch(args, cfg)
    summary = run_tracking(args.input, cfg, args.out, evaluate=args.eval, progress=not args.quiet,
                           online=args.online)
    print(
        f"tracked {summary['frames']} frames x {len(summary['cameras'])} cameras "
        f"at {summary['frames_per_second']} frames/s; {summary['identities']} identities"
    )
    if "metrics" in summary:
        from eval.mot import MetricsReport

        print(MetricsReport(summary["metrics"]).to_table())
    for name, path in summary["outputs"].items():
        print(f"  {name:10s} {path}")
    sys.stdout.flush()
    return 0


def run_batch(args: argparse.Namespace, cfg) -> int:
    """One job per scene or video of the folder; the table on stdout, failures as one error line."""
    from mtmc.errors import DataError
    from mtmc.runtime.batch import format_table, run_batch

    echo = None if args.quiet else (lambda line: print(line, file=sys.stderr))
    rows = run_batch(args.input, cfg, args.out, evaluate=args.eval, echo=echo or (lambda line: None),
                     online=args.online)
    print(format_table(rows))
    sys.stdout.flush()
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        raise DataError(f"{len(failed)} of {len(rows)} jobs failed (errors above), first: {failed[0]['job']}")
    return 0
