"""Stream a scene as synchronised :class:`~mtmc.stages.FrameSet` objects, one per time step.

Frames are decoded one at a time per camera (cv2.VideoCapture or one image file at a time), in a
background thread that runs a couple of time steps ahead of the consumer, so memory stays flat
however long the scene is.  A camera that is shorter than the scene gives ``None`` after its last
frame; a video that stops decoding before the frame count its container announces raises DataError
(truncated file).
"""

from __future__ import annotations

import queue
import threading
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


class _Failure:
    """An exception of the decoding thread, carried to the consumer through the queue."""

    def __init__(self, error: BaseException):
        self.error = error


_END = object()  # the decoding thread's last item
_PUT_POLL_S = 0.1  # how often a producer blocked on a full queue checks whether it should stop


class SyncReader:
    """Iterate ``FrameSet`` for frames ``start..end`` (1-based, inclusive; ``end`` defaults to the
    scene length).  ``decode=False`` opens nothing and yields ``images=[None, ...]``.

    With ``prefetch > 0`` a background thread decodes up to ``prefetch`` time steps ahead (OpenCV
    decodes without holding the GIL, so decoding overlaps detection); an error there is raised in the
    iterating thread as the same exception.  ``prefetch=0`` decodes in the caller's thread.

    Use as ``for fs in SyncReader(scene)`` or ``with SyncReader(scene) as r: for fs in r``;
    captures are released (and the thread stopped) when iteration ends, breaks, or the ``with`` block exits.
    """

    def __init__(self, scene: Scene, decode: bool = True, start: int = 1, end: int | None = None,
                 prefetch: int = 2):
        end = scene.num_frames if end is None else end
        if start < 1 or end < start or end > scene.num_frames:
            raise MtmcError(f"frame range {start}..{end} is outside the scene's frames 1..{scene.num_frames}")
        if prefetch < 0:
            raise MtmcError(f"prefetch: expected 0 or more time steps, got {prefetch}")
        self.scene, self.decode, self.start, self.end, self.prefetch = scene, decode, start, end, prefetch
        self._streams: list = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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

    def _read(self, streams: list, frame: int) -> FrameSet:
        images = [s.read(frame) for s in streams]
        return FrameSet(frame=frame, time=(frame - 1) / self.scene.fps, cameras=list(self.scene.camera_names),
                        images=images)

    def __iter__(self) -> Iterator[FrameSet]:
        self.close()
        self._streams = streams = self._open()
        background = self.prefetch > 0 and not all(isinstance(s, _NoMedia) for s in streams)
        try:
            if background:
                yield from self._from_thread(streams)
            else:
                for frame in range(self.start, self.end + 1):
                    yield self._read(streams, frame)
        finally:
            self.close()

    def _from_thread(self, streams: list) -> Iterator[FrameSet]:
        items: queue.Queue = queue.Queue(maxsize=self.prefetch)
        self._stop = stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(streams, items, stop), daemon=True,
                                        name="mtmc-decode")
        self._thread.start()
        while True:
            item = items.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def _produce(self, streams: list, items: queue.Queue, stop: threading.Event) -> None:
        """The decoding thread: time steps into ``items`` until the end, an error, or ``stop``."""

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    items.put(item, timeout=_PUT_POLL_S)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            for frame in range(self.start, self.end + 1):
                if stop.is_set() or not put(self._read(streams, frame)):
                    return
            put(_END)
        except BaseException as err:  # re-raised by the consumer, in its thread
            put(_Failure(err))

    def close(self) -> None:
        """Stop the decoding thread (if any) and release the captures."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        for s in self._streams:
            s.close()
        self._streams = []

    def __enter__(self) -> SyncReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
