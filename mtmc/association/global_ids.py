"""The ``global`` association: one identity per person across cameras and across re-entries.

Per time step, online, stage by stage (each stage is a module that owns its state):

1. **Fusion** (:mod:`.fusion`) — a new tracklet is watched for a short window and joins the identity
   another camera sees where it stands.
2. **Consistency** (:mod:`.consistency`) — a tracklet that drifts away from its identity, or whose crops
   stop looking like it, is detached (a per-camera tracker id switch).
3. **Entries** (:mod:`.entries`) — a tracklet nobody explains is compared with the people *not* in the
   scene: a returning person takes the old id back, otherwise the person is new.
4. **Scheduling** (:mod:`.scheduling`) — which crops are worth embedding.
5. **Refinement** — re-entry decisions taken again on whole visits: within the latency window
   (:mod:`.window`, streaming) or at the end of the sequence (:mod:`.refine`, offline).

Output (:mod:`.stream`): the ids of frame t leave at t + ``latency_seconds`` and never change.
"""

from __future__ import annotations

import numpy as np

from mtmc.association import ASSOCIATORS
from mtmc.association.consistency import ConsistencyRules
from mtmc.association.entries import EntryDecisions
from mtmc.association.fusion import CrossCameraFusion, Seen, identity_positions
from mtmc.association.identities import IdentityStore, SceneCentering, Tracklet
from mtmc.association.params import GlobalParams
from mtmc.association.refine import recluster
from mtmc.association.scheduling import CropScheduler
from mtmc.association.stream import FRESH_ID_BASE, IdStream
from mtmc.association.window import WindowRefiner
from mtmc.boxes import make_boxes, own_ground_points


