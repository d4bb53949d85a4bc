"""Open any supported input as a :class:`Scene`: one or more synchronised cameras.

``open_input(path)`` accepts

(a) a MOT sequence folder (``img1/`` and/or ``seqinfo.ini``, ``gt/gt.txt``, ``det/det.txt``),
(b) a video file (.mp4 .avi .mov .mkv),
(c) a folder of frame images,
(d) a multi-camera scene folder: one sub-folder per camera, each laid out like (a), or
    holding one video file, or holding frame images; or a folder of video files
    (one camera per video, named after the file).

At a scene root (or a sequence folder) these optional files are read:
``calibration.json`` (:func:`mtmc.calibration.load_calibration`), ``scene.json``
(``fps``, ``num_frames``, ``name``, anything else kept in ``Scene.meta``) and
``world_gt.txt`` (``frame, id, x, y`` on the ground plane).

Cameras are ordered by name.  All cameras must share one frame rate (DataError
otherwise).  When their lengths differ the scene takes the longest (or
``scene.json``'s ``num_frames``); shorter cameras give ``None`` images after
their end and the difference is reported in ``Scene.warnings``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtmc.boxes import make_boxes
from mtmc.errors import DataError
from mtmc.io.media import IMAGE_EXTS, VIDEO_EXTS, list_images, list_videos, probe_image, probe_video
from mtmc.io.mot import parse_rows, read_mot
from mtmc.io.seqinfo import SeqInfo, read_seqinfo

if TYPE_CHECKING:  # the IO layer stays importable without the calibration module's dependencies (cv2)
    from mtmc.calibration import Camera

DEFAULT_FPS = 30.0
_FPS_TOLERANCE = 0.005  # relative: 29.97 and 30 are the same rate, 25 and 30 are not


@dataclass
class CameraSource:
    """One camera of a scene: where its frames, gt and detections are."""

    name: str
    index: int
    media: Path | None  # video file or image folder; None when only annotations exist
    gt_path: Path | None = None
    det_path: Path | None = None
    image_size: tuple[int, int] | None = None  # (width, height)
    fps: float | None = None
    num_frames: int | None = None
    frames: list[Path] | None = field(default=None, repr=False)  # image files, frame k = frames[k - 1]
    seqinfo: SeqInfo | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        """One of ``video``, ``images`` or ``none``."""
        if self.media is None:
            return "none"
        return "images" if self.frames is not None else "video"


@dataclass
class Scene:
    """Synchronised cameras plus optional calibration and ground truth (what every stage is given)."""

    root: Path
    name: str
    cameras: list[CameraSource]  # in scene order; ``cameras[i].index == i``
    calibration: dict[str, Camera] | None = None  # camera name -> camera model (calibration.json)
    fps: float = DEFAULT_FPS  # one rate for every camera
    num_frames: int = 0  # the longest camera (or scene.json's num_frames)
    world_gt_path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # scene.json contents
    warnings: list[str] = field(default_factory=list)  # printed by the CLI before tracking

    @property
    def camera_names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def camera_calibration(self, index: int) -> Camera | None:
        """The calibration of camera ``index``, or None."""
        if self.calibration is None:
            return None
        return self.calibration.get(self.cameras[index].name)

    def load_gt(self, index: int, filter_gt: bool = True) -> np.ndarray | None:
        """Camera ``index``'s ground truth (ids global across cameras) with ``camera`` set, or None."""
        path = self.cameras[index].gt_path
        if path is None:
            return None
        boxes = read_mot(path, kind="gt", filter_gt=filter_gt)
        boxes["camera"] = index
        return boxes

    def ground_truth(self) -> dict[str, np.ndarray]:
        """Ground truth of every camera that has some, by camera name."""
        gt = {}
        for cam in self.cameras:
            boxes = self.load_gt(cam.index)
            if boxes is not None:
                gt[cam.name] = boxes
        return gt

    def load_world_gt(self) -> np.ndarray | None:
        """world_gt.txt as boxes with ``frame, id, gx, gy`` (``camera`` = -1, no image box), or None."""
        if self.world_gt_path is None:
            return None
        return read_world_gt(self.world_gt_path)


def read_world_gt(path: Path) -> np.ndarray:
    """Ground-plane gt: ``frame, id, x, y`` per line (commas or whitespace)."""
    layouts = {4: "frame,id,x,y (ground plane)"}
    rows, lines = parse_rows(path, _read(path, "world gt"), layouts)
    bad = ~np.isfinite(rows).all(axis=1) | (rows[:, 0] < 1) | (rows[:, 0] != np.round(rows[:, 0]))
    if bad.any():
        raise DataError(
            "expected frame >= 1 (integer) and finite id, x, y", path=path, line=int(lines[bad.argmax()])
        )
    out = make_boxes(len(rows))
    out["camera"] = -1
    out["frame"], out["id"], out["gx"], out["gy"] = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    out["w"] = out["h"] = 0.0
    return out


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {what}: {err}", path=path) from None


