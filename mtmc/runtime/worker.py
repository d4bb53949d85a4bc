"""One worker's share of a scene: it reads its cameras' frames and runs their :class:`CameraStage`.

Plain Python (no Ray import): :mod:`mtmc.runtime.ray_executor` turns it into an actor.
Every reply's pickled size is counted, to report what crosses the network per time step.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import time

import numpy as np

from mtmc.camera_stage import CameraStage
from mtmc.config import PipelineConfig
from mtmc.errors import MtmcError


def within_share(cfg: PipelineConfig) -> PipelineConfig:
    """``cfg`` with an automatic thread count (0) pinned to the worker's CPUs.

    ONNX Runtime's default is one thread per core of the whole node, so a few workers per node would
    oversubscribe it; results do not depend on the thread count, only the speed does."""
    params = cfg.detector.params
    if params.get("threads") != 0:
        return cfg
    threads = max(1, int(cfg.runtime.cpus_per_worker))
    detector = dataclasses.replace(cfg.detector, params={**params, "threads": threads})
    return dataclasses.replace(cfg, detector=detector)


def sent_bytes(value) -> int:
    """Size of ``value`` as Ray ships it (pickle protocol 5; Ray's own framing adds a few bytes)."""
    return len(pickle.dumps(value, protocol=5))


class CameraWorker:
    """Reads, detects, tracks and embeds the scene cameras ``cameras`` in step with the driver."""

    def __init__(self, cfg: PipelineConfig, scene, cameras: list[int], embedder=None):
        from mtmc.io.reader import SyncReader

        self.bytes = {"tracks": 0, "embeddings": 0}
        self._error: MtmcError | None = None
        try:
            self.stage = CameraStage(within_share(cfg), scene, cameras, embedder)
            own = dataclasses.replace(scene, cameras=[scene.cameras[i] for i in cameras])
            self._frames = iter(SyncReader(own, decode=self.stage.needs_pixels))
        except MtmcError as err:  # raised by the first call instead: a task error keeps its type, a dead actor not
            self._error = err
        self._cpu_start = time.process_time()
        self._first_call: float | None = None
        self._busy = 0.0  # wall seconds inside track/embed calls since the first: the rest is waiting for the driver

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def pid(self) -> int:
        return os.getpid()

    def track(self, frame: int) -> list[np.ndarray]:
        """Read this worker's cameras at ``frame`` (the next one) and track them."""
        self._check()
        start = time.perf_counter()
        self._first_call = self._first_call or start
        frames = next(self._frames, None)
        if frames is None or frames.frame != frame:
            got = "the end of the scene" if frames is None else f"frame {frames.frame}"
            raise MtmcError(f"worker of cameras {self.stage.names}: asked for frame {frame}, read {got}")
        tracks = self.stage.track(frames)
        self.bytes["tracks"] += sent_bytes(tracks)
        self._busy += time.perf_counter() - start
        return tracks

    def embed(self, frame: int, wanted: list[np.ndarray | None]) -> list[np.ndarray | None]:
        """Only the wanted rows of each camera's embeddings (the driver knows where they go)."""
        self._check()
        start = time.perf_counter()
        out = [e if e is None else e[m] for e, m in zip(self.stage.embed(frame, wanted), wanted)]
        self.bytes["embeddings"] += sent_bytes(out)
        self._busy += time.perf_counter() - start
        return out

    def stats(self) -> dict:
        return {
            "seconds": self.stage.seconds,
            "embedded_crops": self.stage.embedded_crops,
            "bytes": self.bytes,
            "cpu_seconds": time.process_time() - self._cpu_start,  # all threads of this worker, after setup
            "busy": self._busy / max(time.perf_counter() - (self._first_call or 0.0), 1e-9),
        }