@ASSOCIATORS.register("global", params=GlobalParams)
class GlobalAssociator:
    """Online global identities from per-camera tracklets, ground positions and embeddings."""

    def __init__(self, params: GlobalParams, scene=None, has_reid: bool = True):
        self.p = params
        self.has_reid = has_reid
        self.fps = fps = float(getattr(scene, "fps", 0) or 15.0)
        self.n_cameras = len(scene.cameras) if scene is not None else 0
        image_sizes = [c.image_size for c in scene.cameras] if scene is not None else None
        overlap = int(round(params.consistency.swap_overlap_seconds * fps))
        self.store = IdentityStore(params.appearance.gallery_size, overlap_frames=overlap)
        self.centering = SceneCentering(params.appearance.center_embeddings)
        self.tracklets: dict[tuple[int, int], Tracklet] = {}
        self.scheduler = CropScheduler(params.scheduling, fps, image_sizes, has_reid)
        self.fusion = CrossCameraFusion(params, fps, self.store, self.centering)
        self.consistency = ConsistencyRules(params.consistency, fps, params.entry.min_embeddings, self.store,
                                            self.centering)
        self.entries = EntryDecisions(params, fps, self.store, self.centering, has_reid)
        self.latency = int(round(params.latency_seconds * fps))
        self.stream = IdStream(self.latency)
        self.window = None
        if self.latency > 0 and params.refine.window and has_reid:
            self.window = WindowRefiner(params.refine, fps, self.latency, self.store, self.centering)
        self.frame = 0

    def wants_embeddings(self, camera: int, tracks: np.ndarray) -> np.ndarray:
        """Which of this camera's tracks to embed now (see :mod:`.scheduling`)."""
        return self.scheduler.wants(camera, tracks, self.tracklets, self.store)

    # -- online update -----------------------------------------------------------------------------

    def update(self, frame: int, tracks: list[np.ndarray], embeddings: list) -> list[np.ndarray]:
        """Take this frame's decisions; return the boxes whose ids became final now (frame - latency)."""
        self.frame = frame
        self.n_cameras = max(self.n_cameras, len(tracks))
        seen, fresh = self._observe_tracklets(frame, tracks, embeddings)
        for tr in fresh:
            self._open_provisional(tr)
        watching = self.fusion.is_open
        detached = (self.consistency.detach_inconsistent(seen, frame, watching)
                    + self.consistency.detach_switched(seen, frame, watching))
        for tr, since in detached:
            self._open_provisional(tr, since)
        self.fusion.accumulate(seen)
        self._update_identities(seen)
        self.fusion.fuse(frame, self.tracklets)
        self.entries.decide(frame, self.fusion.waiting_identities(self.tracklets))
        if self.window is not None:
            self.window.maybe_refresh(frame, self.tracklets.values(), self.stream.last_label)
        self.stream.push(frame, tracks)
        return self._emit(self.stream.due(frame))

    def flush(self) -> list[np.ndarray]:
        """End of the stream: the boxes still waiting in the latency buffer, with their final ids."""
        return self._emit(self.stream.due(None))

    def _observe_tracklets(self, frame: int, tracks: list[np.ndarray], embeddings: list):
        seen: Seen = []
        fresh: list[Tracklet] = []
        for cam, boxes in enumerate(tracks):
            embs = embeddings[cam] if embeddings is not None and cam < len(embeddings) else None
            for i in range(len(boxes)):
                key = (cam, int(boxes["id"][i]))
                tr = self.tracklets.get(key)
                if tr is None:
                    tr = self.tracklets[key] = Tracklet(cam, key[1], frame, frame)
                    fresh.append(tr)
                tr.last_frame = frame
                tr.position = np.array([boxes["gx"][i], boxes["gy"][i]], dtype=np.float64)
                emb = None
                if embs is not None and np.all(np.isfinite(embs[i])):
                    emb = np.array(embs[i], dtype=np.float32)  # a copy: a view would keep the whole frame matrix
                    self.centering.observe(emb)
                    self.scheduler.embedded(key, frame)
                seen.append((tr, emb))
        return seen, fresh

    def _open_provisional(self, tr: Tracklet, since: int | None = None) -> None:
        """Give a tracklet that nobody explains yet its own identity and start its fusion window.

        ``since`` (a split): the first frame that already showed somebody else.  Those frames move to
        the new segment, and the old identity no longer counts as seen in this camera then, so the
        person it really was (often the other half of an id swap) can still join it.
        """
        ident = self.store.new(self.frame)
        ident.entry_position = tr.position.copy()
        start = self.frame
        if tr.segments and since is not None:
            start = max(min(start, since), tr.segments[-1][0] + 1)
            self.store.get(tr.identity).truncate(tr.camera, start)
        tr.segments.append((start, ident.id))
        self.consistency.restart(tr)
        self.fusion.open(tr, self.frame)

    def _update_identities(self, seen: Seen) -> None:
        """Where each identity is, when it was seen, and its gallery of clean, undoubted crops."""
        positions = identity_positions(self.store, seen)
        for tr, emb in seen:
            ident = self.store.get(tr.identity)  # the merged person
            own = self.store.identities[tr.identity]  # this segment's own identity (offline re-clustering)
            ident.last_frame = own.own_last_frame = self.frame
            ident.add_interval(tr.camera, tr.segments[-1][0], self.frame)
            if ident.id in positions:
                ident.position = positions[ident.id]
            if emb is not None and not self.consistency.doubtful(tr):  # a doubtful crop stays out
                ident.gallery.append(emb)
                own.samples.add(emb)

    # -- output ------------------------------------------------------------------------------------

    def _label(self, identity: int) -> int:
        if self.window is not None:
            return self.window.label(identity)
        return self.store.find(identity)

    def _emit(self, due: list[tuple[int, list[np.ndarray]]]) -> list[np.ndarray]:
        parts: list[list[np.ndarray]] = [[] for _ in range(self.n_cameras)]
        for frame, tracks in due:
            emitted = self.stream.emit(frame, tracks, self.tracklets, self._label, unique=self.latency > 0)
            for cam, boxes in enumerate(emitted):
                parts[cam].append(boxes)
        return [np.concatenate(p) if p else make_boxes(0) for p in parts]

    # -- end of sequence ---------------------------------------------------------------------------

    def finalize(self) -> None:
        """Offline refinement: take the re-entry decisions again with whole visits (see ``refine``)."""
        r = self.p.refine
        if r.offline and self.has_reid:
            self.store.set_partition(recluster(self.store, self.tracklets.values(), r.threshold,
                                               self.store.overlap_frames, transform=self.centering.apply,
                                               max_overlap=r.max_overlap))

    def relocate(self, camera: int, boxes: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """The boxes' own ground points (the fusion already placed them online)."""
        return own_ground_points(boxes)

    def relabel(self, camera: int, boxes: np.ndarray) -> np.ndarray:
        """Final global ids for a camera's boxes that carry tracker (local) ids (a whole, offline run).

        After the offline refinement an id is never on two boxes of one frame: it may join two visits
        whose ends overlap in a camera (``refine.max_overlap``); there the segment that started first
        keeps the id and the other's overlapping boxes get an id of their own.
        """
        out = np.empty(len(boxes), dtype=np.int64)
        segment_start = np.zeros(len(boxes), dtype=np.int64)
        segment_ident = np.zeros(len(boxes), dtype=np.int64)
        for i, (lid, frame) in enumerate(zip(boxes["id"], boxes["frame"])):
            tr = self.tracklets.get((camera, int(lid)))
            if tr is None or not tr.segments:
                out[i] = -1
                continue
            segment_start[i], segment_ident[i] = tr.segment_at(int(frame))
            out[i] = self.store.find(int(segment_ident[i]))
        if not (self.p.refine.offline and self.has_reid):
            return out
        holders: dict[tuple[int, int], int] = {}
        for i in np.argsort(segment_start, kind="stable"):  # the segment that started first keeps the id
            if out[i] < 0:
                continue
            key = (int(boxes["frame"][i]), int(out[i]))
            if key in holders:
                out[i] = FRESH_ID_BASE + int(segment_ident[i])
            else:
                holders[key] = i
        return out
