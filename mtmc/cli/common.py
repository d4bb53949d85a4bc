"""Argument helpers shared by the CLI verbs."""

from __future__ import annotations

import argparse


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", action="append", default=[], metavar="YAML",
        help="config file (repeatable; later files override earlier ones)",
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE",
        help="config overrides, e.g. tracker.name=bytetrack reid.model=cdnet",
    )
