"""The ``ground`` association: people tracked on the ground plane from the points of every view.

For dense scenes seen by many overlapping calibrated cameras (WILDTRACK: 7 views, 20-40 people,
2 fps), where per-camera tracklets break too often to be the unit of association.  Each time step:

1. every ground track (a constant-velocity Kalman filter on the floor, metres) is predicted;
2. in each camera, the tracks are matched to that camera's ground points (foot points of its
   tracks) by a min-cost assignment on the negative log-likelihood (Mahalanobis distance plus
   log det of the innovation covariance), then again against where the other cameras' points
   put each track (``refine_passes``); a point's uncertainty is
   elongated along the camera's viewing ray, by ``range_noise`` per unit of distance / camera
   height (a foot point a few pixels off moves a far person a long way along the ray), and a
   camera tracklet that stood on the same ground track last time gets ``continuity_bonus``;
3. every track is updated with all the points it got (one per camera: information fusion);
4. points nobody explains are clustered across cameras (one point per camera per cluster) into
   tentative tracks, confirmed once ``min_views`` cameras see them at once or after
   ``confirm_frames`` time steps in a row; tracks without points for ``max_missed_seconds`` end;
5. two tracks closer than ``merge_distance``, or near each other without a shared camera (one
   person's views split between them), become one; a track confirmed where one was lost a moment
   ago continues its id.

A camera box without a ground point (feet cut off) follows its tracklet's last ground track.  Every
box's ground point is replaced by its track's fused position (so ``global.txt`` holds it).
Boxes never on a confirmed track get id -1 from :meth:`relabel` (the pipeline drops them).
No ReID: identities come from geometry and motion only.  Offline, ``refine`` (:mod:`ground_refine`)
cuts the tracks where they were ambiguous and re-links the pieces by motion before :meth:`relabel`;
then (``refine.smooth``, :mod:`ground_smooth`) every trajectory is smoothed over the whole run, the
points are matched to the smoothed trajectories again, and :meth:`relocate` gives the boxes the smoothed
positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mtmc.association import ASSOCIATORS
from mtmc.association.ground_fusion import (
    constant_velocity,
    fuse,
    kalman_update,
    match_points,
    ray_covariances,
)
from mtmc.association.ground_refine import GroundRefineParams, PieceLabels
from mtmc.association.ground_smooth import PointLog, Trajectory, smooth_and_reassign, smoothed_position
from mtmc.boxes import make_boxes, own_ground_points
from mtmc.errors import ConfigError


@dataclass
class GroundParams:
    point_noise: float = 0.15  # m: std of a ground point across the viewing ray (and its floor along it)
    range_noise: float = 0.1  # m along the ray per unit of (distance / camera height)
    accel_noise: float = 1.5  # m/s^2: std of the white-noise acceleration of a walking person
    init_speed: float = 1.0  # m/s: std of the velocity of a new track
    gate: float = 9.0  # max squared Mahalanobis distance of a point to a track (chi^2, 2 dof)
    max_distance: float = 1.5  # m: and never further than this
    continuity_bonus: float = 4.0  # cost credit when a camera tracklet stays on its ground track
    cluster_distance: float = 1.5  # m: unexplained points of different cameras at most this far apart...
    merge_distance: float = 0.4  # m: tracks closer than this are one person; no new track this close to one
    split_distance: float = 1.0  # m: tracks this close that share no camera...
    split_frames: int = 1  # ...for this many time steps in a row are one person seen by two sets of cameras
    second_gate: float = 25.0  # squared Mahalanobis: a leftover point may join a track lacking its camera (0: off)
    nll_cost: bool = True  # match on d^2 + log det S (the negative log-likelihood), not d^2 alone
    refine_passes: int = 1  # match every camera again against the other cameras' fused points
    reconnect_seconds: float = 3.0  # a new track continues the id of a track lost this recently...
    reconnect_distance: float = 1.0  # ...that ended within this distance (m) plus max_speed * gap
    max_speed: float = 1.5  # m/s
    min_views: int = 2  # cameras that must see a tentative track at once to confirm it...
    confirm_frames: int = 2  # ...or time steps in a row it must be seen
    max_missed_seconds: float = 1.5  # a confirmed track without points for longer ends
    refine: GroundRefineParams = field(default_factory=GroundRefineParams)  # offline cut-and-relink

    def validate(self, key_path: str = "") -> None:
        p = f"{key_path}." if key_path else ""
        for name in ("point_noise", "accel_noise", "init_speed", "gate", "max_distance", "cluster_distance"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{p}{name}: expected a positive number, got {getattr(self, name)}")
        for name in ("range_noise", "continuity_bonus", "max_missed_seconds"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{p}{name}: expected a non-negative number, got {getattr(self, name)}")
        if self.min_views < 1 or self.confirm_frames < 1:
            raise ConfigError(f"{p}min_views/confirm_frames: expected integers >= 1")


@dataclass
class GroundTrack:
    uid: int
    x: np.ndarray  # (4,) x, y, vx, vy
    P: np.ndarray  # (4, 4)
    streak: int = 1  # time steps in a row with points
    last_frame: int = 0
    confirmed: bool = False
    views: set = field(default_factory=set)  # cameras with a point this step
    first_frame: int = 0
    first_pos: np.ndarray | None = None
    last_pos: np.ndarray | None = None  # position after the last update with points


class GroundTracker:
    """Online ground-plane tracks from the ground points of every camera's tracks."""

    latency = 0  # update() returns this frame's boxes; their ids are the online ones

    def __init__(self, params: GroundParams, scene=None, has_reid: bool = False):
        self.p = params
        self.fps = float(getattr(scene, "fps", 0) or 10.0)
        cams = [scene.camera_calibration(i) for i in range(len(scene.cameras))] if scene is not None else []
        self.centres = [None if c is None or c.center is None else np.asarray(c.center, float) for c in cams]
        self.F, self.Q = constant_velocity(self.fps, params.accel_noise)
        self.max_missed = max(1, int(round(params.max_missed_seconds * self.fps)))
        self.tracks: list[GroundTrack] = []
        self.next_uid = 0
        self.next_id = 1
        self.final_id: dict[int, int] = {}  # track uid -> global id (confirmed tracks only)
        self.assigned: dict[tuple[int, int, int], int] = {}  # (camera, frame, local id) -> track uid
        self.last_track: dict[tuple[int, int], int] = {}  # (camera, local id) -> track uid of its last point
        self.disjoint: dict[tuple[int, int], int] = {}  # track pair -> time steps near, without a shared camera
        self.step_keys: dict[tuple[int, int, int], np.ndarray | None] = {}  # this step's assignments -> point
        self.lost: list[GroundTrack] = []  # confirmed tracks that ended recently (their id may continue)
        self.history: dict[int, list[tuple[int, np.ndarray]]] = {}  # uid -> (frame, x) after each update
        self.pieces: PieceLabels | None = None  # the offline re-linked labels (``refine.enabled``)
        # offline smoothing (``refine.smooth``): every located point of the run, and the final result
        self.keep_points = params.refine.enabled and params.refine.smooth
        self.located: list[tuple[int, int, list[int], np.ndarray, np.ndarray]] = []  # frame, camera, ids, pts, covs
        self.point_label: dict[tuple[int, int, int], int] = {}  # (camera, frame, local id) -> final label
        self.smoothed: dict[int, Trajectory] = {}  # final label -> smoothed trajectory

    # -- the Associator protocol ------------------------------------------------------------------

    def wants_embeddings(self, camera: int, tracks: np.ndarray) -> np.ndarray:
        return np.zeros(len(tracks), dtype=bool)

    def flush(self) -> list[np.ndarray]:
        return [make_boxes(0) for _ in self.centres]

    def finalize(self) -> None:
        """Offline (``refine.enabled``): cut the confirmed tracks where they were ambiguous and re-link."""
        if not self.p.refine.enabled:
            return
        history = {}
        for uid in sorted(self.final_id):
            steps = self.history.get(uid, [])
            if steps:
                x = np.array([s[1] for s in steps])
                history[uid] = (np.array([s[0] for s in steps], dtype=np.int64), x[:, :2], x[:, 2:])
        self.pieces = PieceLabels(history, self.fps, self.p.refine)
        if self.keep_points and self.located:
            self._smooth()

    def _smooth(self) -> None:
        """Smooth the re-linked trajectories, match the points to them again, smooth once more."""
        log = PointLog.from_steps(self.located)
        keys = log.keys()
        labels = np.array([self._label(*key) for key in keys], dtype=np.int64)
        labels, self.smoothed = smooth_and_reassign(log, labels, self.F, self.Q, self.p.init_speed, self.p.gate,
                                                    self.p.max_distance, self.p.refine.reassign_passes,
                                                    self.p.nll_cost)
        self.point_label = dict(zip(keys, labels.tolist()))
        self.located = []

    def _label(self, camera: int, frame: int, lid: int) -> int:
        """The confirmed ground track (or re-linked piece) a box was on; -1 for none."""
        uid = self.assigned.get((camera, frame, lid))
        if uid is None or uid not in self.final_id:
            return -1
        return self.final_id[uid] if self.pieces is None else self.pieces.label(uid, frame)

    def relabel(self, camera: int, boxes: np.ndarray) -> np.ndarray:
        """Final ids: the confirmed ground track (or re-linked piece, or smoothed trajectory) each box was on,
        -1 for the rest."""
        out = np.full(len(boxes), -1, dtype=np.int64)
        for i, (lid, frame) in enumerate(zip(boxes["id"].tolist(), boxes["frame"].tolist())):
            label = self.point_label.get((camera, frame, lid))
            out[i] = self._label(camera, frame, lid) if label is None else label
        return out

    def relocate(self, camera: int, boxes: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """(N, 2) final ground points: the position of the box's smoothed trajectory (its final id ``ids``)
        where it has one, else the box's own."""
        out = own_ground_points(boxes)
        if not self.smoothed:
            return out
        for i, (label, frame) in enumerate(zip(ids.tolist(), boxes["frame"].tolist())):
            pos = smoothed_position(self.smoothed, label, frame)
            if pos is not None:
                out[i] = pos
        return out

    def update(self, frame: int, tracks: list[np.ndarray], embeddings: list) -> list[np.ndarray]:
        for t in self.tracks:
            t.x, t.P = self.F @ t.x, self.F @ t.P @ self.F.T + self.Q
            t.views = set()
        by_uid = {t.uid: t for t in self.tracks}
        self.step_keys = {}
        views = []  # per camera: (camera, local ids, ground points, covariances) of the located boxes
        for cam, boxes in enumerate(tracks):
            lids = boxes["id"].astype(np.int64).tolist()
            pts = np.stack([boxes["gx"], boxes["gy"]], axis=1).reshape(-1, 2)
            ok = np.isfinite(pts).all(axis=1)
            for i in np.flatnonzero(~ok):  # no ground point: stay with the tracklet's ground track
                uid = self.last_track.get((cam, lids[i]))
                if uid in by_uid:
                    self.assigned[(cam, frame, lids[i])] = uid
                    self.step_keys[(cam, frame, lids[i])] = None
            idx = np.flatnonzero(ok)
            views.append((cam, [lids[i] for i in idx], pts[idx], self._point_covariances(cam, pts[idx])))
        if self.keep_points:
            self.located.extend((frame, *v) for v in views if len(v[1]))
        prior = [(t.x[:2].copy(), t.P[:2, :2].copy()) for t in self.tracks]
        matches = {v[0]: self._match(*v, self.tracks, prior) for v in views}
        for _ in range(self.p.refine_passes):
            matches = self._rematch(views, matches, prior)
        leftovers: list[tuple[int, int, np.ndarray, np.ndarray]] = []  # camera, local id, point, covariance
        pending: list[tuple[GroundTrack, np.ndarray, np.ndarray]] = []
        for cam, lids, pts, covs in views:
            for k in range(len(lids)):
                t = matches[cam].get(k)
                if t is None:
                    leftovers.append((cam, lids[k], pts[k], covs[k]))
                    continue
                pending.append((t, pts[k], covs[k]))
                t.views.add(cam)
                self._assign(cam, frame, lids[k], t.uid, pts[k])
        leftovers = self._second_chance(frame, leftovers, pending)
        for t, z, R in pending:
            t.x, t.P = kalman_update(t.x, t.P, z, R)
        self._new_tracks(frame, leftovers)
        self._manage(frame)
        self._one_box_per_camera()
        return [self._current(cam, frame, boxes) for cam, boxes in enumerate(tracks)]

    def _rematch(self, views, matches, prior) -> dict[int, dict[int, GroundTrack]]:
        """Match each camera again against where the OTHER cameras' points (and the prediction) put each
        track: a point that went to a neighbour's track is taken back once the other views agree."""
        row = {id(t): k for k, t in enumerate(self.tracks)}
        info = [np.linalg.inv(P) for _, P in prior]
        vec = [inf @ x for inf, (x, _) in zip(info, prior)]
        parts: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # (track row, camera) -> information
        for cam, _, pts, covs in views:
            for k, t in matches[cam].items():
                Rinv = np.linalg.inv(covs[k])
                parts[(row[id(t)], cam)] = (Rinv, Rinv @ pts[k])
        total_i = [inf.copy() for inf in info]
        total_v = [v.copy() for v in vec]
        for (r, _), (Ri, rv) in parts.items():
            total_i[r] += Ri
            total_v[r] += rv
        out = {}
        for cam, lids, pts, covs in views:
            refs = []
            for r in range(len(self.tracks)):
                inf, vv = total_i[r], total_v[r]
                if (r, cam) in parts:  # leave this camera's own point out
                    inf, vv = inf - parts[(r, cam)][0], vv - parts[(r, cam)][1]
                cov = np.linalg.inv(inf)
                refs.append((cov @ vv, cov))
            out[cam] = self._match(cam, lids, pts, covs, self.tracks, refs)
        return out

    # -- steps ------------------------------------------------------------------------------------

    def _point_covariances(self, cam: int, pts: np.ndarray) -> np.ndarray:
        """(N, 2, 2) covariance of each ground point, long along the camera's viewing ray."""
        centre = self.centres[cam] if cam < len(self.centres) else None
        return ray_covariances(pts, centre, self.p.point_noise, self.p.range_noise)

    def _second_chance(self, frame: int, leftovers: list, pending: list) -> list:
        """Points nobody took, within ``second_gate`` of a track that got no point from their camera (0: off)."""
        if self.p.second_gate <= 0:
            return leftovers
        rest = []
        for cam in sorted({item[0] for item in leftovers}):
            items = [it for it in leftovers if it[0] == cam]
            free = [t for t in self.tracks if cam not in t.views]
            matches = self._match(cam, [it[1] for it in items], np.array([it[2] for it in items]),
                                  np.array([it[3] for it in items]), free,
                                  [(t.x[:2], t.P[:2, :2]) for t in free], self.p.second_gate)
            for k, it in enumerate(items):
                t = matches.get(k)
                if t is None:
                    rest.append(it)
                else:
                    pending.append((t, it[2], it[3]))
                    t.views.add(cam)
                    self._assign(cam, frame, it[1], t.uid, it[2])
        return rest

    def _match(self, cam: int, lids: list[int], pts: np.ndarray, covs: np.ndarray, tracks: list[GroundTrack],
               refs: list[tuple[np.ndarray, np.ndarray]], gate: float | None = None) -> dict[int, GroundTrack]:
        """Point index -> track, one point per track, for one camera; ``refs``: each track's (position, cov)."""
        if not tracks or len(pts) == 0:
            return {}
        credit = np.zeros((len(tracks), len(pts)))
        row_of = {t.uid: k for k, t in enumerate(tracks)}
        for j, lid in enumerate(lids):
            k = row_of.get(self.last_track.get((cam, lid)))
            if k is not None:
                credit[k, j] = self.p.continuity_bonus
        pairs = match_points(pts, covs, np.stack([r[0] for r in refs]), np.stack([r[1] for r in refs]),
                             self.p.gate if gate is None else gate, self.p.max_distance, self.p.nll_cost, credit)
        return {c: tracks[r] for r, c in pairs}

    def _new_tracks(self, frame: int, points: list[tuple[int, int, np.ndarray, np.ndarray]]) -> None:
        """Cluster unexplained points across cameras (one per camera) into tentative tracks."""
        clusters: list[list[tuple[int, int, np.ndarray, np.ndarray]]] = []
        for item in sorted(points, key=lambda it: np.trace(it[3])):  # the most precise points seed clusters
            best, best_d = None, self.p.gate
            for c in clusters:
                if any(member[0] == item[0] for member in c):
                    continue
                mean, cov = self._fuse(c)
                diff = item[2] - mean
                if np.linalg.norm(diff) > self.p.cluster_distance:
                    continue
                d = float(diff @ np.linalg.inv(cov + item[3]) @ diff)
                if d <= best_d:
                    best, best_d = c, d
            if best is None:
                clusters.append([item])
            else:
                best.append(item)
        taken = np.array([t.x[:2] for t in self.tracks]).reshape(-1, 2)
        for c in clusters:
            mean, cov = self._fuse(c)
            if len(taken) and np.linalg.norm(taken - mean, axis=1).min() < self.p.merge_distance:
                continue  # somebody is tracked right there: a stray point of theirs, not a new person
            P = np.zeros((4, 4))
            P[:2, :2], P[2:, 2:] = cov, np.eye(2) * self.p.init_speed**2
            t = GroundTrack(self.next_uid, np.array([*mean, 0.0, 0.0]), P, last_frame=frame,
                            views={cam for cam, *_ in c})
            self.next_uid += 1
            self.tracks.append(t)
            for cam, lid, point, _ in c:
                self._assign(cam, frame, lid, t.uid, point)

    @staticmethod
    def _fuse(points) -> tuple[np.ndarray, np.ndarray]:
        """Information-weighted mean of (camera, local id, point, covariance) items."""
        return fuse([p[2] for p in points], [p[3] for p in points])

    def _merge_duplicates(self, frame: int) -> None:
        """Two tracks on one spot are one person: the older track takes the younger one's points."""
        order = sorted(self.tracks, key=lambda t: (not t.confirmed, t.uid))
        gone: dict[int, int] = {}
        apart: dict[tuple[int, int], int] = {}
        for i, a in enumerate(order):
            if a.uid in gone or not a.views:
                continue
            for b in order[i + 1:]:
                if b.uid in gone or not b.views:
                    continue
                dist = np.linalg.norm(a.x[:2] - b.x[:2])
                # Two tracks near each other that share no camera split one person's views between them.
                if dist < self.p.split_distance and not (a.views & b.views):
                    apart[(a.uid, b.uid)] = self.disjoint.get((a.uid, b.uid), 0) + 1
                if dist < self.p.merge_distance or apart.get((a.uid, b.uid), 0) >= self.p.split_frames:
                    gone[b.uid] = a.uid
                    a.views |= b.views
        self.disjoint = apart
        if not gone:
            return
        for key in self.step_keys:
            if self.assigned[key] in gone:
                self.assigned[key] = gone[self.assigned[key]]
        for key, uid in self.last_track.items():
            if uid in gone:
                self.last_track[key] = gone[uid]
        self.tracks = [t for t in self.tracks if t.uid not in gone]

    def _manage(self, frame: int) -> None:
        self._merge_duplicates(frame)
        kept = []
        for t in self.tracks:
            if t.views:
                t.streak = t.streak + 1 if t.last_frame == frame - 1 else 1
                t.last_frame, t.last_pos = frame, t.x[:2].copy()
                self.history.setdefault(t.uid, []).append((frame, t.x.copy()))
                if t.first_pos is None:
                    t.first_frame, t.first_pos = frame, t.x[:2].copy()
                if not t.confirmed and (len(t.views) >= self.p.min_views or t.streak >= self.p.confirm_frames):
                    t.confirmed = True
                    self.final_id[t.uid] = self._continued_id(t)
            missed = frame - t.last_frame
            if (t.confirmed and missed <= self.max_missed) or (not t.confirmed and missed == 0):
                kept.append(t)
            elif t.confirmed:
                self.lost.append(t)
        self.tracks = kept
        horizon = int(round(self.p.reconnect_seconds * self.fps))
        self.lost = [t for t in self.lost if frame - t.last_frame <= horizon]

    def _continued_id(self, new: GroundTrack) -> int:
        """The id of a track lost shortly before ``new`` started, close enough to be the same person;
        else a fresh id."""
        best, best_d = None, np.inf
        for old in self.lost:
            gap = (new.first_frame - old.last_frame) / self.fps
            if gap <= 0:
                continue
            d = float(np.linalg.norm(new.first_pos - old.last_pos))
            if d <= self.p.reconnect_distance + self.p.max_speed * gap and d < best_d:
                best, best_d = old, d
        if best is None:
            self.next_id += 1
            return self.next_id - 1
        self.lost.remove(best)
        return self.final_id[best.uid]

    def _assign(self, cam: int, frame: int, lid: int, uid: int, point: np.ndarray) -> None:
        self.assigned[(cam, frame, lid)] = uid
        self.step_keys[(cam, frame, lid)] = point
        self.last_track[(cam, lid)] = uid

    def _one_box_per_camera(self) -> None:
        """A track keeps one box per camera and step (after merges, or a follower next to a located box):
        the one whose point is closest to it; the others get no id."""
        pos = {t.uid: t.x[:2] for t in self.tracks}
        groups: dict[tuple[int, int], list] = {}
        for key, point in self.step_keys.items():
            groups.setdefault((key[0], self.assigned[key]), []).append((key, point))
        for (_, uid), members in groups.items():
            if len(members) < 2:
                continue
            here = pos.get(uid)
            def dist(item, here=here):
                return np.inf if item[1] is None or here is None else float(np.linalg.norm(item[1] - here))
            for key, _ in sorted(members, key=dist)[1:]:
                del self.assigned[key]

    def _current(self, cam: int, frame: int, boxes: np.ndarray) -> np.ndarray:
        """This step's ids, and every box's ground point replaced by its track's fused position."""
        out = boxes.copy()
        alive = {t.uid: t for t in self.tracks}
        for i, lid in enumerate(boxes["id"].tolist()):
            uid = self.assigned.get((cam, frame, lid), -1)
            out["id"][i] = self.final_id.get(uid, -1)
            if uid in alive:
                out["gx"][i], out["gy"][i] = alive[uid].x[:2]
        return out


@ASSOCIATORS.register("ground", params=GroundParams)
def build_ground(params: GroundParams, scene=None, has_reid: bool = False) -> GroundTracker:
    return GroundTracker(params, scene, has_reid)
