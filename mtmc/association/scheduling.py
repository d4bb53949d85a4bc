"""ReID scheduling: embed only the crops the association can use (new or unresolved tracklets, a
periodic gallery refresh) and only clean ones (tall enough, inside the image, not overlapped)."""

from __future__ import annotations

import numpy as np

from mtmc.association.identities import IdentityStore, Tracklet
from mtmc.association.params import SchedulingParams, frames_for
from mtmc.boxes import xyxy
from trackers.matching import iou_matrix


class CropScheduler:
    """Decides which tracks to embed; remembers when each tracklet was last embedded."""

    def __init__(self, params: SchedulingParams, fps: float, image_sizes: list | None, has_reid: bool):
        self.p = params
        self.refresh = frames_for(params.refresh_seconds, fps)
        self.image_sizes = image_sizes
        self.has_reid = has_reid
        self.last_embedded: dict[tuple[int, int], int] = {}  # tracklet key -> frame of its last crop

    def embedded(self, key: tuple[int, int], frame: int) -> None:
        self.last_embedded[key] = frame

    def wants(self, camera: int, tracks: np.ndarray, tracklets: dict[tuple[int, int], Tracklet],
              store: IdentityStore) -> np.ndarray:
        """Mask of this camera's tracks to embed now: new/unresolved ones and due refreshes, clean crops only."""
        if not self.has_reid or len(tracks) == 0:
            return np.zeros(len(tracks), dtype=bool)
        need = np.zeros(len(tracks), dtype=bool)
        for i, lid in enumerate(tracks["id"]):
            key = (camera, int(lid))
            tr = tracklets.get(key)
            if tr is None or not store.get(tr.identity).resolved:
                need[i] = True
            else:
                need[i] = int(tracks["frame"][i]) - self.last_embedded.get(key, -(10**9)) >= self.refresh
        return need & self.clean(camera, tracks)

    def clean(self, camera: int, tracks: np.ndarray) -> np.ndarray:
        """Tall enough, inside the image, not overlapped by another person."""
        ok = tracks["h"] >= self.p.min_crop_height
        boxes = xyxy(tracks)
        if self.image_sizes is not None:
            w, h = self.image_sizes[camera]
            m = self.p.border_margin
            ok &= (boxes[:, 0] >= m) & (boxes[:, 1] >= m) & (boxes[:, 2] <= w - m) & (boxes[:, 3] <= h - m)
        if len(tracks) > 1:
            iou = iou_matrix(boxes, boxes)
            np.fill_diagonal(iou, 0.0)
            ok &= iou.max(axis=1) <= self.p.max_crop_overlap
        return ok
