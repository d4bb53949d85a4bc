"""The tracking pipeline, stage by stage, one time step at a time.

    reader (synchronised frames of all cameras)
      -> detector (people in every camera, one batched call)
      -> per-camera trackers (tracklets with per-camera ids)
      -> ReID (embeddings, only for the crops the trackers / association ask for)
      -> ground plane (foot point of every track through the camera's calibration)
      -> association (one global id per person across cameras and re-entries)
      -> writers (per-camera MOT files, global file, videos, map, summary)

Use it from Python::

    from mtmc.config import load_config
    from mtmc.io.scene import open_input
    from mtmc.pipeline import Pipeline

    scene = open_input("work/demo/scene")
    pipeline = Pipeline(load_config(["configs/lab.yaml"]), scene)
    result = pipeline.run()                 # or: for frames in reader: pipeline.step(frames)
    result.tracks[0]                        # BOX_DTYPE array of camera 0's tracks (global ids)
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from mtmc import ground_tracking as _ground  # noqa: F401  (registers the "ground" associator)
from mtmc.association import ASSOCIATORS
from mtmc.boxes import concat, foot_points
from mtmc.config import PipelineConfig
from mtmc.detectors import DETECTORS
from mtmc.postprocess import interpolate_gaps
from mtmc.stages import FrameSet
from trackers import TRACKERS

FOOT_MARGIN_PX = 3.0  # boxes reaching this close to the image bottom have no visible foot point


@dataclass
class PipelineResult:
    """Tracks of a whole run, per camera, with global ids; plus timing per stage."""

    cameras: list[str]
    tracks: list[np.ndarray]
    frames: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    embedded_crops: int = 0

    def as_dict(self) -> dict:
        total = sum(self.seconds.values()) or 1e-9
        return {
            "frames": self.frames,
            "cameras": self.cameras,
            "boxes_per_camera": {c: int(len(t)) for c, t in zip(self.cameras, self.tracks)},
            "identities": int(len(np.unique(concat(self.tracks)["id"]))) if self.tracks else 0,
            "embedded_crops": self.embedded_crops,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "frames_per_second": round(self.frames / total, 2),
        }


class Pipeline:
    """Detector -> per-camera trackers -> ReID -> ground plane -> association, for one scene."""

    def __init__(self, cfg: PipelineConfig, scene, embedder=None):
        from reid.embedder import build_embedder

        self.cfg = cfg
        self.scene = scene
        self.cameras = [c.name for c in scene.cameras]
        self.calibration = [
            scene.calibration.get(name) if scene.calibration else None for name in self.cameras
        ]
        self.detector = DETECTORS.build(cfg.detector.name, cfg.detector.params, scene=scene)
        self.trackers = [
            TRACKERS.build(cfg.tracker.name, cfg.tracker.params, frame_rate=scene.fps) for _ in self.cameras
        ]
        if embedder is None and cfg.reid.model == "oracle":
            from mtmc.association.oracle import OracleEmbedder

            embedder = OracleEmbedder(scene)  # upper bound: appearance = ground-truth identity
        self.embedder = embedder if embedder is not None else build_embedder(cfg.reid)
        self.associator = ASSOCIATORS.build(
            cfg.association.name, cfg.association.params, scene=scene, has_reid=self.embedder is not None
        )
        self.seconds = {"detect": 0.0, "track": 0.0, "reid": 0.0, "associate": 0.0}
        self.embedded_crops = 0
        self.last_local_tracks: list[np.ndarray] = []  # this step's tracks with per-camera tracker ids

    def step(self, frames: FrameSet) -> list[np.ndarray]:
        """Process one time step; returns this step's tracks per camera with global ids."""
        t0 = time.perf_counter()
        detections = self.detector.detect(frames)
        t1 = time.perf_counter()
        self.seconds["detect"] += t1 - t0

        tracks, track_embeddings = [], []
        for cam, (tracker, dets) in enumerate(zip(self.trackers, detections)):
            image = frames.images[cam] if frames.images else None
            det_emb = None
            if self.embedder is not None and getattr(tracker, "uses_embeddings", False) and (
                image is not None or not getattr(self.embedder, "needs_pixels", True)
            ):
                det_emb = self._embed(image, dets)
            t_start = time.perf_counter()
            cam_tracks = tracker.update(dets, image, det_emb)
            self.seconds["track"] += time.perf_counter() - t_start
            cam_tracks["frame"], cam_tracks["camera"] = frames.frame, cam
            self._locate_on_ground(cam, cam_tracks)
            tracks.append(cam_tracks)
            track_embeddings.append(self._embeddings_for_association(cam, image, cam_tracks))

        self.last_local_tracks = tracks
        t2 = time.perf_counter()
        out = self.associator.update(frames.frame, tracks, track_embeddings)
        for local, fused in zip(tracks, out):  # an associator may refine ground points (multi-view fusion)
            local["gx"], local["gy"] = fused["gx"], fused["gy"]
        self.seconds["associate"] += time.perf_counter() - t2
        return out

    def run(self, frames: Iterable[FrameSet] | None = None, progress: bool = False) -> PipelineResult:
        """Run over all time steps (by default the scene's synchronised reader)."""
        from mtmc.io.reader import SyncReader

        per_camera: list[list[np.ndarray]] = [[] for _ in self.cameras]
        count = 0
        source = frames if frames is not None else SyncReader(self.scene, decode=self.needs_pixels)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=self.scene.num_frames or None, unit="frame", desc="track", leave=False)
        for frame_set in source:
            self.step(frame_set)
            for cam, boxes in enumerate(self.last_local_tracks):
                per_camera[cam].append(boxes)
            count += 1
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        tracks = [concat(parts) for parts in per_camera]
        # Identities are final only now: late ReID decisions and offline refinement relabel the whole run.
        self.associator.finalize()
        for cam, boxes in enumerate(tracks):
            boxes["id"] = self.associator.relabel(cam, boxes)
        tracks = [boxes[boxes["id"] >= 0] for boxes in tracks]  # an associator may reject boxes (id -1)
        max_gap = int(round(self.cfg.output.interpolate_seconds * self.scene.fps))
        if max_gap > 0:
            tracks = [interpolate_gaps(boxes, max_gap) for boxes in tracks]
        return PipelineResult(self.cameras, tracks, count, dict(self.seconds), self.embedded_crops)

    @property
    def needs_pixels(self) -> bool:
        """Whether any stage looks at the images (else the reader may skip decoding)."""
        embedder_pixels = self.embedder is not None and getattr(self.embedder, "needs_pixels", True)
        return bool(getattr(self.detector, "needs_pixels", True)) or embedder_pixels

    # -- helpers ----------------------------------------------------------------------------------

    def _embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        emb = self.embedder.embed(image, boxes)
        self.seconds["reid"] += time.perf_counter() - t0
        self.embedded_crops += len(boxes)
        return emb

    def _embeddings_for_association(self, cam: int, image: np.ndarray | None, tracks: np.ndarray):
        """Embed only the tracks the associator asks for (new tracklets, periodic refresh, clean crops)."""
        if self.embedder is None or len(tracks) == 0:
            return None
        if image is None and getattr(self.embedder, "needs_pixels", True):
            return None
        wanted = self.associator.wants_embeddings(cam, tracks)
        if not np.any(wanted):
            return None
        emb = np.full((len(tracks), self.embedder.dim), np.nan, dtype=np.float32)
        emb[wanted] = self._embed(image, tracks[wanted])
        return emb

    def _locate_on_ground(self, cam: int, tracks: np.ndarray) -> None:
        camera = self.calibration[cam]
        if camera is None or len(tracks) == 0:
            return
        ground = camera.image_to_ground(foot_points(tracks))
        # A box cut by the bottom of the image does not show the feet: its ground point is unknown.
        cut = tracks["y"] + tracks["h"] >= camera.image_size[1] - FOOT_MARGIN_PX
        ground[cut] = np.nan
        tracks["gx"], tracks["gy"] = ground[:, 0], ground[:, 1]
