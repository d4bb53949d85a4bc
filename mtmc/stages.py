"""The small interfaces at which pipeline stages meet (one Protocol each).

Follow one time step through :mod:`mtmc.pipeline`:

``FrameSet`` (one image per camera) -> ``Detector.detect`` (boxes per camera)
-> ``Tracker.update`` per camera (tracks with per-camera ids) -> ``Embedder.embed``
(appearance vectors for the crops that need them) -> ``Associator.update``
(global ids across cameras) -> writers.

All boxes are :data:`mtmc.boxes.BOX_DTYPE` arrays.  Besides its method, each stage declares what it
consumes, so the pipeline never guesses: ``Detector.needs_pixels`` / ``Embedder.needs_pixels`` (when
no stage needs pixels the reader skips decoding) and ``Tracker.uses_embeddings`` (the pipeline embeds
every detection for such a tracker).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass
class FrameSet:
    """The synchronised images of all cameras at one time step."""

    frame: int  # 1-based frame number
    time: float  # seconds since the start of the scene
    cameras: list[str]  # camera names, in scene order
    images: list[np.ndarray | None] = field(default_factory=list)  # BGR uint8 HxWx3, None if not decoded


@runtime_checkable
class Detector(Protocol):
    """Finds people in the images of one time step (batched over cameras)."""

    needs_pixels: bool  # False: works from annotations (simulated, det files); frames need not be decoded

    def detect(self, frames: FrameSet) -> list[np.ndarray]:
        """One box array per camera, in ``frames.cameras`` order, ``id`` = -1."""
        ...


@runtime_checkable
class Tracker(Protocol):
    """Links one camera's detections over time into tracks with per-camera ids."""

    uses_embeddings: bool  # True: update() wants an embedding for every detection...
    min_embedding_score: float  # ...scoring at least this (rows of lower ones may be NaN: never looked at)

    def update(
        self, detections: np.ndarray, frame: np.ndarray | None = None, embeddings: np.ndarray | None = None
    ) -> np.ndarray:
        """Feed one frame's detections (and optional L2-normalised embeddings, row-aligned; NaN rows for
        detections below ``min_embedding_score``);
        return the confirmed tracks of this frame with their ``id`` set."""
        ...

    def predict(self) -> np.ndarray:
        """A frame the detection schedule skips: advance the tracks on their motion model and return the
        confirmed ones at their predicted boxes (ids kept; nothing starts, is confirmed or lost)."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Turns person crops into L2-normalised appearance vectors."""

    dim: int
    needs_pixels: bool  # False: embeds from box fields alone (the oracle); ``image`` may be None

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        """(N, dim) float32 unit vectors for BGR uint8 crops."""
        ...

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, dim) float32 unit vectors for ``boxes`` cut from a BGR ``image``."""
        ...

    def embed_many(self, images: Sequence[np.ndarray | None], boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``embed(images[i], boxes[i])`` for every i: the cameras of one time step, which the pipeline
        embeds in one call.  This default goes image by image; an embedder that subclasses ``Embedder``
        inherits it, and the torch / onnx backends override it with one batched model pass."""
        return [self.embed(image, b) for image, b in zip(images, boxes)]


@runtime_checkable
class Associator(Protocol):
    """Gives every per-camera track one global identity across all cameras."""

    latency: int  # frames between a frame's update and the emission of its (then final) ids

    def wants_embeddings(self, camera: int, tracks: np.ndarray) -> np.ndarray:
        """Boolean mask of this camera's tracks worth embedding now (ReID scheduling)."""
        ...

    def update(self, frame: int, tracks: list[np.ndarray], embeddings: list[np.ndarray | None]) -> list[np.ndarray]:
        """Take this frame's decisions from per-camera tracks (ids local to each camera) and return, per
        camera, the boxes whose global ids became final now: those of frame ``frame - latency`` (empty
        while the latency buffer fills; ``frame`` itself with no latency).  Emitted ids never change.

        ``embeddings[c]`` is None or row-aligned with ``tracks[c]`` (nan rows were not embedded)."""
        ...

    def flush(self) -> list[np.ndarray]:
        """End of the stream: per camera, the boxes still waiting for their ids, now final."""
        ...

    def finalize(self) -> None:
        """End of sequence, offline: take late decisions (offline refinement) for ``relabel``."""
        ...

    def relabel(self, camera: int, boxes: np.ndarray) -> np.ndarray:
        """Final global ids for boxes of ``camera`` carrying tracker (local) ids."""
        ...

    def relocate(self, camera: int, boxes: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """(N, 2) final ground points of boxes of ``camera`` carrying tracker ids, whose final ids
        :meth:`relabel` gave as ``ids`` (offline; the boxes' own ``gx, gy`` where the associator has nothing
        better, e.g. a smoothed multi-view trajectory)."""
        ...
