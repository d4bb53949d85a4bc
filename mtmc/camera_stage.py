"""The per-camera half of a time step: detect -> track -> ground plane, and ReID on request.

A :class:`CameraStage` owns the detector, the trackers and the embedder of a group of
cameras (all cameras of a scene in one process, or a few of them in a Ray worker: see
:mod:`mtmc.runtime`).  Nothing in it depends on other groups, so groups may run anywhere;
only :meth:`embed` waits for the associator, which decides which crops are worth embedding.

One time step, as the pipeline drives it::

    tracks = stage.track(frames)                       # per camera, tracker-local ids (detect or predict)
    wanted = [associator.wants_embeddings(cam, t) ...]  # the associator's ReID schedule
    embeddings = stage.embed(frames.frame, wanted)     # frees the step's images
"""

from __future__ import annotations

import time

import numpy as np

from mtmc.boxes import foot_points
from mtmc.config import PipelineConfig
from mtmc.detectors import DETECTORS
from mtmc.detectors.common import ScheduleParams, detects_on
from mtmc.embedders import build_embedder
from mtmc.errors import MtmcError
from mtmc.io.scene import Scene
from mtmc.stages import Detector, Embedder, FrameSet
from trackers import TRACKERS

FOOT_MARGIN_PX = 3.0  # boxes reaching this close to the image bottom have no visible foot point


