"""Data layout and IO: MOTChallenge files, scenes (videos, image folders, multi-camera
folders), a synchronised frame reader and the multi-camera output files."""

from mtmc.io.media import IMAGE_EXTS, VIDEO_EXTS
from mtmc.io.mot import group_by_frame, iter_frames, read_mot, write_mot
from mtmc.io.reader import SyncReader
from mtmc.io.scene import CameraSource, Scene, open_input, read_world_gt
from mtmc.io.seqinfo import SeqInfo, read_seqinfo
from mtmc.io.writers import read_global, write_global, write_summary

__all__ = [
    "IMAGE_EXTS",
    "VIDEO_EXTS",
    "CameraSource",
    "Scene",
    "SeqInfo",
    "SyncReader",
    "group_by_frame",
    "iter_frames",
    "open_input",
    "read_global",
    "read_mot",
    "read_seqinfo",
    "read_world_gt",
    "write_global",
    "write_mot",
    "write_summary",
]