# ----------------------------------------------------------------------------------------------
# Cameras
# ----------------------------------------------------------------------------------------------


def _is_sequence(folder: Path) -> bool:
    """A MOT-sequence-like folder: seqinfo.ini, img1/, gt/gt.txt or det/det.txt."""
    return any((folder / p).exists() for p in ("seqinfo.ini", "img1", "gt/gt.txt", "det/det.txt"))


def _is_camera(folder: Path) -> bool:
    return _is_sequence(folder) or any(
        list_videos(folder) or list_images(d) for d in (folder, folder / "images")
    )


def _max_frame(path: Path | None) -> int | None:
    if path is None:
        return None
    boxes = read_mot(path, kind="det")
    return int(boxes["frame"].max()) if len(boxes) else None


def _camera_from_video(video: Path, name: str, warnings: list[str]) -> CameraSource:
    info = probe_video(video)
    return CameraSource(name, 0, video, image_size=info.image_size, fps=info.fps, num_frames=info.num_frames)


def _camera_from_folder(folder: Path, name: str, warnings: list[str]) -> CameraSource:
    """A camera from a sequence-like folder (video, img1/ or images; optional gt, det, seqinfo)."""
    seq = read_seqinfo(folder / "seqinfo.ini") if (folder / "seqinfo.ini").is_file() else None
    cam = CameraSource(name, 0, None, seqinfo=seq)
    cam.gt_path = folder / "gt" / "gt.txt" if (folder / "gt" / "gt.txt").is_file() else None
    cam.det_path = folder / "det" / "det.txt" if (folder / "det" / "det.txt").is_file() else None
    videos = list_videos(folder)
    if len(videos) > 1:
        names = ", ".join(v.name for v in videos)
        raise DataError(
            f"camera folder holds {len(videos)} videos ({names}); expected exactly one", path=folder
        )
    image_dir, images = None, []
    for cand in dict.fromkeys(
        [folder / (seq.im_dir if seq else "img1"), folder / "img1", folder / "images", folder]
    ):
        images = list_images(cand)
        if images:
            image_dir = cand
            break
    if image_dir is not None:
        if videos:
            warnings.append(
                f"camera {name}: both {videos[0].name} and {image_dir.name}/ frames; using the frames"
            )
        cam.media, cam.frames = image_dir, images
        cam.num_frames = len(images)
        cam.image_size = seq.image_size if seq and seq.image_size else probe_image(images[0])
        cam.fps = seq.frame_rate if seq else None
    elif videos:
        info = probe_video(videos[0])
        cam.media, cam.num_frames, cam.image_size = videos[0], info.num_frames, info.image_size
        cam.fps = seq.frame_rate if seq and seq.frame_rate else info.fps
        if seq and seq.frame_rate and info.fps and not _same_rate(seq.frame_rate, info.fps):
            warnings.append(
                f"camera {name}: seqinfo.ini frameRate={seq.frame_rate:g} but {videos[0].name} says "
                f"{info.fps:g}; using seqinfo.ini"
            )
    else:
        if (folder / "img1").is_dir():
            warnings.append(f"camera {name}: img1/ holds no images; no frames to decode")
        cam.image_size = seq.image_size if seq else None
        cam.fps = seq.frame_rate if seq else None
        cam.num_frames = seq.seq_length if seq and seq.seq_length else None
        if cam.num_frames is None:
            cam.num_frames = _max_frame(cam.gt_path) or _max_frame(cam.det_path)
    if seq and seq.seq_length and cam.media is not None and seq.seq_length != cam.num_frames:
        warnings.append(
            f"camera {name}: seqinfo.ini seqLength={seq.seq_length} but {cam.media.name} holds "
            f"{cam.num_frames} frames; using {cam.num_frames}"
        )
    return cam


