"""``runtime.executor: local``: every camera's work in this process, one time step after another."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from mtmc.camera_stage import CameraStage
from mtmc.stages import FrameSet


class LocalSteps:
    """Runs ``stage`` (all cameras) over ``frames``, one time step at a time."""

    def __init__(self, stage: CameraStage, frames: Iterable[FrameSet]):
        self.stage, self.frames = stage, frames

    @property
    def seconds(self) -> dict[str, float]:
        return dict(self.stage.seconds)

    @property
    def embedded_crops(self) -> int:
        return self.stage.embedded_crops

    def __iter__(self) -> Iterator[tuple[int, list[np.ndarray]]]:
        for frames in self.frames:
            yield frames.frame, self.stage.track(frames)

    def embed(self, frame: int, wanted: list[np.ndarray | None]) -> list[np.ndarray | None]:
        return self.stage.embed(frame, wanted)

    def stats(self) -> dict:
        return {}

    def __enter__(self) -> LocalSteps:
        return self

    def __exit__(self, *exc) -> None:
        close = getattr(self.frames, "close", None)
        if callable(close):
            close()
