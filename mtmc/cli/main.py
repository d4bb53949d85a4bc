"""``mtmc`` entry point: verb subcommands, one clear error line on bad input."""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence

from mtmc import __version__
from mtmc.errors import MtmcError

# verb -> module with ``register(subparsers)``; each module's parser stores its ``run`` in ``func``.
VERBS = {
    "synth": "mtmc.cli.synth",
    "track": "mtmc.cli.track",
    "eval": "mtmc.cli.evaluate",
    "demo": "mtmc.cli.demo",
    "reid": "mtmc.cli.reid",
    "calibrate": "mtmc.cli.calibrate",
    "import": "mtmc.cli.import_data",
    "detector": "mtmc.cli.detector",
}


def offline_environment() -> None:
    """Keep ultralytics from reaching the network (no downloads, no pip installs, no telemetry)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    if "YOLO_CONFIG_DIR" not in os.environ:
        cfg_dir = os.path.join(os.path.expanduser("~"), ".cache", "mtmc", "ultralytics")
        try:
            os.makedirs(cfg_dir, exist_ok=True)
        except OSError:
            import tempfile

            cfg_dir = tempfile.mkdtemp(prefix="mtmc-ultralytics-")
        os.environ["YOLO_CONFIG_DIR"] = cfg_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtmc",
        description="Multi-camera multi-target person tracking with compact person ReID.",
    )
    parser.add_argument("--version", action="version", version=f"mtmc {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for module_name in VERBS.values():
        importlib.import_module(module_name).register(sub)
    return parser


_OVERRIDE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*=")


def split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Pull ``key=value`` config overrides out of ``argv`` so they may stand anywhere, even after flags."""
    rest, overrides = [], []
    for token in argv:
        (overrides if _OVERRIDE.match(token) else rest).append(token)
    return rest, overrides


def main(argv: Sequence[str] | None = None) -> int:
    offline_environment()
    parser = build_parser()
    rest, overrides = split_overrides(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(rest)
    if overrides:
        field = next((f for f in ("overrides", "items") if hasattr(args, f)), None)
        if field is None:
            parser.error(f"{args.verb} takes no KEY=VALUE overrides (got {overrides[0]!r})")
        setattr(args, field, list(getattr(args, field) or []) + overrides)
    sub_verb = getattr(args, "reid_verb", None) or getattr(args, "detector_verb", None)
    verb = " ".join(v for v in (args.verb, sub_verb) if v)  # "reid train"
    try:
        code = args.func(args)
    except MtmcError as err:
        print(f"mtmc {verb}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"mtmc {verb}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
