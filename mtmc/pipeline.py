"""The tracking pipeline, stage by stage, one time step at a time.

    reader (synchronised frames of all cameras)
      -> detector (people in every camera, one batched call)
      -> per-camera trackers (tracklets with per-camera ids)
      -> ReID (embeddings, only for the crops the trackers / association ask for)
      -> ground plane (foot point of every track through the camera's calibration)
      -> association (one global id per person across cameras and re-entries; a frame's ids are
         emitted ``association.params.latency_seconds`` late and never change afterwards)
      -> writers (per-camera MOT files, global file, videos, map, summary)

The per-camera part (detector to ground plane, and ReID on request) is :class:`mtmc.camera_stage.CameraStage`;
``runtime.executor`` decides where it runs (this process, or Ray workers: :mod:`mtmc.runtime`); the
association always runs here.

Two ways to run: ``run(online=True)`` keeps exactly the ids the stream emitted (what a live user sees);
``run()`` (offline) relabels the whole run with the association's final decisions at the end.

Use it from Python::

    from mtmc.config import load_config
    from mtmc.io.scene import open_input
    from mtmc.pipeline import Pipeline

    scene = open_input("work/demo/scene")
    pipeline = Pipeline(load_config(["configs/lab.yaml"]), scene)
    result = pipeline.run()                 # or: for frames in reader: emitted = pipeline.step(frames)
    result.tracks[0]                        # BOX_DTYPE array of camera 0's tracks (global ids)
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from mtmc.association import ASSOCIATORS
from mtmc.boxes import BoxLog
from mtmc.camera_stage import CameraStage
from mtmc.config import PipelineConfig
from mtmc.embedders import build_embedder
from mtmc.io.scene import Scene
from mtmc.postprocess import interpolate_gaps
from mtmc.stages import Embedder, FrameSet


@dataclass
class PipelineResult:
    """Tracks of a whole run, per camera, with global ids; plus timing per stage."""

    cameras: list[str]
    tracks: list[np.ndarray]
    frames: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    embedded_crops: int = 0
    runtime: dict = field(default_factory=dict)  # executor, workers, bytes per camera and frame (mtmc.runtime)

    def as_dict(self) -> dict:
        total = sum(self.seconds.values()) or 1e-9
        return {
            "frames": self.frames,
            "cameras": self.cameras,
            "boxes_per_camera": {c: int(len(t)) for c, t in zip(self.cameras, self.tracks)},
            "identities": len(set().union(*(np.unique(t["id"]).tolist() for t in self.tracks))),
            "embedded_crops": self.embedded_crops,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "frames_per_second": round(self.frames / total, 2),
            **({"runtime": self.runtime} if self.runtime else {}),
        }


class Pipeline:
    """Detector -> per-camera trackers -> ReID -> ground plane -> association, for one scene."""

    def __init__(self, cfg: PipelineConfig, scene: Scene, embedder: Embedder | None = None):
        self.cfg = cfg
        self.scene = scene
        self.cameras = scene.camera_names
        self.custom_embedder = embedder  # a caller's embedder travels to remote workers (mtmc.runtime)
        self.embedder: Embedder | None = embedder if embedder is not None else build_embedder(cfg.reid, scene)
        self.associator = ASSOCIATORS.build(
            cfg.association.name, cfg.association.params, scene=scene, has_reid=self.embedder is not None
        )
        self._stage: CameraStage | None = None
        self.seconds = {"associate": 0.0}
        self.last_local_tracks: list[np.ndarray] = []  # this step's tracks with per-camera tracker ids

    @property
    def stage(self) -> CameraStage:
        """Detector, trackers and ReID of all cameras in this process (built on first use)."""
        if self._stage is None:
            self._stage = CameraStage(self.cfg, self.scene, embedder=self.embedder)
        return self._stage

    def step(self, frames: FrameSet) -> list[np.ndarray]:
        """Process one time step; returns per camera the tracks whose global ids are final now (those of
        this step, or of ``latency`` steps ago).  ``finish()`` returns the rest at the end."""
        return self.associate(frames.frame, self.stage.track(frames), self.stage.embed)

    def associate(self, frame: int, tracks: list[np.ndarray], embed) -> list[np.ndarray]:
        """Global ids for one time step's per-camera ``tracks``; ``embed(frame, wanted)`` runs the ReID
        the associator schedules (:meth:`CameraStage.embed`, locally or in the camera's worker)."""
        wanted = [
            self.associator.wants_embeddings(cam, boxes) if self.embedder is not None and len(boxes) else None
            for cam, boxes in enumerate(tracks)
        ]
        track_embeddings = embed(frame, wanted)
        t2 = time.perf_counter()
        out = self.associator.update(frame, tracks, track_embeddings)
        if self.associator.latency == 0:  # an associator may refine ground points (multi-view fusion)
            tracks = [t if t.flags.writeable else t.copy() for t in tracks]  # Ray hands read-only arrays
            for local, fused in zip(tracks, out):
                local["gx"], local["gy"] = fused["gx"], fused["gy"]
        self.last_local_tracks = tracks
        self.seconds["associate"] += time.perf_counter() - t2
        return out

    def finish(self) -> list[np.ndarray]:
        """End of the stream: per camera, the tracks still in the latency buffer, with their final ids."""
        return self.associator.flush()

    def run(self, frames: Iterable[FrameSet] | None = None, progress: bool = False,
            online: bool = False) -> PipelineResult:
        """Run over all time steps (by default the scene's synchronised reader).

        ``online``: the result holds the ids as the stream emitted them; gaps are filled only up to the
        latency (a live system can fill those before the frames leave).  Otherwise the whole run is
        relabelled with the final decisions (and the offline refinement, if configured)."""
        from mtmc.runtime import open_steps

        # online: the streamed global ids; offline: the tracker ids, relabelled at the end
        logs = [BoxLog() for _ in self.cameras]
        count = 0
        steps = open_steps(self, frames)  # runtime.executor: this process, or per-camera Ray workers
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=self.scene.num_frames or None, unit="frame", desc="track", leave=False)
        with steps:
            for frame, local_tracks in steps:
                out = self.associate(frame, local_tracks, steps.embed)
                for cam, boxes in enumerate(out if online else self.last_local_tracks):
                    logs[cam].append(boxes)
                count += 1
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
        max_gap = int(round(self.cfg.output.interpolate_seconds * self.scene.fps))
        if online:
            for cam, boxes in enumerate(self.finish()):
                logs[cam].append(boxes)
            max_gap = min(max_gap, self.associator.latency)
        else:
            # Identities are final only now: late ReID decisions and offline refinement relabel the run.
            self.associator.finalize()
        tracks = []
        for cam, log in enumerate(logs):  # one camera at a time: only one camera's copies exist at once
            boxes = log.take()
            if not online:
                ids = self.associator.relabel(cam, boxes)
                boxes["gx"], boxes["gy"] = self.associator.relocate(cam, boxes, ids).T
                boxes["id"] = ids
            if (boxes["id"] < 0).any():  # an associator may reject boxes (id -1)
                boxes = boxes[boxes["id"] >= 0]
            tracks.append(interpolate_gaps(boxes, max_gap) if max_gap > 0 else boxes)
        seconds = {**steps.seconds, **self.seconds}
        return PipelineResult(self.cameras, tracks, count, seconds, steps.embedded_crops, steps.stats())

    @property
    def needs_pixels(self) -> bool:
        """Whether any stage looks at the images (else the reader may skip decoding)."""
        return self.stage.needs_pixels
