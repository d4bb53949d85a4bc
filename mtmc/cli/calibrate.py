"""``mtmc calibrate``: build calibration.json from OpenCV storages, K + R + t files or point pairs; check it."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mtmc.calibration_tools import UNITS
from mtmc.errors import ConfigError, DataError

EPILOG = """\
examples:
  mtmc calibrate opencv --camera CVLab1 intr_CVLab1.xml,extr_CVLab1.xml --units cm --image-size 1920x1080 \\
      -o scene/calibration.json
  mtmc calibrate krt --camera cam0 --K K.txt --R R.txt --t t.txt --image-size 640x480 -o scene/calibration.json
  mtmc calibrate points --camera cam0 --pairs cam0_pairs.txt --image-size 640x480 -o scene/calibration.json
  mtmc calibrate check scene/calibration.json --points cam0 cam0_check.txt

-o adds (or replaces) the camera in an existing calibration.json.  Point files hold one pair per line,
commas or whitespace: `u,v,x,y` (image pixel, ground point) for `points`, `x,y,u,v` for `check`."""


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1920x1080, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"image size must be positive, got {text!r}")
    return w, h


def _named(pairs: list[list[str]]) -> list[tuple[str, list[str]]]:
    """``--camera NAME FILE[,FILE]`` pairs (NAME=FILE would read as a config override) -> (name, files)."""
    return [(name, files.split(",")) for name, files in pairs]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "calibrate", help="build calibration.json (OpenCV XML/YAML, K+R+t, point pairs) and check it",
        description="Build or extend a scene's calibration.json (metres) and check a calibration by reprojecting "
        "known ground points.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND")
    kinds.required = True

    def builder(name: str, help_text: str) -> argparse.ArgumentParser:
        p = kinds.add_parser(name, help=help_text, description=help_text)
        p.add_argument("-o", "--out", required=True, help="calibration.json to write (cameras are added to it)")
        p.add_argument("--image-size", type=_size, default=None, help="WIDTHxHEIGHT of the camera's images")
        p.add_argument("--units", choices=list(UNITS), default="m", help="world units of t / ground points")
        p.set_defaults(func=run)
        return p

    p = builder("opencv", "cameras from OpenCV XML/YAML storages (camera_matrix, distortion, rvec/R, tvec/t)")
    p.add_argument("--camera", nargs=2, action="append", required=True, metavar=("NAME", "FILE[,FILE]"),
                   help="a camera and its storage files (repeatable)")
    p = builder("krt", "a camera from text files: K (3x3), R (3x3 or a Rodrigues vector), t, optional dist")
    p.add_argument("--camera", required=True, help="camera name")
    for flag in ("--K", "--R", "--t"):
        p.add_argument(flag, required=True, metavar="FILE")
    p.add_argument("--dist", default=None, metavar="FILE")
    p = builder("points", "a ground-plane homography from >= 4 image/ground point pairs (u,v,x,y per line)")
    p.add_argument("--camera", required=True, help="camera name")
    p.add_argument("--pairs", required=True, metavar="FILE", help="u,v,x,y per line")

    p = kinds.add_parser("check", help="reproject known ground points and report the pixel error",
                         description="Project ground points (x,y) through a calibration and compare with their "
                         "image points (u,v): prints the pixel error per camera.")
    p.add_argument("calibration", help="calibration.json")
    p.add_argument("--points", nargs=2, action="append", required=True, metavar=("NAME", "FILE"),
                   help="a camera and its x,y,u,v file (repeatable)")
    p.add_argument("--units", choices=list(UNITS), default="m", help="units of the ground points")
    p.add_argument("--max-error", type=float, default=None, help="exit 1 when a camera's median error exceeds this")
    p.set_defaults(func=run_check)


def _build(args: argparse.Namespace) -> list:
    from mtmc.calibration_tools import (
        camera_from_krt_files,
        camera_from_point_pairs,
        read_opencv_camera,
        read_point_pairs,
    )

    if args.kind == "opencv":
        return [read_opencv_camera(name, files, args.image_size, args.units) for name, files in _named(args.camera)]
    if args.image_size is None:
        raise ConfigError(f"calibrate {args.kind}: --image-size WIDTHxHEIGHT is required")
    if args.kind == "krt":
        return [camera_from_krt_files(args.camera, args.K, args.R, args.t, args.image_size, args.dist, args.units)]
    pairs = read_point_pairs(args.pairs)
    cam = camera_from_point_pairs(args.camera, pairs[:, :2], pairs[:, 2:], args.image_size, args.units)
    fitted = cam.image_to_ground(pairs[:, :2])
    err = np.linalg.norm(fitted - pairs[:, 2:] * UNITS[args.units], axis=1)
    print(f"{cam.name}: homography from {len(pairs)} pairs; ground error median {np.median(err):.3f} m, "
          f"max {np.max(err):.3f} m")
    return [cam]


def run(args: argparse.Namespace) -> int:
    from mtmc.calibration import load_calibration, save_calibration

    out = Path(args.out)
    cameras = load_calibration(out) if out.exists() else {}
    for cam in _build(args):
        print(f"{'replaced' if cam.name in cameras else 'added'} camera {cam.name} ({out})")
        cameras[cam.name] = cam
    save_calibration(out, cameras)
    return 0


def run_check(args: argparse.Namespace) -> int:
    from mtmc.calibration import load_calibration
    from mtmc.calibration_tools import read_point_pairs, reprojection_errors

    cameras = load_calibration(args.calibration)
    worst = 0.0
    for name, files in _named(args.points):
        if name not in cameras:
            raise DataError(f"camera {name!r} not in the calibration (have: {', '.join(cameras)})",
                            path=args.calibration)
        rows = np.concatenate([read_point_pairs(f, "x,y,u,v") for f in files])
        err = reprojection_errors(cameras[name], rows[:, :2] * UNITS[args.units], rows[:, 2:])
        behind = int(np.isnan(err).sum())
        ok = err[np.isfinite(err)]
        median = float(np.median(ok)) if len(ok) else float("nan")
        worst = max(worst, median if np.isfinite(median) else np.inf)
        summary = f"median {median:.2f} px, mean {ok.mean():.2f} px, max {ok.max():.2f} px" if len(ok) else "no error"
        print(f"{name}: {len(rows)} points, {summary}" + (f", {behind} behind the camera" if behind else ""))
    if args.max_error is not None and worst > args.max_error:
        print(f"FAIL: a median reprojection error is above {args.max_error:g} px")
        return 1
    return 0
