"""Finding and probing media: video files and folders of frame images.

Frames of an image folder are its image files in natural sort order
(``frame2.jpg`` before ``frame10.jpg``); the first file is frame 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2

from mtmc.errors import DataError

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def natural_key(path: Path) -> list:
    """Sort key that orders embedded numbers numerically."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _files(folder: Path, exts: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [
        p for p in folder.iterdir() if p.suffix.lower() in exts and p.is_file() and not p.name.startswith(".")
    ]
    return sorted(found, key=natural_key)


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (natural order); [] if it is not a folder."""
    return _files(folder, IMAGE_EXTS)


def list_videos(folder: Path) -> list[Path]:
    """Video files directly inside ``folder`` (natural order)."""
    return _files(folder, VIDEO_EXTS)


@dataclass(frozen=True)
class VideoInfo:
    fps: float | None
    num_frames: int
    image_size: tuple[int, int]  # (width, height)


def open_capture(path: Path) -> cv2.VideoCapture:
    """An opened cv2.VideoCapture, or DataError naming the file."""
    if path.is_file() and path.stat().st_size == 0:
        raise DataError("empty video file (0 bytes)", path=path)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise DataError("cannot open video (unsupported codec, or the file is corrupt/truncated)", path=path)
    return cap


def probe_video(path: Path) -> VideoInfo:
    """Frame rate, frame count and size from the container; counts frames by grabbing when the
    container does not say.  A video with no decodable frame raises DataError."""
    cap = open_capture(path)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        count = int(round(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if count <= 0:  # streams / some containers do not store a count: count once
            count = 0
            while cap.grab():
                count += 1
        if count <= 0 or width <= 0 or height <= 0:
            raise DataError("video has no decodable frames", path=path)
    finally:
        cap.release()
    return VideoInfo(fps=fps if fps and fps > 0 else None, num_frames=count, image_size=(width, height))


def probe_image(path: Path) -> tuple[int, int]:
    """(width, height) of an image file, or DataError when it cannot be decoded."""
    img = read_image(path)
    return (img.shape[1], img.shape[0])


def read_image(path: Path):
    """BGR uint8 image, or DataError naming the file."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError("cannot decode image (corrupt or unsupported format)", path=path)
    return img
