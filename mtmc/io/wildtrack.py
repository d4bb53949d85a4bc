"""WILDTRACK (Chavdarova et al., CVPR 2018) -> a standard multi-camera scene folder without frames.

The dataset folder holds ``annotations_positions/NNNNNNNN.json`` (one file per annotated frame,
every 5th frame of a 10 fps sequence), ``calibrations/intrinsic_zero/intr_<CAM>.xml`` and
``calibrations/extrinsic/extr_<CAM>.xml`` (OpenCV storages, world in centimetres, z up).

The scene written by :func:`import_wildtrack`::

    OUT/calibration.json          7 cameras, K + R + t in metres (undistorted frames)
    OUT/scene.json                fps (2), num_frames, the source frame of every scene frame
    OUT/world_gt.txt              frame,id,x,y: each person's ground position (metres, from positionID)
    OUT/<CAM>/seqinfo.ini         1920x1080, frameRate, seqLength (there are no images)
    OUT/<CAM>/gt/gt.txt           MOT17 9 columns, id = personID (global), boxes clipped to the image,
                                  visibility = share of the box inside the image and not hidden by a
                                  person standing closer to the camera (a lower box bottom)
    OUT/<CAM>/det/det.txt         detections derived from gt by the ``simulated`` detector's noise model

Scene frame ``k`` (1-based) is the ``k``-th annotation file; cameras are named after the dataset's
views, whose alphabetical order is the dataset's view order (viewNum 0..6).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np

from mtmc.boxes import concat, make_boxes
from mtmc.calibration import Camera, save_calibration
from mtmc.calibration_tools import read_opencv_camera
from mtmc.errors import DataError

VIEWS = ("CVLab1", "CVLab2", "CVLab3", "CVLab4", "IDIAP1", "IDIAP2", "IDIAP3")  # viewNum 0..6
IMAGE_SIZE = (1920, 1080)
SOURCE_FPS = 10.0  # the annotation files number the frames of a 10 fps sequence
DEFAULT_STEP = 5  # one annotated frame in 5 (2 fps), the dataset's spacing
GRID_WIDTH, GRID_HEIGHT = 480, 1440  # positionID cells, X first
GRID_ORIGIN = (-3.0, -9.0)  # metres
GRID_CELL = 0.025  # metres
_SAMPLES = (8, 16)  # visibility: a grid of sample points across (x) and down (y) each box
_FILE = re.compile(r"^(\d+)\.json$")


def position_to_ground(position_id: np.ndarray) -> np.ndarray:
    """positionID (cell of the 480 x 1440 ground grid) -> (N, 2) ground point in metres."""
    pid = np.asarray(position_id, dtype=np.int64)
    return np.stack(
        [GRID_ORIGIN[0] + GRID_CELL * (pid % GRID_WIDTH), GRID_ORIGIN[1] + GRID_CELL * (pid // GRID_WIDTH)], axis=1
    )


def read_calibration(root: str | Path) -> dict[str, Camera]:
    """The 7 cameras (intrinsic_zero + extrinsic, centimetres -> metres), by view name."""
    cal = Path(root) / "calibrations"
    cameras = {}
    for view in VIEWS:
        files = [cal / "intrinsic_zero" / f"intr_{view}.xml", cal / "extrinsic" / f"extr_{view}.xml"]
        for f in files:
            if not f.is_file():
                raise DataError(f"WILDTRACK calibration of view {view} not found", path=f)
        cameras[view] = read_opencv_camera(view, files, IMAGE_SIZE, units="cm")
    return cameras


def annotation_files(root: str | Path) -> list[tuple[int, Path]]:
    """(source frame, file) of every annotation file, by frame."""
    folder = Path(root) / "annotations_positions"
    if not folder.is_dir():
        raise DataError("no annotations_positions/ folder (expected a WILDTRACK dataset folder)", path=root)
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _FILE.match(p.name)))
    if not found:
        raise DataError("no NNNNNNNN.json annotation files", path=folder)
    return found


def _number(entry: dict, key: str, path: Path, where: str) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise DataError(f"{where}: {key!r} must be a number, got {value!r}", path=path)
    return int(value)


def read_annotation(path: Path, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """One annotation file: (boxes of every view with ``camera`` = viewNum, world points with ``gx, gy``)."""
    try:
        people = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read annotation file: {err}", path=path) from None
    except json.JSONDecodeError as err:
        raise DataError(f"invalid JSON ({err.msg})", path=path, line=err.lineno) from None
    if not isinstance(people, list):
        raise DataError("expected a JSON list of people (personID, positionID, views)", path=path)
    rows, world = [], make_boxes(len(people))
    for k, person in enumerate(people):
        where = f"person #{k}"
        if not isinstance(person, dict) or not isinstance(person.get("views"), list):
            raise DataError(f"{where}: expected an object with personID, positionID and a 'views' list", path=path)
        pid, pos = _number(person, "personID", path, where), _number(person, "positionID", path, where)
        if not 0 <= pos < GRID_WIDTH * GRID_HEIGHT or pid < 0:
            raise DataError(f"{where}: personID must be >= 0 and positionID in [0, {GRID_WIDTH * GRID_HEIGHT})",
                            path=path)
        world["id"][k] = pid
        world["gx"][k], world["gy"][k] = position_to_ground([pos])[0]
        for view in person["views"]:
            if not isinstance(view, dict):
                raise DataError(f"{where} (personID {pid}): a view must be an object", path=path)
            num = _number(view, "viewNum", path, where)
            box = [_number(view, key, path, f"{where} view {num}") for key in ("xmin", "ymin", "xmax", "ymax")]
            if box == [-1, -1, -1, -1]:
                continue  # the view does not see the person
            if not 0 <= num < len(VIEWS):
                raise DataError(f"{where} (personID {pid}): viewNum {num} not in 0..{len(VIEWS) - 1}", path=path)
            if box[2] > box[0] and box[3] > box[1]:
                rows.append((num, pid, *box))
    world["frame"], world["camera"], world["w"], world["h"] = frame, -1, 0.0, 0.0
    boxes = make_boxes(len(rows))
    if rows:
        arr = np.asarray(rows, dtype=np.float64)
        boxes["camera"], boxes["id"] = arr[:, 0], arr[:, 1]
        boxes["x"], boxes["y"], boxes["w"], boxes["h"] = arr[:, 2], arr[:, 3], arr[:, 4] - arr[:, 2], arr[:, 5] - arr[:, 3]
    boxes["frame"], boxes["cls"] = frame, 1
    return boxes, world


def visibility(xyxy: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Share of each box inside the image and not covered by a box whose bottom is lower (closer)."""
    n = len(xyxy)
    out = np.zeros(n)
    fx = (np.arange(_SAMPLES[0]) + 0.5) / _SAMPLES[0]
    fy = (np.arange(_SAMPLES[1]) + 0.5) / _SAMPLES[1]
    for i in range(n):
        x1, y1, x2, y2 = xyxy[i]
        px = (x1 + fx * (x2 - x1))[None, :].repeat(len(fy), 0).ravel()
        py = (y1 + fy * (y2 - y1))[:, None].repeat(len(fx), 1).ravel()
        seen = (px >= 0) & (px < image_size[0]) & (py >= 0) & (py < image_size[1])
        front = xyxy[xyxy[:, 3] > y2]
        if len(front):
            inside = (
                (px[:, None] >= front[:, 0]) & (px[:, None] <= front[:, 2])
                & (py[:, None] >= front[:, 1]) & (py[:, None] <= front[:, 3])
            )
            seen &= ~inside.any(axis=1)
        out[i] = seen.mean()
    return out


