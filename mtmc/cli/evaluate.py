"""``mtmc eval RESULTS [--gt GT]``: score tracking results against ground truth (MOTA, IDF1, HOTA ...)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from mtmc.errors import DataError

DESCRIPTION = """\
Score tracking results against ground truth and print the metrics per camera, pooled over cameras
(OVERALL) and jointly over cameras with global identities (MULTICAM).

RESULTS is a run folder written by `mtmc track` (tracks/<camera>.txt) or a single MOT result file.
GT is a scene or MOT sequence folder, or a single gt.txt; for a run folder it defaults to the run's input
(summary.json "input").  metrics.json and metrics.csv are written next to the results (or to -o).

When the scene has world_gt.txt, the run's global.txt (or RESULTS itself, when it is a global.txt) is also
scored on the ground plane: rows GROUND@0.5m and GROUND@1m with MODA/MODP (each frame matched on its own),
MOTA/IDF1 and HOTA on ground positions (one point per person and frame: the median over cameras)."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "eval",
        help="score tracking results against ground truth (MOTA, IDF1, HOTA)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", help="run folder (with tracks/<camera>.txt) or a MOT result file")
    parser.add_argument("--gt", default=None, help="scene / sequence folder or gt.txt (default: the run's input)")
    parser.add_argument("--iou", type=float, default=0.5, help="IoU needed for a match (default 0.5)")
    parser.add_argument("--no-hota", action="store_true", help="skip HOTA (trackeval)")
    parser.add_argument("-o", "--out", default=None, help="folder for metrics.json / metrics.csv")
    parser.add_argument("--ground-threshold", type=float, action="append", default=None, metavar="M",
                        help="ground-plane match distance in metres (repeatable; default 0.5 and 1)")
    parser.add_argument("--no-ground", action="store_true", help="skip the ground-plane rows")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eval.mot import evaluate

    results = Path(args.results)
    if not results.exists():
        raise DataError("results not found (expected a run folder or a MOT result file)", path=results)
    if results.is_dir():
        gt_arg = Path(args.gt if args.gt is not None else _run_input(results))
        gt, pred = _load_run(results, gt_arg)
        out_dir = Path(args.out) if args.out else results
        global_file = results / "global.txt" if (results / "global.txt").is_file() else None
    else:
        if args.gt is None:
            raise DataError("--gt is required with a single result file", path=results)
        gt_arg = Path(args.gt)
        global_file = results if _is_global_file(results) else None
        gt, pred = _load_global(global_file, gt_arg) if global_file else _load_single(results, gt_arg)
        out_dir = Path(args.out) if args.out else results.parent
    _check_not_empty(pred, results)
    report = evaluate(gt, pred, iou_threshold=args.iou, hota=not args.no_hota)
    print(report.to_table())
    ground = None if args.no_ground or global_file is None else _ground(global_file, gt_arg, args)
    if ground is not None:
        print(ground.to_table())
        report.rows.update(ground.rows)
        report.raw.update(ground.raw)
        report.notes.extend(ground.notes)
    report.to_json(out_dir / "metrics.json")
    report.to_csv(out_dir / "metrics.csv")
    print(f"wrote {out_dir / 'metrics.json'} and {out_dir / 'metrics.csv'}")
    return 0


def _check_not_empty(pred: dict[str, np.ndarray], results: Path) -> None:
    """No box at all is a broken or wrong results path (error); one empty camera is scored, with a warning."""
    if not any(len(boxes) for boxes in pred.values()):
        raise DataError("the results hold no boxes (empty files); nothing to score", path=results)
    for name, boxes in pred.items():
        if not len(boxes):
            print(f"warning: camera {name!r}: no result boxes; all its ground truth counts as missed",
                  file=sys.stderr)


def _run_input(run_dir: Path) -> str:
    """The input the run was made from (summary.json "input"), the default ground truth."""
    path = run_dir / "summary.json"
    if not path.is_file():
        raise DataError("no summary.json in the run folder; pass --gt", path=run_dir)
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read run summary: {err}", path=path) from None
    value = summary.get("input") if isinstance(summary, dict) else None
    if not isinstance(value, str) or not value:
        raise DataError('no "input" key naming the input; pass --gt', path=path)
    return value


