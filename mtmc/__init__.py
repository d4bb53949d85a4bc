"""mtmc: multi-camera, multi-target person tracking with compact person re-identification."""

import os

# FFmpeg's own log ("moov atom not found") would precede our one-line error on a broken video.  OpenCV
# reads this when it first opens a video, so it is set before anything can.  Set it yourself (e.g. 24)
# to see FFmpeg's messages.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

__version__ = "0.1.0"
