"""Mutation check: disable each defining mechanism in turn and show that the tests catch it.

Run from the repository root (not collected by pytest: the name does not start with ``test_``)::

    python tests/mutation_check.py            # every row of MUTATIONS, then a table
    python tests/mutation_check.py --list     # the rows
    python tests/mutation_check.py ocsort.ocm bytetrack.low_score_association   # some rows

Each row names a mechanism, the attribute that implements it (``module:Class.attr`` or ``module:attr``),
a function building the disabled replacement from the original, and the tests that must then fail.
Every row runs in a fresh ``python -m pytest`` process with the mutation applied before any test is
imported; the row is *killed* when those tests fail, *survived* when they pass.  The same tests are
first run unmutated (they must pass, else nothing is proven).  Exit status 0 only when every row is
killed.  To pin a new mechanism (e.g. an association rule), append a ``Mutation`` row.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str  # mechanism, "<component>.<mechanism>"
    target: str  # "module:attr" or "module:Class.attr" implementing it
    disable: Callable  # original attribute -> replacement with the mechanism removed
    tests: tuple[str, ...]  # pytest node ids that must fail without it

    def apply(self) -> None:
        module_name, _, path = self.target.partition(":")
        owner = importlib.import_module(module_name)
        *parents, attr = path.split(".")
        for p in parents:
            owner = getattr(owner, p)
        setattr(owner, attr, self.disable(getattr(owner, attr)))


def _returns_first_arg(_orig):
    return lambda self, first, *args, **kwargs: first


def _no_op(_orig):
    return lambda self, *args, **kwargs: None


def _activate_at_birth(orig):
    def start(self, *args, **kwargs):
        track = orig(self, *args, **kwargs)
        track.activated = True
        return track

    return start


def _no_min_hits(orig):
    return lambda tracks, min_hits, frame_count, box_of: orig(tracks, 0, frame_count, box_of)


BT = "tests/test_tracker_bytetrack.py::"
OC = "tests/test_tracker_ocsort.py::"
BS = "tests/test_tracker_botsort.py::"
TT = "tests/test_trackers.py::"

MUTATIONS: list[Mutation] = [
    Mutation("sort.min_hits", "trackers.sort:sort_style_output", _no_min_hits,
             (TT + "test_sort_min_hits_output_rule",)),
    Mutation("sort.max_age", "trackers.sort:Sort.frames", lambda orig: lambda self, s: 10**6,
             (TT + "test_buffers_are_in_seconds", TT + "test_sort_reproduces_reference_mota_on_tud_campus")),
    Mutation("bytetrack.low_score_association", "trackers.bytetrack:ByteTracker._associate_low",
             _returns_first_arg, (BT + "test_low_score_detections_continue_the_track",)),
    Mutation("bytetrack.duplicate_removal", "trackers.bytetrack:ByteTracker._remove_duplicates", _no_op,
             (BT + "test_duplicate_of_a_lost_track_is_removed",)),
    Mutation("bytetrack.confirmation", "trackers.bytetrack:ByteTracker._start", _activate_at_birth,
             (BT + "test_a_one_frame_detection_is_not_output",)),
    Mutation("bytetrack.lost_buffer", "trackers.bytetrack:ByteTracker._max_lost",
             lambda orig: lambda self, track: 0, (TT + "test_buffers_are_in_seconds",)),
    Mutation("ocsort.ocm", "trackers.ocsort:OcSort._direction_cost",
             lambda orig: lambda self, boxes, scores: np.zeros((len(self.tracks), len(boxes))),
             (OC + "test_ocm_direction_resolves_a_crossing",)),
    Mutation("ocsort.ocr", "trackers.ocsort:OcSort._recover",
             lambda orig: lambda self, trk, det, boxes, scores: (trk, det),
             (OC + "test_ocr_recovers_a_person_who_stopped_while_hidden",)),
    Mutation("ocsort.oru", "trackers.kalman:SortKalman.reupdate",
             lambda orig: lambda self, *args: self.thaw(),
             (OC + "test_oru_replays_the_occlusion_as_observed_along_a_straight_line",
              OC + "test_reference_settings_reproduce_the_reference_implementation")),
    Mutation("ocsort.byte", "trackers.ocsort:OcSort._associate_low", _returns_first_arg,
             (OC + "test_byte_option_continues_tracks_on_low_score_detections",)),
    Mutation("botsort.appearance_fusion", "trackers.botsort:BotSort._cost",
             lambda orig: importlib.import_module("trackers.bytetrack").ByteTracker._cost,
             (BS + "test_appearance_keeps_ids_through_an_iou_ambiguous_crossing",)),
    Mutation("botsort.reacquisition", "trackers.botsort:BotSort._extra_association", _returns_first_arg,
             (BS + "test_appearance_reacquires_after_long_gap",)),
    Mutation("botsort.appearance_veto", "trackers.botsort:BotSort._veto",
             lambda orig: lambda self, emb: np.zeros(emb.shape, dtype=bool),
             (BS + "test_appearance_veto_refuses_a_box_that_shows_somebody_else",)),
]


def _pytest(tests: tuple[str, ...], mutation: str | None) -> int:
    """Exit status of pytest on ``tests`` in a fresh process, with ``mutation`` applied first."""
    code = (
        "import sys, pytest\n"
        "sys.path.insert(0, 'tests')\n"
        "import mutation_check as m\n"
        f"name = {mutation!r}\n"
        "if name: next(r for r in m.MUTATIONS if r.name == name).apply()\n"
        "sys.exit(pytest.main(['-q', '-x', '-p', 'no:cacheprovider', '--no-header', *sys.argv[1:]]))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code, *tests], cwd=ROOT, env=env, capture_output=True, text=True)
    return done.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="rows to run (default: all)")
    ap.add_argument("--list", action="store_true", help="print the rows and exit")
    args = ap.parse_args(argv)
    rows = [r for r in MUTATIONS if not args.names or r.name in args.names]
    unknown = set(args.names) - {r.name for r in MUTATIONS}
    if unknown:
        print(f"mutation_check: unknown rows {sorted(unknown)}; see --list", file=sys.stderr)
        return 2
    if args.list:
        for r in rows:
            print(f"{r.name:34s} {r.target}")
        return 0
    baseline = _pytest(tuple(dict.fromkeys(t for r in rows for t in r.tests)), None)
    if baseline != 0:
        print(f"mutation_check: the tests fail without any mutation (pytest exit {baseline})", file=sys.stderr)
        return 1
    print("| mechanism | disabled attribute | result |\n|---|---|---|")
    survived = 0
    for r in rows:
        rc = _pytest(r.tests, r.name)
        result = "killed" if rc == 1 else "SURVIVED" if rc == 0 else f"error (pytest exit {rc})"
        survived += result != "killed"
        print(f"| {r.name} | `{r.target}` | {result} |", flush=True)
    print(f"\n{len(rows) - survived}/{len(rows)} mechanisms killed")
    return 0 if survived == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
