"""``generate_scene``: simulate, render every camera and write a multi-camera scene folder.

Layout (see CONTEXT.md): ``calibration.json``, ``scene.json``, ``world_gt.txt`` and per
camera ``<cam>/video.mp4`` (or ``video.avi`` / ``img1/``), ``<cam>/gt/gt.txt`` (MOT17
9 columns, global ids; tight boxes: the bounds of each person's silhouette),
``<cam>/gt/gt_full.txt`` (the same rows with full-extent boxes, whose bottom centre is
the person's ground point), ``<cam>/seqinfo.ini``.  Everything is written into a hidden
sibling folder that is renamed into place at the end: a killed run never leaves
half a scene behind.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from mtmc import __version__
from mtmc.boxes import concat
from mtmc.calibration import Camera, save_calibration
from mtmc.config import to_dict
from mtmc.errors import DataError, MtmcError
from mtmc.synth.appearance import Identity, make_identities
from mtmc.synth.body import Body, build_body
from mtmc.synth.config import SynthConfig
from mtmc.synth.motion import Motion, simulate
from mtmc.synth.render import CameraView
from mtmc.synth.room import Room, build_cameras, build_room

FULL_GT = "gt_full.txt"  # per camera, next to gt.txt: full-extent boxes (bottom centre = ground point)


class SceneModel:
    """Everything needed to render any frame of a synthetic scene, in memory."""

    def __init__(self, cfg: SynthConfig, identities: list[Identity] | None = None):
        cfg.validate()
        self.cfg = cfg
        self.room: Room = build_room(cfg)
        self.cameras: dict[str, Camera] = build_cameras(cfg, np.random.default_rng([int(cfg.seed) & 0xFFFFFFFF, 11]))
        self.identities = identities or make_identities(cfg.seed, cfg.people, cfg.lookalike_rate)
        self.motion: Motion = simulate(cfg, self.room, self.identities)
        self._views: dict[int, CameraView] = {}

    def view(self, index: int) -> CameraView:
        """The renderer of camera ``index`` (built on first use: backgrounds take a moment)."""
        if index not in self._views:
            cam = list(self.cameras.values())[index]
            self._views[index] = CameraView(cam, index, self.room, self.cfg.seed, self.cfg.noise, self.cfg.blur)
        return self._views[index]

    @property
    def num_frames(self) -> int:
        return self.cfg.num_frames

    def bodies(self, frame: int) -> tuple[list[Body], list[int], np.ndarray, np.ndarray]:
        """Bodies, global ids, ground points (N, 2) and sitting amounts of the people in ``frame`` (1-based)."""
        m, r = self.motion, frame - 1
        idx = np.flatnonzero(m.present[r])
        bodies = [build_body(self.identities[k], m.x[r, k], m.y[r, k], m.heading[r, k], m.phase[r, k],
                             m.walk[r, k], m.sit[r, k]) for k in idx]
        ground = np.stack([m.x[r, idx], m.y[r, idx]], axis=1)
        return bodies, [self.identities[k].pid for k in idx], ground, m.sit[r, idx]

    def render(self, frame: int, draw: bool = True, cameras: list[int] | None = None
               ) -> list[tuple[np.ndarray | None, np.ndarray, np.ndarray]]:
        """(image, tight gt boxes, full-extent gt boxes) of every camera (or of the ``cameras`` indices)
        at ``frame`` (1-based); the two box arrays hold the same people row for row."""
        bodies, pids, ground, sit = self.bodies(frame)
        out = []
        for c in range(len(self.cameras)) if cameras is None else cameras:
            image, tight, full = self.view(c).render(frame, bodies, pids, ground, sit, draw=draw)
            tight["frame"] = full["frame"] = frame
            keep = tight["vis"] > self.cfg.min_visibility
            out.append((image, tight[keep], full[keep]))
        return out

    def world_gt(self) -> str:
        """``frame,id,x,y`` lines of every person in the room."""
        m = self.motion
        f, k = np.nonzero(m.present)
        pids = np.array([i.pid for i in self.identities])
        lines = [f"{fr + 1},{pids[p]},{m.x[fr, p]:.4f},{m.y[fr, p]:.4f}" for fr, p in zip(f.tolist(), k.tolist())]
        return "\n".join(lines) + ("\n" if lines else "")

    def summary(self) -> dict:
        room = self.room
        return {
            "generator": f"mtmc synth {__version__}",
            "seed": self.cfg.seed,
            "fps": self.cfg.fps,
            "num_frames": self.num_frames,
            "image_size": list(self.cfg.size),
            "cameras": list(self.cameras),
            "room": {
                "size": list(room.size), "height": room.height,
                "door": {"wall": room.door_wall, "center": list(room.door_center), "width": room.door_width,
                         "inward": list(room.door_inward)},
                "furniture": [{"kind": f.kind, "center": list(f.center), "radius": f.radius} for f in room.furniture],
            },
            "people": [dict(i.summary(), visits=self.motion.intervals(k)) for k, i in enumerate(self.identities)],
            "config": to_dict(self.cfg),
        }


def format_gt(boxes: np.ndarray) -> str:
    """MOT17 ground truth: ``frame,id,x,y,w,h,1,1,visibility`` sorted by frame then id."""
    b = boxes[np.lexsort((boxes["id"], boxes["frame"]))]
    lines = [f"{f},{i},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,1,{v:.4f}" for f, i, x, y, w, h, v in zip(
        b["frame"].tolist(), b["id"].tolist(), b["x"].tolist(), b["y"].tolist(), b["w"].tolist(),
        b["h"].tolist(), b["vis"].tolist())]
    return "\n".join(lines) + ("\n" if lines else "")


def seqinfo(name: str, cfg: SynthConfig) -> str:
    w, h = cfg.size
    return (f"[Sequence]\nname={name}\nimDir=img1\nframeRate={cfg.fps:g}\nseqLength={cfg.num_frames}\n"
            f"imWidth={w}\nimHeight={h}\nimExt=.jpg\n")


class FrameSink:
    """Writes one camera's frames as mp4 (mp4v), avi (MJPG) or an ``img1/`` JPEG folder."""

    def __init__(self, folder: Path, fmt: str, fps: float, size: tuple[int, int]):
        self.fmt, self.frames = fmt, 0
        if fmt == "images":
            self.dir = folder / "img1"
            self.dir.mkdir(parents=True)
            self.writer = None
            return
        path = folder / ("video.mp4" if fmt == "mp4" else "video.avi")
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*("mp4v" if fmt == "mp4" else "MJPG")),
                                      fps, size)
        if not self.writer.isOpened():
            raise DataError(f"cannot open a {fmt} video writer (OpenCV lacks the codec?)", path=path)

    def write(self, image: np.ndarray) -> None:
        self.frames += 1
        if self.writer is None:
            cv2.imwrite(str(self.dir / f"{self.frames:06d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        else:
            self.writer.write(image)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


@contextlib.contextmanager
def staged_folder(out_dir: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a hidden temporary folder next to ``out_dir``; on success it replaces ``out_dir``."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise MtmcError("output exists and is not empty (use --overwrite to replace it)", path=out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)  # a killed earlier run: start afresh
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def _render_cameras(cfg: SynthConfig, cameras: list[int], folder: Path, progress: bool = False
                    ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Render ``cameras`` (indices) over the whole scene into ``folder``; returns their (tight, full) gt."""
    cv2.setNumThreads(1)  # one process per core does the parallel work
    model = SceneModel(cfg)
    names = list(model.cameras)
    sinks = [FrameSink(folder / names[c], cfg.format, cfg.fps, cfg.size) for c in cameras]
    gts: list[list[np.ndarray]] = [[] for _ in cameras]
    fulls: list[list[np.ndarray]] = [[] for _ in cameras]
    frames = range(1, model.num_frames + 1)
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, desc="synth", unit="frame")
    try:
        for frame in frames:
            for k, (image, tight, full) in enumerate(model.render(frame, cameras=cameras)):
                sinks[k].write(image)
                gts[k].append(tight)
                fulls[k].append(full)
    finally:
        for sink in sinks:
            sink.close()
    return [(concat(g), concat(f)) for g, f in zip(gts, fulls)]


def generate_scene(cfg: SynthConfig, out_dir: str | Path, overwrite: bool = False, progress: bool = False,
                   workers: int | None = None) -> Path:
    """Render the scene described by ``cfg`` into ``out_dir``; returns ``out_dir``.

    Cameras are split over ``workers`` processes (default: one per CPU core, at most one per
    camera); the output does not depend on the number of workers.
    """
    out_dir = Path(out_dir)
    cfg.validate()
    workers = max(1, min(workers or os.cpu_count() or 1, cfg.cameras))
    with staged_folder(out_dir, overwrite) as tmp:
        model = SceneModel(cfg)
        names = list(model.cameras)
        save_calibration(tmp / "calibration.json", model.cameras, generator=f"mtmc synth {__version__}",
                         room=list(cfg.room))
        for name in names:
            (tmp / name / "gt").mkdir(parents=True)
        groups = [list(range(cfg.cameras))[k::workers] for k in range(workers)]
        gts: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if workers == 1:
            gts.update(zip(groups[0], _render_cameras(cfg, groups[0], tmp, progress)))
        else:
            ctx = multiprocessing.get_context("spawn")  # no fork: the parent may hold threads
            with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                jobs = [pool.submit(_render_cameras, cfg, g, tmp, progress and k == 0) for k, g in enumerate(groups)]
                for g, job in zip(groups, jobs):
                    gts.update(zip(g, job.result()))
        for c, name in enumerate(names):
            (tmp / name / "gt" / "gt.txt").write_text(format_gt(gts[c][0]))
            (tmp / name / "gt" / FULL_GT).write_text(format_gt(gts[c][1]))
            (tmp / name / "seqinfo.ini").write_text(seqinfo(name, cfg))
        (tmp / "world_gt.txt").write_text(model.world_gt())
        (tmp / "scene.json").write_text(json.dumps(model.summary(), indent=2) + "\n")
    return out_dir