def _scene_gt(gt_path: Path) -> dict[str, np.ndarray]:
    """camera name -> ground truth of a scene / sequence folder, or of a single gt file ("gt")."""
    from mtmc.io.mot import read_mot
    from mtmc.io.scene import open_input

    if gt_path.is_file() and gt_path.suffix.lower() == ".txt":
        return {"": read_mot(gt_path, kind="gt")}  # "" = the one camera, named by the caller
    gt = open_input(gt_path).ground_truth()
    if not gt:
        raise DataError("no ground truth (gt/gt.txt) for any camera", path=gt_path)
    return gt


def _load_run(run_dir: Path, gt_path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    from mtmc.io.mot import read_mot

    tracks_dir = run_dir / "tracks"
    if not tracks_dir.is_dir():
        raise DataError("no tracks/ folder in the run (expected tracks/<camera>.txt)", path=run_dir)
    files = {p.stem: p for p in sorted(tracks_dir.glob("*.txt"))}
    gt = _scene_gt(gt_path)
    if "" in gt:  # a bare gt.txt: the run must hold exactly one camera
        if len(files) != 1:
            raise DataError(
                f"a single gt file needs a run with one camera, found {len(files)} in tracks/", path=gt_path
            )
        gt = {next(iter(files)): gt[""]}
    for name in gt:
        if name not in files:
            raise DataError(f"no results for camera {name!r} (expected tracks/{name}.txt)", path=run_dir)
    for name in files:
        if name not in gt:
            print(f"note: camera {name!r} has no ground truth; not scored")
    pred = {name: read_mot(files[name], kind="result") for name in gt}
    return gt, pred


def _load_single(result: Path, gt_path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    from mtmc.io.mot import read_mot

    gt = _scene_gt(gt_path)
    if len(gt) != 1:
        raise DataError(
            f"a single result file needs single-camera ground truth, found cameras {', '.join(gt)}; "
            "pass a run folder instead",
            path=gt_path,
        )
    name = next(iter(gt)) or result.stem
    return {name: next(iter(gt.values()))}, {name: read_mot(result, kind="result")}


def _is_global_file(path: Path) -> bool:
    """A 9-column result file is a global.txt (camera_id obj_id frame x y w h xworld yworld)."""
    try:
        with path.open() as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    return len(line.replace(",", " ").split()) == 9
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read results: {err}", path=path) from None
    return False


def _load_global(path: Path, gt_path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A global.txt split into per-camera results (camera_id = scene camera index + 1)."""
    from mtmc.io.scene import open_input
    from mtmc.io.writers import read_global

    if not gt_path.is_dir():
        raise DataError("a global.txt is scored against a scene folder (--gt SCENE)", path=gt_path)
    scene = open_input(gt_path)
    boxes = read_global(path)
    if len(boxes) and boxes["camera"].max() >= len(scene.cameras):
        raise DataError(f"camera_id {int(boxes['camera'].max()) + 1} but the scene has {len(scene.cameras)} "
                        "cameras", path=path)
    gt = scene.ground_truth()
    if not gt:
        raise DataError("no ground truth (gt/gt.txt) for any camera", path=gt_path)
    pred = {c.name: boxes[boxes["camera"] == c.index] for c in scene.cameras if c.name in gt}
    return gt, pred


def _ground(global_file: Path, gt_path: Path, args: argparse.Namespace):
    """Ground-plane rows of a global.txt against the scene's world_gt.txt (None without one)."""
    from eval.ground import THRESHOLDS, evaluate_ground, ground_points
    from mtmc.io.scene import read_world_gt
    from mtmc.io.writers import read_global

    world = gt_path / "world_gt.txt" if gt_path.is_dir() else None
    if world is None or not world.is_file():
        return None
    pred = ground_points(read_global(global_file))
    return evaluate_ground(read_world_gt(world), pred, args.ground_threshold or THRESHOLDS, hota=not args.no_hota)
