"""``mtmc import wildtrack DIR OUT``: turn a public multi-camera dataset into a scene folder."""

from __future__ import annotations

import argparse

NOISE = ("realistic", "none")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "import",
        help="convert a public multi-camera dataset (WILDTRACK) into a scene folder",
        description="Convert a public multi-camera dataset into a standard scene folder (calibration.json, "
        "world_gt.txt, per-camera gt/gt.txt, det/det.txt, seqinfo.ini) that `mtmc track` and `mtmc eval` read.",
    )
    datasets = parser.add_subparsers(dest="dataset", metavar="DATASET")
    datasets.required = True
    wt = datasets.add_parser(
        "wildtrack",
        help="WILDTRACK: 7 calibrated views, annotations and calibration (no frames needed)",
        description="Write WILDTRACK's annotations_positions/ and calibrations/ as a scene without frames: "
        "per-view gt with global ids and visibility, world_gt.txt (metres), calibration.json (metres) and "
        "per-view det/det.txt drawn from gt by the `simulated` detector's noise model.",
    )
    wt.add_argument("dataset_dir", metavar="DIR", help="WILDTRACK folder (annotations_positions/, calibrations/)")
    wt.add_argument("out", metavar="OUT", help="scene folder to write")
    wt.add_argument("--frames", type=int, default=None, help="only the first N annotated frames")
    wt.add_argument("--noise", choices=NOISE, default="realistic",
                    help="det/det.txt noise: realistic (the simulated detector's defaults) or none (gt boxes)")
    wt.add_argument("--seed", type=int, default=0, help="seed of the detection noise")
    wt.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    wt.set_defaults(func=run_wildtrack)


def noise_params(noise: str, seed: int = 0):
    """The simulated detector's parameters for a noise level: its defaults, or none at all."""
    from mtmc.detectors.simulated import SimulatedParams

    if noise == "none":
        return SimulatedParams(seed=seed, miss_rate=0.0, occlusion_miss=0.0, min_visibility=0.0,
                               fp_per_frame=0.0, jitter=0.0)
    return SimulatedParams(seed=seed)


def run_wildtrack(args: argparse.Namespace) -> int:
    from mtmc.errors import ConfigError
    from mtmc.io.wildtrack import import_wildtrack

    if args.frames is not None and args.frames < 1:
        raise ConfigError(f"--frames: expected a positive number, got {args.frames}")
    summary = import_wildtrack(args.dataset_dir, args.out, noise_params(args.noise, args.seed),
                               max_frames=args.frames, overwrite=args.overwrite)
    print(f"wrote {summary['scene']}: {summary['frames']} frames at {summary['fps']:g} fps x "
          f"{len(summary['cameras'])} cameras, {summary['people']} people, {summary['gt_boxes']} gt boxes, "
          f"{summary['detections']} detections ({args.noise} noise)")
    return 0