def _find_cameras(root: Path, warnings: list[str]) -> list[CameraSource]:
    """Cameras of a folder that is neither a sequence nor an image folder (layout (d))."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    cam_dirs = [d for d in subdirs if _is_camera(d)]
    videos = list_videos(root)
    if cam_dirs and videos:
        raise DataError(
            f"ambiguous scene: both camera folders ({', '.join(d.name for d in cam_dirs)}) and videos "
            f"({', '.join(v.name for v in videos)}) at the top level; expected one or the other",
            path=root,
        )
    if videos:
        return [_camera_from_video(v, v.stem, warnings) for v in sorted(videos, key=lambda v: v.stem)]
    if not cam_dirs:
        raise DataError(
            "nothing recognisable: expected a video file, frame images, a MOT sequence (img1/, seqinfo.ini, "
            f"gt/gt.txt, det/det.txt) or camera sub-folders holding those ({', '.join(VIDEO_EXTS)}; "
            f"images {', '.join(IMAGE_EXTS)})",
            path=root,
        )
    for d in subdirs:
        if d not in cam_dirs:
            warnings.append(f"ignored folder {d.name}/: no video, images, seqinfo.ini, gt or det in it")
    return [_camera_from_folder(d, d.name, warnings) for d in cam_dirs]


# ----------------------------------------------------------------------------------------------
# Scene
# ----------------------------------------------------------------------------------------------


def _same_rate(a: float, b: float) -> bool:
    return abs(a - b) <= _FPS_TOLERANCE * max(a, b)


def _scene_json(root: Path) -> dict[str, Any]:
    path = root / "scene.json"
    if not path.is_file():
        return {}
    try:
        meta = json.loads(_read(path, "scene.json"))
    except json.JSONDecodeError as err:
        raise DataError(f"invalid JSON ({err.msg})", path=path, line=err.lineno) from None
    if not isinstance(meta, dict):
        raise DataError("expected a JSON object with fps, num_frames, ...", path=path)
    for key, typ in (("fps", (int, float)), ("num_frames", (int,))):
        value = meta.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, typ) or value <= 0):
            raise DataError(f"{key}: expected a positive number, got {value!r}", path=path)
    return meta


def _resolve_fps(cameras: list[CameraSource], meta: dict, root: Path, warnings: list[str]) -> float:
    known = [c for c in cameras if c.fps]
    if meta.get("fps"):
        fps = float(meta["fps"])
        for c in known:
            if not _same_rate(c.fps, fps):
                raise DataError(
                    f"fps {fps:g} but camera {c.name} runs at {c.fps:g} fps", path=root / "scene.json"
                )
    elif known:
        fps = known[0].fps
        odd = [c for c in known if not _same_rate(c.fps, fps)]
        if odd:
            rates = ", ".join(f"{c.name}={c.fps:g}" for c in known)
            raise DataError(
                f"cameras have different frame rates ({rates}); expected one rate (resample the videos)",
                path=root,
            )
    else:
        fps = DEFAULT_FPS
        warnings.append(f"no frame rate in seqinfo.ini, scene.json or the videos; assuming {fps:g} fps")
    for c in cameras:
        c.fps = c.fps or fps
    return fps


def _resolve_length(cameras: list[CameraSource], meta: dict, root: Path, warnings: list[str]) -> int:
    lengths = [c.num_frames for c in cameras if c.num_frames]
    if meta.get("num_frames"):
        total = int(meta["num_frames"])
    elif lengths:
        total = max(lengths)
    else:
        raise DataError(
            "cannot tell the number of frames (no media, seqLength, gt, det or scene.json)", path=root
        )
    for c in cameras:
        if c.num_frames is None:
            c.num_frames = total
        elif c.num_frames < total:
            warnings.append(
                f"camera {c.name} has {c.num_frames} frames, the scene {total}: its images are None after "
                f"frame {c.num_frames}"
            )
    return total


def _check_calibration(scene: Scene, path: Path) -> None:
    calib = scene.calibration or {}
    names = set(scene.camera_names)
    for extra in sorted(set(calib) - names):
        scene.warnings.append(
            f"{path.name}: camera {extra!r} is not in the scene (cameras: {', '.join(sorted(names))})"
        )
    for cam in scene.cameras:
        cal = calib.get(cam.name)
        if cal is None:
            scene.warnings.append(f"{path.name}: no calibration for camera {cam.name!r}")
            continue
        size = cal.image_size
        if cam.image_size is not None and tuple(size) != tuple(cam.image_size):
            scene.warnings.append(
                f"{path.name}: camera {cam.name!r} calibrated for image size {tuple(size)} but its frames are "
                f"{tuple(cam.image_size)}"
            )


def open_input(path: str | Path) -> Scene:
    """Open a video, image folder, MOT sequence or multi-camera scene folder (see module doc)."""
    path = Path(path)
    warnings: list[str] = []
    if not path.exists():
        raise DataError("input not found (expected a video file, image folder or scene folder)", path=path)
    if path.is_file():
        if path.suffix.lower() not in VIDEO_EXTS:
            raise DataError(f"not a video file (expected {', '.join(VIDEO_EXTS)}) or a folder", path=path)
        root, cameras = path.parent, [_camera_from_video(path, path.stem, warnings)]
    elif _is_sequence(path) or list_images(path):
        root, cameras = path, [_camera_from_folder(path, path.name, warnings)]
    else:
        root, cameras = path, _find_cameras(path, warnings)
    for i, cam in enumerate(cameras):
        cam.index = i
    meta = _scene_json(root) if path.is_dir() else {}
    scene = Scene(
        root=root,
        name=str(meta.get("name") or (path.name if path.is_dir() else path.stem)),
        cameras=cameras,
        meta=meta,
        warnings=warnings,
    )
    scene.fps = _resolve_fps(cameras, meta, root, warnings)
    scene.num_frames = _resolve_length(cameras, meta, root, warnings)
    if path.is_dir():
        world = root / "world_gt.txt"
        scene.world_gt_path = world if world.is_file() else None
        calib_path = root / "calibration.json"
        if calib_path.is_file():
            # lazy import: the IO layer stays importable without the calibration module's dependencies
            from mtmc.calibration import load_calibration

            scene.calibration = load_calibration(calib_path)
            _check_calibration(scene, calib_path)
    return scene
