"""Stream a scene as synchronised :class:`~mtmc.stages.FrameSet` objects, one per time step.

Frames are decoded one at a time per camera (cv2.VideoCapture or one image file at a
time), so memory stays flat however long the scene is.  A camera that is shorter
than the scene gives ``None`` after its last frame; a video that stops decoding
before the frame count its container announces raises DataError (truncated file).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mtmc.errors import DataError, MtmcError
from mtmc.io.media import open_capture, read_image
from mtmc.io.scene import CameraSource, Scene
from mtmc.stages import FrameSet


class _VideoStream:
    """Sequential frames of one video file, positioned at ``start``."""

    def __init__(self, cam: CameraSource, start: int):
        self.cam, self.path = cam, Path(cam.media)
        self.cap = open_capture(self.path)
        # grab() instead of seeking: frame-accurate for every codec/container
        for frame in range(1, min(start, cam.num_frames + 1)):
            if not self.cap.grab():
                self._fail(frame)

    def _fail(self, frame: int) -> None:
        raise DataError(
            f"cannot decode frame {frame} of {self.cam.num_frames} (video truncated or corrupt)",
            path=self.path,
        )

    def read(self, frame: int) -> np.ndarray | None:
        if frame > self.cam.num_frames:
            return None
        ok, image = self.cap.read()
        if not ok or image is None:
            self._fail(frame)
        return image

    def close(self) -> None:
        self.cap.release()


class _ImageStream:
    """Frames of an image folder, one file per call."""

    def __init__(self, cam: CameraSource):
        self.cam = cam

    def read(self, frame: int) -> np.ndarray | None:
        if frame > len(self.cam.frames):
            return None
        path = self.cam.frames[frame - 1]
        image = read_image(path)
        size = (image.shape[1], image.shape[0])
        if self.cam.image_size is not None and size != tuple(self.cam.image_size):
            raise DataError(
                f"image is {size[0]}x{size[1]}, expected {self.cam.image_size[0]}x"
                f"{self.cam.image_size[1]} like the rest of camera {self.cam.name}",
                path=path,
            )
        return image

    def close(self) -> None:
        pass


class _NoMedia:
    def read(self, frame: int) -> None:
        return None

    def close(self) -> None:
        pass


class SyncReader:
    """Iterate ``FrameSet`` for frames ``start..end`` (1-based, inclusive; ``end`` defaults to the
    scene length).  ``decode=False`` opens nothing and yields ``images=[None, ...]``.

    Use as ``for fs in SyncReader(scene)`` or ``with SyncReader(scene) as r: for fs in r``;
    captures are released when iteration ends, breaks, or the ``with`` block exits.
    """

    def __init__(self, scene: Scene, decode: bool = True, start: int = 1, end: int | None = None):
        end = scene.num_frames if end is None else end
        if start < 1 or end < start or end > scene.num_frames:
            raise MtmcError(f"frame range {start}..{end} is outside the scene's frames 1..{scene.num_frames}")
        self.scene, self.decode, self.start, self.end = scene, decode, start, end
        self._streams: list = []

    def __len__(self) -> int:
        return max(0, self.end - self.start + 1)

    def _open(self) -> list:
        streams = []
        try:
            for cam in self.scene.cameras:
                if not self.decode or cam.media is None:
                    streams.append(_NoMedia())
                elif cam.frames is not None:
                    streams.append(_ImageStream(cam))
                else:
                    streams.append(_VideoStream(cam, self.start))
        except BaseException:
            for s in streams:
                s.close()
            raise
        return streams

    def __iter__(self) -> Iterator[FrameSet]:
        self.close()
        self._streams = streams = self._open()
        names = self.scene.camera_names
        try:
            for frame in range(self.start, self.end + 1):
                images = [s.read(frame) for s in streams]
                yield FrameSet(
                    frame=frame, time=(frame - 1) / self.scene.fps, cameras=list(names), images=images
                )
        finally:
            for s in streams:
                s.close()

    def close(self) -> None:
        for s in self._streams:
            s.close()
        self._streams = []

    def __enter__(self) -> SyncReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
