"""Streaming output: the ids of frame t are emitted at frame t + latency and never change afterwards.

The association keeps deciding online; a frame's boxes wait ``latency`` frames in a buffer, so the
decisions (and revisions) taken meanwhile are in their ids when they leave it.  What leaves is final:
the files of a streaming run are what a live user would have got.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from mtmc.association.identities import Tracklet

FRESH_ID_BASE = 10_000_000  # ids for a segment displaced from an id another box of its frame holds


class IdStream:
    """Buffers each frame's tracks (tracker ids) and emits them with global ids ``latency`` frames late."""

    def __init__(self, latency_frames: int):
        self.latency = latency_frames
        self.pending: deque[tuple[int, list[np.ndarray]]] = deque()
        self.last_label: dict[int, int] = {}  # segment identity -> the global id it was last emitted with

    def push(self, frame: int, tracks: list[np.ndarray]) -> None:
        self.pending.append((frame, [boxes.copy() for boxes in tracks]))

    def due(self, frame: int) -> list[tuple[int, list[np.ndarray]]]:
        """The buffered frames whose ids are final now (all of them once the sequence ended: ``frame=None``)."""
        out = []
        while self.pending and (frame is None or self.pending[0][0] <= frame - self.latency):
            out.append(self.pending.popleft())
        return out

    def emit(self, frame: int, tracks: list[np.ndarray], tracklets: dict[tuple[int, int], Tracklet],
             label: Callable[[int], int], unique: bool) -> list[np.ndarray]:
        """``tracks`` of ``frame`` with the global id ``label(segment identity)`` of each box.

        ``unique``: one camera never shows one id on two boxes of a frame (a revision may join two
        visits whose ends overlap): the segment that started first keeps it, the other gets its own.
        """
        out = []
        for cam, boxes in enumerate(tracks):
            boxes = boxes.copy()
            starts = np.zeros(len(boxes), dtype=np.int64)
            segment = np.zeros(len(boxes), dtype=np.int64)
            for i, lid in enumerate(boxes["id"]):
                tr = tracklets[(cam, int(lid))]
                starts[i], segment[i] = tr.segment_at(frame)
            ids = np.array([label(int(s)) for s in segment], dtype=np.int64)
            if unique and len(ids) > 1:
                holders: set[int] = set()
                for i in np.argsort(starts, kind="stable"):
                    if int(ids[i]) in holders:
                        ids[i] = FRESH_ID_BASE + segment[i]
                    holders.add(int(ids[i]))
            for s, gid in zip(segment, ids):
                self.last_label[int(s)] = int(gid)
            boxes["id"] = ids
            out.append(boxes)
        return out
