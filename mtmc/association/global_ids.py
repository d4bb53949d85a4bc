"""The ``global`` association: one identity per person across cameras and across re-entries.

Per time step, online:

1. **Cross-camera fusion** — a new tracklet that stands where an identity is seen
   by another camera (ground-plane distance under ``match_distance``, appearance as
   a tie-breaker) joins that identity; one that appears where an identity was lost
   a moment ago (``reconnect_seconds``) continues it.
2. **Consistency** — a tracklet that drifts away from where the other cameras see
   its identity for ``split_seconds`` is detached (a per-camera id switch).
3. **ReID on entry** — a tracklet that nobody in the scene explains opens a
   provisional identity that collects embeddings; after ``reid_min_embeddings``
   (or ``decision_seconds``) they are compared with the galleries of identities
   that are *not* in the scene.  The best match above ``reid_threshold`` takes the
   old id back; otherwise the person is new (the Compact-ReID LAB protocol).
4. **ReID scheduling** — :meth:`wants_embeddings` asks for crops only of new or
   unresolved tracklets and for a periodic gallery refresh, and only when the crop
   is clean (tall enough, inside the image, not overlapped by another person).

With ``offline_refine`` the identities are clustered again at the end of the
sequence: identities that never co-exist and look alike are merged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from mtmc.association import ASSOCIATORS
from mtmc.association.identities import IdentityStore, Tracklet, gallery_similarity
from mtmc.boxes import xyxy

_INF = 1e6


@dataclass
class GlobalParams:
    match_distance: float = 1.0  # m: the same person seen by two cameras at the same time
    appearance_weight: float = 1.0  # m of cost per unit of cosine distance (tie-breaker)
    reconnect_seconds: float = 3.0  # a lost identity can be continued by a new tracklet nearby...
    reconnect_distance: float = 0.8  # ...within this distance (m) plus max_speed * gap
    max_speed: float = 1.5  # m/s, walking
    absent_seconds: float = 1.0  # unseen this long: the person left; their gallery is searched on entries
    reid_threshold: float = 0.5  # cosine similarity to take an old identity back
    reid_min_embeddings: int = 4
    decision_seconds: float = 1.5  # decide an entry after this long even with few embeddings
    gallery_size: int = 40
    refresh_seconds: float = 0.5  # re-embed a known tracklet this often (gallery refresh)
    min_crop_height: float = 40.0  # px
    max_crop_overlap: float = 0.2  # max IoU with another person for a clean crop
    border_margin: float = 2.0  # px: crops cut by the image border are not clean
    split_distance: float = 1.5  # m
    split_seconds: float = 0.6
    offline_refine: bool = False
    refine_threshold: float = 0.6


@ASSOCIATORS.register("global", params=GlobalParams)
class GlobalAssociator:
    """Online global identities from per-camera tracklets, ground positions and embeddings."""

    def __init__(self, params: GlobalParams, scene=None, has_reid: bool = True):
        self.p = params
        self.has_reid = has_reid
        fps = float(getattr(scene, "fps", 0) or 15.0)
        self.fps = fps
        self.image_sizes = [c.image_size for c in scene.cameras] if scene is not None else None
        self.store = IdentityStore(params.gallery_size)
        self.tracklets: dict[tuple[int, int], Tracklet] = {}
        self.frame = 0

    def _frames(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.fps)))

    # -- ReID scheduling ---------------------------------------------------------------------------

    def wants_embeddings(self, camera: int, tracks: np.ndarray) -> np.ndarray:
        """Which of this camera's tracks to embed now: new/unresolved ones and refreshes, clean crops only."""
        if not self.has_reid or len(tracks) == 0:
            return np.zeros(len(tracks), dtype=bool)
        need = np.zeros(len(tracks), dtype=bool)
        refresh = self._frames(self.p.refresh_seconds)
        for i, lid in enumerate(tracks["id"]):
            tr = self.tracklets.get((camera, int(lid)))
            if tr is None or not tr.segments or not self.store.get(tr.identity).resolved:
                need[i] = True
            else:
                need[i] = int(tracks["frame"][i]) - tr.last_embedding_frame >= refresh
        return need & self.clean_crops(camera, tracks)

    def clean_crops(self, camera: int, tracks: np.ndarray) -> np.ndarray:
        """Tall enough, inside the image, not overlapped by another person."""
        ok = tracks["h"] >= self.p.min_crop_height
        boxes = xyxy(tracks)
        if self.image_sizes is not None:
            w, h = self.image_sizes[camera]
            m = self.p.border_margin
            ok &= (boxes[:, 0] >= m) & (boxes[:, 1] >= m) & (boxes[:, 2] <= w - m) & (boxes[:, 3] <= h - m)
        if len(tracks) > 1:
            ix1 = np.maximum(boxes[:, None, 0], boxes[None, :, 0])
            iy1 = np.maximum(boxes[:, None, 1], boxes[None, :, 1])
            ix2 = np.minimum(boxes[:, None, 2], boxes[None, :, 2])
            iy2 = np.minimum(boxes[:, None, 3], boxes[None, :, 3])
            inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            iou = inter / np.maximum(area[:, None] + area[None, :] - inter, 1e-9)
            np.fill_diagonal(iou, 0.0)
            ok &= iou.max(axis=1) <= self.p.max_crop_overlap
        return ok

    # -- online update -----------------------------------------------------------------------------

    def update(self, frame: int, tracks: list[np.ndarray], embeddings: list) -> list[np.ndarray]:
        self.frame = frame
        seen: list[tuple[Tracklet, np.ndarray | None]] = []
        unassigned: list[Tracklet] = []
        for cam, boxes in enumerate(tracks):
            embs = embeddings[cam] if embeddings is not None and cam < len(embeddings) else None
            for i in range(len(boxes)):
                key = (cam, int(boxes["id"][i]))
                tr = self.tracklets.get(key)
                if tr is None:
                    tr = self.tracklets[key] = Tracklet(cam, key[1], frame, frame)
                    unassigned.append(tr)
                tr.last_frame = frame
                tr.position = np.array([boxes["gx"][i], boxes["gy"][i]], dtype=np.float64)
                emb = None
                if embs is not None and np.all(np.isfinite(embs[i])):
                    emb = np.asarray(embs[i], dtype=np.float32)
                    tr.last_embedding_frame = frame
                seen.append((tr, emb))

        unassigned += self._detach_inconsistent(seen, unassigned)
        self._assign(unassigned, seen)
        self._observe(seen)
        self._decide_entries()
        return [self._current_ids(cam, boxes) for cam, boxes in enumerate(tracks)]

    def _identity_positions(self, seen, exclude_camera: int | None = None) -> dict[int, np.ndarray]:
        """Mean ground position of each identity over this frame's assigned tracklets."""
        acc: dict[int, list[np.ndarray]] = {}
        for tr, _ in seen:
            if tr.segments and tr.camera != exclude_camera and np.all(np.isfinite(tr.position)):
                acc.setdefault(self.store.find(tr.identity), []).append(tr.position)
        return {k: np.mean(v, axis=0) for k, v in acc.items()}

    def _detach_inconsistent(self, seen, fresh: list[Tracklet]) -> list[Tracklet]:
        """Detach tracklets that stay far from where the other cameras see their identity."""
        limit = self._frames(self.p.split_seconds)
        by_identity: dict[int, list[Tracklet]] = {}
        for tr, _ in seen:
            if tr.segments and tr not in fresh and np.all(np.isfinite(tr.position)):
                by_identity.setdefault(self.store.find(tr.identity), []).append(tr)
        detached = []
        for members in by_identity.values():
            if len(members) < 2:
                for tr in members:
                    tr.far_frames = 0
                continue
            for tr in members:
                others = [o.position for o in members if o.camera != tr.camera]
                far = bool(others) and np.linalg.norm(tr.position - np.median(others, axis=0)) > self.p.split_distance
                tr.far_frames = tr.far_frames + 1 if far else 0
            drifting = [tr for tr in members if tr.far_frames >= limit]
            if drifting:
                # the tracklet whose current segment started last is the one that switched
                youngest = max(drifting, key=lambda t: t.segments[-1][0])
                youngest.far_frames = 0
                detached.append(youngest)
        return detached

    def _assign(self, unassigned: list[Tracklet], seen) -> None:
        """Join new tracklets to identities present in other cameras or just lost; else open new ones.

        Camera by camera, so that people entering several views in the same frame meet the identities
        that the previous cameras just opened.
        """
        for cam in sorted({tr.camera for tr in unassigned}):
            self._assign_camera([tr for tr in unassigned if tr.camera == cam], seen)

    def _assign_camera(self, unassigned: list[Tracklet], seen) -> None:
        frame = self.frame
        emb_of = {id(tr): e for tr, e in seen}
        roots = self.store.roots()
        reconnect = self._frames(self.p.reconnect_seconds)
        candidates = [r for r in roots if r.last_frame >= frame - reconnect]
        cost = np.full((len(unassigned), len(candidates)), _INF)
        present = self._identity_positions(seen)
        cameras = {tr.camera for tr in unassigned}
        seen_elsewhere = {cam: self._identity_positions(seen, exclude_camera=cam) for cam in cameras}
        for j, ident in enumerate(candidates):
            for i, tr in enumerate(unassigned):
                if not np.all(np.isfinite(tr.position)):
                    continue
                if not self._free_in_camera(ident.id, tr, seen):
                    continue  # one identity never holds two tracklets of one camera at once
                if ident.id in present:
                    others = seen_elsewhere[tr.camera].get(ident.id)
                    if others is None:
                        continue
                    dist, gate = np.linalg.norm(tr.position - others), self.p.match_distance
                else:
                    if not np.all(np.isfinite(ident.position)):
                        continue
                    gap = (frame - ident.last_frame) / self.fps
                    dist = np.linalg.norm(tr.position - ident.position)
                    gate = self.p.reconnect_distance + self.p.max_speed * gap
                if dist > gate:
                    continue
                c = dist
                emb = emb_of.get(id(tr))
                if emb is not None and len(ident.gallery):
                    sim = gallery_similarity(emb[None], np.asarray(ident.gallery))
                    if ident.id not in present and sim < self.p.reid_threshold - 0.2:
                        continue  # a different-looking person at the door is not a reconnection
                    c += self.p.appearance_weight * (1.0 - sim)
                cost[i, j] = c
        matched = set()
        if candidates:
            rows, cols = linear_sum_assignment(cost)
            for i, j in zip(rows, cols):
                if cost[i, j] < _INF:
                    self._link(unassigned[i], candidates[j].id)
                    matched.add(i)
        for i, tr in enumerate(unassigned):
            if i not in matched:
                ident = self.store.new(frame)
                ident.resolved = not self.has_reid  # without ReID every entry is a new person
                self._link(tr, ident.id)

    def _free_in_camera(self, identity_id: int, tr: Tracklet, seen) -> bool:
        root = self.store.find(identity_id)
        return not any(
            o is not tr and o.segments and o.camera == tr.camera and self.store.find(o.identity) == root
            for o, _ in seen
        )

    def _link(self, tr: Tracklet, identity_id: int) -> None:
        tr.segments.append((self.frame, self.store.find(identity_id)))
        tr.far_frames = 0

    def _observe(self, seen) -> None:
        positions = self._identity_positions(seen)
        for tr, emb in seen:
            ident = self.store.get(tr.identity)
            ident.last_frame = self.frame
            ident.add_interval(tr.camera, tr.segments[-1][0], self.frame)
            if ident.id in positions:
                ident.position = positions[ident.id]
            if emb is not None:
                ident.gallery.append(emb)

    def _decide_entries(self) -> None:
        """Resolve provisional identities: a returning person (ReID match) or a new one."""
        frame = self.frame
        absent = self._frames(self.p.absent_seconds)
        deadline = self._frames(self.p.decision_seconds)
        roots = self.store.roots()
        for ident in roots:
            if ident.resolved:
                continue
            age = frame - ident.first_frame
            if len(ident.gallery) < self.p.reid_min_embeddings and age < deadline:
                continue
            if not ident.gallery and age < 3 * deadline:
                continue  # no clean crop yet: wait a little longer
            query = np.asarray(ident.gallery)
            best, best_sim = None, self.p.reid_threshold
            for cand in roots:
                if cand is ident or not cand.resolved or cand.last_frame >= frame - absent or not cand.gallery:
                    continue
                if cand.last_frame >= ident.first_frame or not self.store.can_merge(cand.id, ident.id):
                    continue
                sim = gallery_similarity(query, np.asarray(cand.gallery))
                if sim > best_sim:
                    best, best_sim = cand, sim
            if best is not None:
                self.store.merge(best.id, ident.id).resolved = True
            else:
                ident.resolved = True

    def _current_ids(self, camera: int, boxes: np.ndarray) -> np.ndarray:
        out = boxes.copy()
        out["id"] = [self.store.find(self.tracklets[(camera, int(i))].identity) for i in boxes["id"]]
        return out

    # -- end of sequence ---------------------------------------------------------------------------

    def finalize(self) -> None:
        """Offline refinement: merge identities that never co-exist and look alike."""
        if not self.p.offline_refine:
            return None
        while True:
            roots = [r for r in self.store.roots() if r.gallery]
            best = None
            for a_i, a in enumerate(roots):
                for b in roots[a_i + 1 :]:
                    if not (a.last_frame < b.first_frame or b.last_frame < a.first_frame):
                        continue  # present at the same time: two people
                    if not self.store.can_merge(a.id, b.id):
                        continue
                    ga, gb = np.asarray(a.gallery), np.asarray(b.gallery)
                    sim = 0.5 * (gallery_similarity(ga, gb) + gallery_similarity(gb, ga))
                    if sim > self.p.refine_threshold and (best is None or sim > best[0]):
                        best = (sim, a.id, b.id)
            if best is None:
                return None
            self.store.merge(best[1], best[2])

    def relabel(self, camera: int, boxes: np.ndarray) -> np.ndarray:
        """Final global ids for a camera's boxes that carry tracker (local) ids."""
        out = np.empty(len(boxes), dtype=np.int64)
        for i, (lid, frame) in enumerate(zip(boxes["id"], boxes["frame"])):
            tr = self.tracklets.get((camera, int(lid)))
            if tr is None or not tr.segments:
                out[i] = -1
                continue
            identity = tr.segments[0][1]
            for start, ident in tr.segments:
                if start <= frame:
                    identity = ident
            out[i] = self.store.find(identity)
        return out
