"""Where the per-camera work of a run happens: ``runtime.executor`` = ``local`` or ``ray``.

Per-camera work (decode, detect, track, embed) is independent across cameras; only the
global association needs them all, so it stays in the driver (:class:`mtmc.pipeline.Pipeline`).
An executor hands the driver a :class:`StepSource`: each time step's per-camera tracks, in
scene camera order, and an ``embed(frame, wanted)`` call that runs the ReID the associator
schedules for that step on the cameras' own workers.  Both executors run the same
:class:`mtmc.camera_stage.CameraStage` code on the same inputs, so their outputs are identical.

* :mod:`mtmc.runtime.local` — everything in this process (the default).
* :mod:`mtmc.runtime.ray_executor` — cameras split into groups, one Ray actor per group,
  a bounded number of time steps in flight per worker (backpressure).
* :mod:`mtmc.runtime.batch` — ``mtmc track FOLDER --batch``: one job per scene or video.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

import numpy as np

from mtmc.errors import ConfigError
from mtmc.stages import FrameSet


class StepSource(Protocol):
    """Per-camera tracks of each time step, and ReID on request; a context manager."""

    @property
    def seconds(self) -> dict[str, float]:
        """Time spent per per-camera stage (detect, track, reid), summed over workers."""
        ...

    @property
    def embedded_crops(self) -> int: ...

    def __iter__(self) -> Iterator[tuple[int, list[np.ndarray]]]:
        """``(frame, tracks)`` per time step; ``tracks[c]`` has tracker-local ids."""
        ...

    def embed(self, frame: int, wanted: list[np.ndarray | None]) -> list[np.ndarray | None]:
        """Embeddings of the ``wanted`` tracks of ``frame`` per camera (call once per step)."""
        ...

    def stats(self) -> dict:
        """What the summary reports about the executor (empty for the local one)."""
        ...

    def __enter__(self) -> StepSource: ...

    def __exit__(self, *exc) -> None: ...


def open_steps(pipeline, frames: Iterable[FrameSet] | None = None) -> StepSource:
    """The step source ``pipeline.cfg.runtime`` asks for (``frames``: explicit input, local only)."""
    runtime = pipeline.cfg.runtime
    if runtime.executor == "ray":
        if frames is not None:
            raise ConfigError("runtime.executor=ray: workers read the scene themselves; frames= needs executor=local")
        from mtmc.runtime.ray_executor import RaySteps

        return RaySteps(pipeline)
    from mtmc.runtime.local import LocalSteps

    if frames is None:
        from mtmc.io.reader import SyncReader

        frames = SyncReader(pipeline.scene, decode=pipeline.needs_pixels)
    return LocalSteps(pipeline.stage, frames)
