"""The ``global`` association: one identity per person across cameras and across re-entries.

Per time step, online:

1. **Cross-camera fusion** — a new tracklet is watched for ``fusion_seconds``; if
   over that time it stood where another camera sees an identity (mean ground-plane
   distance under ``match_distance``; appearance as a veto and tie-breaker), it
   joins that identity.
2. **Consistency** — a tracklet that drifts away from where the other cameras see
   its identity for ``split_seconds`` is detached (a per-camera id switch).
3. **ReID on entry** — a tracklet that nobody in the scene explains opens a
   provisional identity that collects embeddings; after ``reid_min_embeddings``
   (or ``decision_seconds``) they are compared with the galleries of identities
   that are *not* in the scene.  The best match above ``reid_threshold`` takes the
   old id back; otherwise the person is new (the Compact-ReID LAB protocol).  A
   candidate lost a moment ago close by needs less similarity (a continuation of a
   track broken by occlusion); without ReID only such continuations are made.
4. **ReID scheduling** — :meth:`wants_embeddings` asks for crops only of new or
   unresolved tracklets and for a periodic gallery refresh, and only when the crop
   is clean (tall enough, inside the image, not overlapped by another person).

With ``offline_refine`` the re-entry decisions are taken again at the end of the
sequence, comparing whole visits (:mod:`mtmc.association.refine`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtmc.association import ASSOCIATORS
from mtmc.association.identities import IdentityStore, SceneCentering, Tracklet
from mtmc.association.refine import recluster
from mtmc.boxes import xyxy
from trackers.matching import iou_matrix


@dataclass
class GlobalParams:
    match_distance: float = 0.8  # m: mean distance of the same person seen by two cameras at once
    fusion_seconds: float = 0.5  # how long a new tracklet is watched before it joins another camera's person
    fusion_min_similarity: float = 0.3  # appearance veto on cross-camera fusion (when embeddings exist)
    appearance_weight: float = 1.0  # m of cost per unit of cosine distance (tie-breaker)
    reconnect_seconds: float = 2.0  # a lost identity can be continued by a new tracklet nearby...
    reconnect_distance: float = 0.5  # ...within this distance (m) plus max_speed * gap
    max_speed: float = 1.0  # m/s
    reid_threshold: float = 0.5  # cosine similarity to take an old identity back
    continuation_bonus: float = 0.15  # similarity credit for a nearby, recently lost candidate
    reid_min_embeddings: int = 4
    decision_seconds: float = 1.5  # decide an entry after this long even with few embeddings
    gallery_size: int = 40
    refresh_seconds: float = 0.5  # re-embed a known tracklet this often (gallery refresh)
    min_crop_height: float = 40.0  # px
    max_crop_overlap: float = 0.2  # max IoU with another person for a clean crop
    border_margin: float = 2.0  # px: crops cut by the image border are not clean
    split_distance: float = 1.5  # m
    split_seconds: float = 0.6
    split_similarity: float = 0.3  # a crop less similar than this to its identity's gallery is a strike...
    split_strikes: int = 2  # ...and this many in a row detach the tracklet (a tracker id switch)
    swap_overlap_seconds: float = 0.3  # two identities seen at once in one camera for longer cannot merge
    center_embeddings: bool = False  # compare embeddings minus the scene's mean one (ReLU embeddings)
    offline_refine: bool = False  # end of sequence: re-entry decisions again, on whole visits
    refine_threshold: float = 0.6  # visit similarity to be the same person
    refine_max_overlap: float = 0.35  # share of a visit's frames that may overlap another's in one camera


@ASSOCIATORS.register("global", params=GlobalParams)
class GlobalAssociator:
    """Online global identities from per-camera tracklets, ground positions and embeddings."""

    def __init__(self, params: GlobalParams, scene=None, has_reid: bool = True):
        self.p = params
        self.has_reid = has_reid
        fps = float(getattr(scene, "fps", 0) or 15.0)
        self.fps = fps
        self.image_sizes = [c.image_size for c in scene.cameras] if scene is not None else None
        self.store = IdentityStore(params.gallery_size, overlap_frames=int(round(params.swap_overlap_seconds * fps)))
        self.tracklets: dict[tuple[int, int], Tracklet] = {}
        self.open_windows: set[tuple[int, int]] = set()  # tracklets still deciding whom they stand with
        self.centering = SceneCentering(params.center_embeddings)
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
            if tr is None or not self.store.get(tr.identity).resolved:
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
            iou = iou_matrix(boxes, boxes)
            np.fill_diagonal(iou, 0.0)
            ok &= iou.max(axis=1) <= self.p.max_crop_overlap
        return ok

    # -- online update -----------------------------------------------------------------------------

    def update(self, frame: int, tracks: list[np.ndarray], embeddings: list) -> list[np.ndarray]:
        self.frame = frame
        seen: list[tuple[Tracklet, np.ndarray | None]] = []
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
                    emb = np.asarray(embs[i], dtype=np.float32)
                    self.centering.observe(emb)
                    tr.last_embedding_frame = frame
                seen.append((tr, emb))

        for tr in fresh:
            self._open_provisional(tr)
        for tr, since in self._detach_inconsistent(seen) + self._detach_switched(seen):
            self._open_provisional(tr, since)
        self._accumulate(seen)
        self._observe(seen)
        self._fuse()
        self._decide_entries(seen)
        return [self._current_ids(cam, boxes) for cam, boxes in enumerate(tracks)]

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
        tr.last_good_frame = None
        tr.far_frames = 0
        tr.window_start, tr.window_dist, tr.window_embs = self.frame, {}, []
        self.open_windows.add((tr.camera, tr.local_id))

    def _identity_positions(self, seen, exclude_camera: int | None = None) -> dict[int, np.ndarray]:
        """Mean ground position of each identity over this frame's tracklets (optionally not in one camera)."""
        acc: dict[int, list[np.ndarray]] = {}
        for tr, _ in seen:
            if tr.camera != exclude_camera and np.all(np.isfinite(tr.position)):
                acc.setdefault(self.store.find(tr.identity), []).append(tr.position)
        return {k: np.mean(v, axis=0) for k, v in acc.items()}

    def _accumulate(self, seen) -> None:
        """During its fusion window, sum a tracklet's ground distance to every identity other cameras see."""
        elsewhere: dict[int, dict[int, np.ndarray]] = {}
        for tr, emb in seen:
            if (tr.camera, tr.local_id) not in self.open_windows:
                continue
            if emb is not None:
                tr.window_embs.append(emb)
            own = self.store.find(tr.identity)
            for o, _ in seen:  # everybody other cameras see now is a candidate, located or not
                root = self.store.find(o.identity) if o.segments else None
                if o.camera != tr.camera and root is not None and root != own:
                    tr.window_dist.setdefault(root, [0.0, 0])
            if not np.all(np.isfinite(tr.position)):
                continue
            if tr.camera not in elsewhere:
                elsewhere[tr.camera] = self._identity_positions(seen, exclude_camera=tr.camera)
            for ident_id, pos in elsewhere[tr.camera].items():
                if ident_id != own:
                    acc = tr.window_dist.setdefault(ident_id, [0.0, 0])
                    acc[0] += float(np.linalg.norm(tr.position - pos))
                    acc[1] += 1

    def _fuse(self) -> None:
        """At the end of a tracklet's window: join the identity it stood with in other cameras, if any."""
        window = self._frames(self.p.fusion_seconds)
        for key in sorted(self.open_windows):
            tr = self.tracklets[key]
            if tr.last_frame == self.frame and self.frame - tr.window_start + 1 < window:
                continue  # still collecting
            self.open_windows.discard(key)
            own = self.store.find(tr.identity)
            totals: dict[int, list[float]] = {}
            for ident_id, (dist, n) in tr.window_dist.items():
                root = self.store.find(ident_id)
                if root != own:
                    acc = totals.setdefault(root, [0.0, 0])
                    acc[0] += dist
                    acc[1] += n
            frames_seen = tr.last_frame - tr.window_start + 1
            query = np.asarray(tr.window_embs) if tr.window_embs else None
            best, best_cost = None, np.inf
            for root, (dist, n) in totals.items():
                if n < max(1, frames_seen // 2) or dist / n > self.p.match_distance:
                    continue
                cost = dist / n
                gallery = self.store.get(root).gallery
                if query is not None and gallery:
                    sim = self.centering.similarity(query, gallery)
                    if sim < self.p.fusion_min_similarity:
                        continue  # stands there, but looks like somebody else
                    cost += self.p.appearance_weight * (1.0 - sim)
                if cost < best_cost and self.store.can_merge(root, own):
                    best, best_cost = root, cost
            if best is None and query is not None:
                best = self._fuse_by_appearance(tr, own, query, totals)
            if best is not None:
                self.store.merge(best, own)

    def _fuse_by_appearance(self, tr: Tracklet, own: int, query: np.ndarray, totals: dict) -> int | None:
        """No usable ground position (feet cut off, far away): join a person seen now by another camera
        who looks the same, unless the ground positions that do exist clearly disagree."""
        best, best_sim = None, self.p.reid_threshold
        for root, (dist, n) in totals.items():
            if n and dist / n > 2 * self.p.match_distance:
                continue
            ident = self.store.get(root)
            if ident.last_frame < tr.window_start or not ident.gallery or not self.store.can_merge(root, own):
                continue
            sim = self.centering.similarity(query, ident.gallery)
            if sim > best_sim:
                best, best_sim = root, sim
        return best

    def _detach_inconsistent(self, seen) -> list[tuple[Tracklet, int]]:
        """Detach tracklets that stay far from where the other cameras see their identity."""
        limit = self._frames(self.p.split_seconds)
        by_identity: dict[int, list[Tracklet]] = {}
        for tr, _ in seen:
            if tr.segments and (tr.camera, tr.local_id) not in self.open_windows and np.all(np.isfinite(tr.position)):
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
                detached.append((youngest, self.frame - youngest.far_frames + 1))
        return detached

    def _detach_switched(self, seen) -> list[tuple[Tracklet, int]]:
        """Detach tracklets whose recent crops stopped looking like their identity (a tracker id switch).

        The new segment starts after the last crop that still matched, so the frames of the switch go
        to the right person once the detached part is re-identified.
        """
        detached = []
        for tr, emb in seen:
            if emb is None or not tr.segments or (tr.camera, tr.local_id) in self.open_windows:
                continue
            gallery = self.store.get(tr.identity).gallery
            if len(gallery) < self.p.reid_min_embeddings:
                continue
            if self.centering.similarity(emb[None], gallery) >= self.p.split_similarity:
                tr.strikes, tr.last_good_frame = 0, self.frame
                continue
            tr.strikes += 1
            if tr.strikes >= self.p.split_strikes:
                tr.strikes = 0
                good = tr.last_good_frame
                detached.append((tr, self.frame if good is None else good + 1))
        return detached

    def _observe(self, seen) -> None:
        positions = self._identity_positions(seen)
        for tr, emb in seen:
            ident = self.store.get(tr.identity)  # the merged person
            own = self.store.identities[tr.identity]  # this segment's own identity (offline re-clustering)
            ident.last_frame = own.own_last_frame = self.frame
            ident.add_interval(tr.camera, tr.segments[-1][0], self.frame)
            if ident.id in positions:
                ident.position = positions[ident.id]
            if emb is not None and tr.strikes == 0:  # a doubtful crop does not pollute the gallery
                ident.gallery.append(emb)
                own.samples.add(emb)

    def _decide_entries(self, seen) -> None:
        """Resolve provisional identities: a continuation, a returning person (ReID), or a new person.

        Candidates are identities that are not in the scene at the same time as the provisional one.
        With ReID the gallery similarity decides (a candidate lost a moment ago nearby needs less);
        without ReID only such a nearby, recently lost candidate can be continued.
        """
        frame = self.frame
        deadline = self._frames(self.p.decision_seconds)
        waiting = {self.store.find(self.tracklets[key].identity) for key in self.open_windows}
        roots = self.store.roots()
        for ident in roots:
            if ident.resolved or ident.id in waiting:
                continue
            age = frame - ident.first_frame
            if self.has_reid and len(ident.gallery) < self.p.reid_min_embeddings and age < deadline:
                continue
            if self.has_reid and not ident.gallery and age < 3 * deadline:
                continue  # no clean crop yet: wait a little longer
            use_reid = self.has_reid and len(ident.gallery) > 0
            query = np.asarray(ident.gallery) if use_reid else None
            best, best_score, kind = None, -np.inf, "reentry"
            for cand in roots:
                if cand is ident or not cand.resolved or not self.store.can_merge(cand.id, ident.id):
                    continue
                if cand.last_frame >= ident.first_frame:
                    # In the scene at the same time, in other cameras: the same person only if they look
                    # alike and stand together (a cross-camera fusion the ground plane alone missed).
                    if not (use_reid and cand.gallery and self._colocated(cand, ident)):
                        continue
                    score = self.centering.similarity(query, cand.gallery)
                    if score >= self.p.reid_threshold and score > best_score:
                        best, best_score, kind = cand, score, "fusion"
                    continue
                nearby = self._plausible_continuation(cand, ident)
                if use_reid:
                    if not cand.gallery:
                        continue
                    score = self.centering.similarity(query, cand.gallery)
                    threshold = self.p.reid_threshold - (self.p.continuation_bonus if nearby else 0.0)
                    if score < threshold:
                        continue
                    score += self.p.continuation_bonus if nearby else 0.0
                else:
                    if not nearby:
                        continue
                    score = -float(np.linalg.norm(ident.entry_position - cand.position))
                if score > best_score:
                    best, best_score, kind = cand, score, "continuation" if nearby else "reentry"
            if best is not None:
                self.store.merge(best.id, ident.id, kind).resolved = True
            else:
                ident.resolved = True

    def _colocated(self, a, b) -> bool:
        """Both seen now, and not clearly apart on the ground (unknown positions do not disagree)."""
        if a.last_frame != self.frame or b.last_frame != self.frame:
            return False
        if not (np.all(np.isfinite(a.position)) and np.all(np.isfinite(b.position))):
            return True
        return float(np.linalg.norm(a.position - b.position)) <= 2 * self.p.match_distance

    def _plausible_continuation(self, lost, new) -> bool:
        """Was ``new`` first seen close to where ``lost`` was last seen, shortly after?"""
        gap = (new.first_frame - lost.last_frame) / self.fps
        if gap > self.p.reconnect_seconds:
            return False
        if not (np.all(np.isfinite(lost.position)) and np.all(np.isfinite(new.entry_position))):
            return False
        reach = self.p.reconnect_distance + self.p.max_speed * gap
        return float(np.linalg.norm(new.entry_position - lost.position)) <= reach

    def _current_ids(self, camera: int, boxes: np.ndarray) -> np.ndarray:
        out = boxes.copy()
        out["id"] = [self.store.find(self.tracklets[(camera, int(i))].identity) for i in boxes["id"]]
        return out

    # -- end of sequence ---------------------------------------------------------------------------

    def finalize(self) -> None:
        """Offline refinement: take the re-entry decisions again with whole visits (see ``refine``)."""
        if self.p.offline_refine and self.has_reid:
            self.store.set_partition(recluster(self.store, self.tracklets.values(), self.p.refine_threshold,
                                               self.store.overlap_frames, transform=self.centering.apply,
                                               max_overlap=self.p.refine_max_overlap))

    def relabel(self, camera: int, boxes: np.ndarray) -> np.ndarray:
        """Final global ids for a camera's boxes that carry tracker (local) ids.

        After the offline refinement an id is never on two boxes of one frame: it may join two visits
        whose ends overlap in a camera (``refine_max_overlap``); there the segment that started first keeps
        the id and the other's overlapping boxes get an id of their own.
        """
        out = np.empty(len(boxes), dtype=np.int64)
        segment_start = np.zeros(len(boxes), dtype=np.int64)
        segment_ident = np.zeros(len(boxes), dtype=np.int64)
        for i, (lid, frame) in enumerate(zip(boxes["id"], boxes["frame"])):
            tr = self.tracklets.get((camera, int(lid)))
            if tr is None or not tr.segments:
                out[i] = -1
                continue
            start, identity = tr.segments[0]
            for seg_start, ident in tr.segments:
                if seg_start <= frame:
                    start, identity = seg_start, ident
            out[i] = self.store.find(identity)
            segment_start[i], segment_ident[i] = start, identity
        if not (self.p.offline_refine and self.has_reid):
            return out
        holders: dict[tuple[int, int], int] = {}
        fresh = max(self.store.identities, default=0) + 1  # ids no identity uses
        for i in np.argsort(segment_start, kind="stable"):  # the segment that started first keeps the id
            if out[i] < 0:
                continue
            key = (int(boxes["frame"][i]), int(out[i]))
            if key in holders:
                out[i] = fresh + int(segment_ident[i])
            else:
                holders[key] = i
        return out
