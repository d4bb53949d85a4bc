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
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mtmc.boxes import own_ground_points

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


def _after_init(change):
    """Replace ``__init__`` by the original followed by ``change(self)`` (a parameter set to its off value)."""
    def disable(orig):
        def init(self, *args, **kwargs):
            orig(self, *args, **kwargs)
            change(self)

        return init

    return disable


def _no_fusion_veto(self):
    self.p = replace(self.p, min_similarity=-np.inf)


def _stream_without_latency(orig):
    def due(self, frame):
        return orig(self, None)

    return due


def _emit_without_uniqueness(orig):
    return lambda self, frame, tracks, tracklets, label, unique: orig(self, frame, tracks, tracklets, label, False)


BT = "tests/test_tracker_bytetrack.py::"
OC = "tests/test_tracker_ocsort.py::"
BS = "tests/test_tracker_botsort.py::"
TT = "tests/test_trackers.py::"
AS = "tests/test_association_stages.py::"
AT = "tests/test_association.py::"
AR = "tests/test_association_refine.py::"
ST = "tests/test_association_stream.py::"
GR = "tests/test_ground_refine.py::"
GS = "tests/test_ground_smooth.py::"
GT = "tests/test_ground_tracking.py::"
CR = "tests/test_compact_reid_channels_last.py::"


def _swapped_interleave(orig):
    return lambda ctx, a, b: orig(ctx, b, a)


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
    # -- the global association, one row per stage rule (mtmc/association) --
    Mutation("association.scheduling.refresh_not_before", "mtmc.association.scheduling:CropScheduler.__init__",
             _after_init(lambda self: setattr(self, "refresh", 1)),
             (AS + "test_a_refresh_is_requested_after_refresh_seconds_and_not_before",)),
    Mutation("association.scheduling.refresh_not_after", "mtmc.association.scheduling:CropScheduler.__init__",
             _after_init(lambda self: setattr(self, "refresh", self.refresh + 3)),
             (AS + "test_a_refresh_is_requested_after_refresh_seconds_and_not_before",)),
    Mutation("association.scheduling.clean_crops", "mtmc.association.scheduling:CropScheduler.clean",
             lambda orig: lambda self, camera, tracks: np.ones(len(tracks), dtype=bool),
             (AT + "test_reid_scheduling_asks_only_for_clean_new_or_stale_crops",)),
    Mutation("association.entries.continuation", "mtmc.association.entries:EntryDecisions._plausible_continuation",
             lambda orig: lambda self, lost, new: False,
             (AS + "test_a_person_lost_a_moment_ago_nearby_is_continued_without_reid",)),
    Mutation("association.entries.reid_on_entry", "mtmc.association.entries:EntryDecisions._best_candidate",
             lambda orig: lambda self, frame, ident, roots: (None, "reentry"),
             (AS + "test_a_returning_person_takes_the_old_id_back_by_appearance_only",)),
    Mutation("association.entries.colocated", "mtmc.association.entries:EntryDecisions._colocated",
             lambda orig: lambda self, frame, a, b: True,
             (AS + "test_a_look_alike_never_takes_the_id_of_somebody_present_at_once",)),
    Mutation("association.identities.co_presence", "mtmc.association.identities:IdentityStore.can_merge",
             lambda orig: lambda self, a, b: True,
             (AS + "test_a_look_alike_never_takes_the_id_of_somebody_present_at_once",)),
    Mutation("association.fusion.appearance_veto", "mtmc.association.fusion:CrossCameraFusion.__init__",
             _after_init(_no_fusion_veto),
             (AS + "test_fusion_joins_two_views_of_one_person_and_appearance_vetoes_somebody_else",)),
    Mutation("association.consistency.drift", "mtmc.association.consistency:ConsistencyRules.detach_inconsistent",
             lambda orig: lambda self, seen, frame, watching: [],
             (AS + "test_a_tracklet_that_drifts_away_from_its_identity_is_detached",)),
    Mutation("association.consistency.appearance_switch",
             "mtmc.association.consistency:ConsistencyRules.detach_switched",
             lambda orig: lambda self, seen, frame, watching: [],
             (AT + "test_a_tracker_id_switch_is_split_by_appearance",)),
    Mutation("association.refine.offline", "mtmc.association.refine:average_linkage",
             lambda orig: lambda *args, **kwargs: None,
             (AR + "test_offline_refinement_corrects_a_wrong_reentry_decision",)),
    Mutation("association.window.refresh", "mtmc.association.window:WindowRefiner.maybe_refresh",
             _no_op, (ST + "test_a_wrong_entry_decision_is_corrected_inside_the_window",)),
    Mutation("association.stream.latency", "mtmc.association.stream:IdStream.due", _stream_without_latency,
             (ST + "test_every_box_is_emitted_once_latency_frames_late_and_never_changed",)),
    Mutation("association.stream.one_id_per_box", "mtmc.association.stream:IdStream.emit",
             _emit_without_uniqueness,
             (ST + "test_a_window_join_of_overlapping_visits_never_puts_one_id_on_two_boxes",)),
    Mutation("association.ground.refine_relink", "mtmc.association.ground_refine:link_pieces",
             lambda orig: lambda pieces, fps, p: np.arange(1, len(pieces) + 1),
             (GR + "test_a_swap_at_a_crossing_is_undone_by_motion_continuity",
              GR + "test_a_fragment_after_a_miss_is_stitched_and_a_stranger_is_not")),
    Mutation("association.ground.smooth_backward", "mtmc.association.ground_smooth:backward_pass",
             lambda orig: lambda filt_x, filt_P, pred_x, pred_P, F: (filt_x, filt_P),
             (GS + "test_the_smoother_beats_the_filter_and_bridges_a_step_without_points",)),
    Mutation("association.ground.reassign", "mtmc.association.ground_smooth:reassign",
             lambda orig: lambda log, labels, *args, **kw: labels.copy(),
             (GS + "test_points_given_to_a_neighbour_are_taken_back",)),
    Mutation("association.ground.relocate", "mtmc.association.ground:GroundTracker.relocate",
             lambda orig: lambda self, camera, boxes, ids: own_ground_points(boxes),
             (GT + "test_offline_smoothing_moves_the_boxes_closer_to_the_truth",)),
    Mutation("association.none.cameras_apart", "mtmc.association.per_camera:PerCameraIds.__init__",
             _after_init(lambda self: setattr(self, "offset", 0)),
             (AS + "test_per_camera_ids_stay_apart_across_cameras",)),
    Mutation("compact_reid.nhwc_shuffle", "reid.models.shuffle:_InterleaveChannelsLast.forward",
             _swapped_interleave, (CR + "test_channels_last_shuffle_equals_cat_then_shuffle",)),
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