class CameraStage:
    """Detector (batched over this group's cameras), one tracker per camera, ReID of requested crops."""

    def __init__(self, cfg: PipelineConfig, scene: Scene, cameras: list[int] | None = None,
                 embedder: Embedder | None = None):
        self.scene = scene
        self.cameras = list(range(len(scene.cameras))) if cameras is None else list(cameras)
        self.names = [scene.cameras[i].name for i in self.cameras]
        self.calibration = [scene.camera_calibration(i) for i in self.cameras]
        params = DETECTORS.parse_params(cfg.detector.name, cfg.detector.params, "detector.params")
        self.detector: Detector = DETECTORS.build(cfg.detector.name, params, scene=scene)
        # the detection schedule (every_n, round_robin) is part of every built-in detector's params; a
        # plug-in detector whose params do not inherit ScheduleParams is detected on every frame
        self.schedule = params if isinstance(params, ScheduleParams) else ScheduleParams()
        self.trackers = [
            TRACKERS.build(cfg.tracker.name, cfg.tracker.params, frame_rate=scene.fps) for _ in self.cameras
        ]
        self.embedder: Embedder | None = embedder if embedder is not None else build_embedder(cfg.reid, scene)
        self.seconds = {"detect": 0.0, "track": 0.0, "reid": 0.0}
        self.embedded_crops = 0
        # frame -> (tracks, images) until its embed() call: what the associator may still ask crops of
        self._pending: dict[int, tuple[list[np.ndarray], list[np.ndarray | None]]] = {}

    @property
    def needs_pixels(self) -> bool:
        """Whether any stage looks at the images (else the reader may skip decoding)."""
        return self.detector.needs_pixels or (self.embedder is not None and self.embedder.needs_pixels)

    def track(self, frames: FrameSet) -> list[np.ndarray]:
        """This group's tracks of one time step (``camera`` = scene index, ids local to each tracker).

        Cameras the detection schedule skips this frame (``detector.params.every_n``) get their
        tracker's Kalman prediction instead of a detector call."""
        if list(frames.cameras) != self.names:
            raise MtmcError(f"frame {frames.frame}: got cameras {frames.cameras}, expected {self.names}")
        images = list(frames.images) if frames.images else [None] * len(self.cameras)
        detections = self._detect(frames, images)
        det_emb = self._tracker_embeddings(images, detections)
        tracks = []
        for i, (cam, tracker, dets) in enumerate(zip(self.cameras, self.trackers, detections)):
            t_start = time.perf_counter()
            cam_tracks = tracker.predict() if dets is None else tracker.update(dets, images[i], det_emb[i])
            self.seconds["track"] += time.perf_counter() - t_start
            cam_tracks["frame"], cam_tracks["camera"] = frames.frame, cam
            self._locate_on_ground(i, cam_tracks)
            tracks.append(cam_tracks)
        if self.embedder is not None:
            self._pending[int(frames.frame)] = (tracks, images)
        return tracks

    def embed(self, frame: int, wanted: list[np.ndarray | None]) -> list[np.ndarray | None]:
        """Embeddings of the ``wanted`` tracks of ``frame`` (row-aligned, nan rows not embedded), per camera.

        The crops of all cameras go through one embedder call.  Also forgets that frame's images, so
        call it once per tracked frame (with all-None to only forget)."""
        tracks, images = self._pending.pop(int(frame), (None, None))
        out: list[np.ndarray | None] = [None] * len(self.cameras)
        if tracks is None:
            return out
        todo = [i for i, mask in enumerate(wanted)
                if mask is not None and np.any(mask) and self._can_embed(images[i])]
        for i, emb in zip(todo, self._embed_rows([images[i] for i in todo], [tracks[i] for i in todo],
                                                 [wanted[i] for i in todo])):
            out[i] = emb
        return out

    # -- helpers ----------------------------------------------------------------------------------

    def _detect(self, frames: FrameSet, images: list[np.ndarray | None]) -> list[np.ndarray | None]:
        """Per camera: its detections, or None where the schedule skips it (one detector call for the rest)."""
        due = [i for i, cam in enumerate(self.cameras) if detects_on(self.schedule, int(frames.frame), cam)]
        out: list[np.ndarray | None] = [None] * len(self.cameras)
        if not due:
            return out
        if len(due) < len(self.cameras):
            frames = FrameSet(frames.frame, frames.time, [self.names[i] for i in due],
                              [images[i] for i in due] if frames.images else [])
        t0 = time.perf_counter()
        for i, dets in zip(due, self.detector.detect(frames)):
            out[i] = dets
        self.seconds["detect"] += time.perf_counter() - t0
        return out

    def _tracker_embeddings(self, images: list[np.ndarray | None],
                            detections: list[np.ndarray | None]) -> list[np.ndarray | None]:
        """An embedding per detection for the appearance trackers, all cameras in one embedder call.

        Detections below a tracker's ``min_embedding_score`` are not embedded (NaN rows)."""
        out: list[np.ndarray | None] = [None] * len(self.cameras)
        todo = [i for i, dets in enumerate(detections)
                if dets is not None and self.trackers[i].uses_embeddings and self._can_embed(images[i])]
        wanted = [detections[i]["score"] >= self.trackers[i].min_embedding_score for i in todo]
        for i, emb in zip(todo, self._embed_rows([images[i] for i in todo], [detections[i] for i in todo], wanted)):
            out[i] = emb
        return out

    def _can_embed(self, image: np.ndarray | None) -> bool:
        return self.embedder is not None and (image is not None or not self.embedder.needs_pixels)

    def _embed_rows(self, images: list[np.ndarray | None], boxes: list[np.ndarray],
                    masks: list[np.ndarray]) -> list[np.ndarray]:
        """Per image: an embedding row per box, the ``masks``' rows embedded (one embedder call), NaN others."""
        if not boxes:
            return []
        t0 = time.perf_counter()
        rows = self.embedder.embed_many(images, [b[m] for b, m in zip(boxes, masks)])
        self.seconds["reid"] += time.perf_counter() - t0
        self.embedded_crops += sum(int(np.count_nonzero(m)) for m in masks)
        out = []
        for b, m, r in zip(boxes, masks, rows):
            emb = np.full((len(b), self.embedder.dim), np.nan, dtype=np.float32)
            emb[m] = r
            out.append(emb)
        return out

    def _locate_on_ground(self, index: int, tracks: np.ndarray) -> None:
        camera = self.calibration[index]
        if camera is None or len(tracks) == 0:
            return
        ground = camera.image_to_ground(foot_points(tracks))
        # A box cut by the bottom of the image does not show the feet: its ground point is unknown.
        cut = tracks["y"] + tracks["h"] >= camera.image_size[1] - FOOT_MARGIN_PX
        ground[cut] = np.nan
        tracks["gx"], tracks["gy"] = ground[:, 0], ground[:, 1]