def clip_to_image(boxes: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Boxes cut to the image (what a camera can show), those with less than a pixel left dropped."""
    x1, y1 = boxes["x"].clip(0, image_size[0]), boxes["y"].clip(0, image_size[1])
    x2 = (boxes["x"] + boxes["w"]).clip(0, image_size[0])
    y2 = (boxes["y"] + boxes["h"]).clip(0, image_size[1])
    out = boxes.copy()
    out["x"], out["y"], out["w"], out["h"] = x1, y1, x2 - x1, y2 - y1
    return out[(out["w"] >= 1) & (out["h"] >= 1)]


def load_wildtrack(root: str | Path, max_frames: int | None = None) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(source frames, per-view gt boxes with visibility and scene frames 1.., world gt) of a dataset folder."""
    files = annotation_files(root)[:max_frames]
    per_frame, world = [], []
    for k, (_, path) in enumerate(files, start=1):
        boxes, people = read_annotation(path, k)
        for cam in range(len(VIEWS)):
            view = boxes[boxes["camera"] == cam]
            x = np.stack([view["x"], view["y"], view["x"] + view["w"], view["y"] + view["h"]], axis=1)
            view["vis"] = visibility(x, IMAGE_SIZE)
            per_frame.append(clip_to_image(view, IMAGE_SIZE))
        world.append(people)
    return [f for f, _ in files], concat(per_frame), concat(world)


def _seqinfo(name: str, fps: float, length: int) -> str:
    w, h = IMAGE_SIZE
    return (f"[Sequence]\nname={name}\nimDir=img1\nframeRate={fps:g}\nseqLength={length}\n"
            f"imWidth={w}\nimHeight={h}\nimExt=.jpg\n")


def _world_text(world: np.ndarray) -> str:
    w = world[np.lexsort((world["id"], world["frame"]))]
    return "".join(f"{f},{i},{x:.4f},{y:.4f}\n" for f, i, x, y in zip(
        w["frame"].tolist(), w["id"].tolist(), w["gx"].tolist(), w["gy"].tolist()))


def write_detections(scene_dir: Path, params) -> int:
    """Run the ``simulated`` detector's noise model over a written scene into every ``det/det.txt``."""
    from mtmc.detectors.simulated import SimulatedDetector
    from mtmc.io.mot import write_mot
    from mtmc.io.scene import open_input

    scene = open_input(scene_dir)
    detector = SimulatedDetector(params, scene)
    total = 0
    for index, cam in enumerate(scene.cameras):
        dets = concat([detector.detect_camera(index, f) for f in range(1, scene.num_frames + 1)])
        write_mot(scene_dir / cam.name / "det" / "det.txt", dets)
        total += len(dets)
    return total


def import_wildtrack(
    root: str | Path, out_dir: str | Path, det_params=None, max_frames: int | None = None, overwrite: bool = False
) -> dict:
    """Write the WILDTRACK folder ``root`` as a scene into ``out_dir`` (atomically); returns a summary."""
    from mtmc.detectors.simulated import SimulatedParams
    from mtmc.synth.scene import format_gt, staged_folder

    root = Path(root)
    det_params = det_params or SimulatedParams()
    det_params.validate("det")
    cameras = read_calibration(root)
    source_frames, gt, world = load_wildtrack(root, max_frames)
    steps = sorted(set(np.diff(source_frames).tolist())) or [DEFAULT_STEP]
    if len(steps) != 1 or steps[0] <= 0:
        raise DataError(f"annotation files are not evenly spaced (frame steps {steps}); expected one file every "
                        "N frames", path=root / "annotations_positions")
    fps = SOURCE_FPS / steps[0]
    with staged_folder(Path(out_dir), overwrite) as tmp:
        save_calibration(tmp / "calibration.json", cameras, source=f"WILDTRACK {root.name}: intrinsic_zero + "
                         "extrinsic, converted from cm")
        for index, name in enumerate(VIEWS):
            (tmp / name / "gt").mkdir(parents=True)
            (tmp / name / "gt" / "gt.txt").write_text(format_gt(gt[gt["camera"] == index]))
            (tmp / name / "seqinfo.ini").write_text(_seqinfo(name, fps, len(source_frames)))
        (tmp / "world_gt.txt").write_text(_world_text(world))
        meta = {
            "name": "wildtrack",
            "fps": fps,
            "num_frames": len(source_frames),
            "source": str(root.resolve()),
            "source_fps": SOURCE_FPS,
            "source_frames": source_frames,  # scene frame k = source_frames[k - 1]
            "image_size": list(IMAGE_SIZE),
            "units": "m",
            "detections": {"model": "simulated", **asdict(det_params)},
        }
        (tmp / "scene.json").write_text(json.dumps(meta, indent=2) + "\n")
        num_dets = write_detections(tmp, det_params)
    return {
        "scene": str(out_dir), "frames": len(source_frames), "fps": fps, "cameras": list(VIEWS),
        "gt_boxes": int(len(gt)), "people": int(len(np.unique(world["id"]))), "detections": num_dets,
    }
