"""Offline refinement of the ``ground`` association: cut ground tracks where they were ambiguous, re-link.

Online, a ground track decides at every step which points are its own, from the past alone.  Where two
people walk within a metre of each other the points of one may go to the other's track, and the tracks
swap or one of them dies and is reborn a moment later.  At the end of the sequence the whole trajectory
is known, so every track is cut into pieces where it was ambiguous (another track within
``cut_distance``) or missed for a step, and the pieces are linked again by one min-cost assignment of
piece ends to piece starts: the cost is how well the two pieces continue each other at constant
velocity, extrapolated over the gap both forwards (from the end piece) and backwards (from the start
piece), so the decision uses the motion after the ambiguous moment too.  Fragments (tracks born or
lost in the middle of the scene) are stitched the same way, across gaps of up to ``max_gap_seconds``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from mtmc.errors import ConfigError
from trackers.matching import linear_assignment


@dataclass
class GroundRefineParams:
    """The offline cut-and-relink stage of the ``ground`` association (``association.params.refine``)."""

    enabled: bool = False  # offline runs only: relabel the whole run with the re-linked pieces
    cut_distance: float = 0.6  # m: a track is cut where another track is closer than this
    max_gap_seconds: float = 2.0  # pieces this far apart in time (or less) may be linked
    link_distance: float = 1.2  # m: largest mean extrapolation error of a link across one step...
    link_growth: float = 1.0  # ...plus this much per second of gap
    fit_points: int = 4  # positions at each end of a piece fitted for its velocity (>= 3 points)
    keep_bonus: float = 0.3  # cost credit (in units of the allowed error) for the online continuation
    smooth: bool = True  # then smooth each re-linked trajectory (RTS) and give the boxes its positions...
    reassign_passes: int = 1  # ...after matching every camera's points to the smoothed trajectories again

    def validate(self, key_path: str = "") -> None:
        p = f"{key_path}." if key_path else ""
        for name in ("cut_distance", "link_distance", "max_gap_seconds"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{p}{name}: expected a positive number, got {getattr(self, name)}")
        if self.link_growth < 0 or self.keep_bonus < 0:
            raise ConfigError(f"{p}link_growth/keep_bonus: expected non-negative numbers")
        if self.reassign_passes < 0:
            raise ConfigError(f"{p}reassign_passes: expected an integer >= 0, got {self.reassign_passes}")
        if self.fit_points < 2:
            raise ConfigError(f"{p}fit_points: expected an integer >= 2, got {self.fit_points}")


@dataclass
class Piece:
    uid: int  # the online track it was cut from
    frames: np.ndarray  # (n,) observed frames, increasing
    pos: np.ndarray  # (n, 2) fused positions
    vel: np.ndarray  # (n, 2) the online filter's velocity at each frame (its past only)


def _velocity(frames: np.ndarray, pos: np.ndarray, fallback: np.ndarray, fps: float) -> np.ndarray:
    """Least-squares velocity (per second) of a few positions; the filter's velocity below 3 points."""
    if len(frames) < 3:
        return fallback
    t = (frames - frames.mean()) / fps
    return (t @ (pos - pos.mean(axis=0))) / float(t @ t)


def cut_pieces(history: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]], cut_distance: float) -> list[Piece]:
    """Each track's history (frames, positions, velocities) cut after a missed step and around every step
    where another track was closer than ``cut_distance``."""
    frames = np.concatenate([h[0] for h in history.values()]) if history else np.zeros(0, np.int64)
    pos = np.concatenate([h[1] for h in history.values()]).reshape(-1, 2) if history else np.zeros((0, 2))
    crowded = np.zeros(len(frames), dtype=bool)
    for f in np.unique(frames):
        idx = np.flatnonzero(frames == f)
        if len(idx) < 2:
            continue
        d = np.linalg.norm(pos[idx][:, None] - pos[idx][None], axis=2)
        np.fill_diagonal(d, np.inf)
        crowded[idx] = d.min(axis=1) < cut_distance
    pieces: list[Piece] = []
    start = 0
    for uid, (fr, p, v) in history.items():
        amb = crowded[start:start + len(fr)]
        start += len(fr)
        cuts = np.flatnonzero((np.diff(fr) > 1) | amb[:-1] | amb[1:]) + 1
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(fr)]):
            pieces.append(Piece(uid, fr[a:b], p[a:b], v[a:b]))
    return pieces


def link_pieces(pieces: list[Piece], fps: float, p: GroundRefineParams) -> np.ndarray:
    """Chain label of every piece: a min-cost assignment of piece ends to later piece starts."""
    n = len(pieces)
    max_gap = max(1, int(round(p.max_gap_seconds * fps)))
    k = p.fit_points
    ends = np.array([pc.frames[-1] for pc in pieces], dtype=np.int64)
    starts = np.array([pc.frames[0] for pc in pieces], dtype=np.int64)
    end_pos = np.array([pc.pos[-1] for pc in pieces]).reshape(n, 2)
    start_pos = np.array([pc.pos[0] for pc in pieces]).reshape(n, 2)
    end_vel = np.array([_velocity(pc.frames[-k:], pc.pos[-k:], pc.vel[-1], fps) for pc in pieces]).reshape(n, 2)
    start_vel = np.array([_velocity(pc.frames[:k], pc.pos[:k], pc.vel[0], fps) for pc in pieces]).reshape(n, 2)
    order = np.argsort(starts, kind="stable")
    rows, cols, costs = [], [], []
    for i in range(n):
        lo, hi = np.searchsorted(starts[order], [ends[i] + 1, ends[i] + max_gap + 1])
        js = order[lo:hi]
        if not len(js):
            continue
        gap = ((starts[js] - ends[i]) / fps)[:, None]
        fwd = np.linalg.norm(end_pos[i] + end_vel[i] * gap - start_pos[js], axis=1)
        bwd = np.linalg.norm(start_pos[js] - start_vel[js] * gap - end_pos[i], axis=1)
        cost = 0.5 * (fwd + bwd) / (p.link_distance + p.link_growth * (gap[:, 0] - 1.0 / fps))
        same = np.array([pieces[j].uid == pieces[i].uid for j in js])
        cost = cost - p.keep_bonus * same  # the online decision stands unless the motion says otherwise
        ok = cost <= 1.0
        rows += [i] * int(ok.sum())
        cols += js[ok].tolist()
        costs += cost[ok].tolist()
    nxt = np.full(n, -1, dtype=np.int64)
    if rows:
        # Links only join pieces close in time: solve each connected group of candidates on its own.
        graph = coo_matrix((np.ones(len(rows)), (rows, np.array(cols) + n)), shape=(2 * n, 2 * n))
        _, comp = connected_components(graph, directed=False)
        rows_a, cols_a, costs_a = np.array(rows), np.array(cols), np.array(costs)
        for c in np.unique(comp[rows_a]):
            sel = comp[rows_a] == c
            r_ids, c_ids = np.unique(rows_a[sel]), np.unique(cols_a[sel])
            m = np.full((len(r_ids), len(c_ids)), 2.0)
            m[np.searchsorted(r_ids, rows_a[sel]), np.searchsorted(c_ids, cols_a[sel])] = costs_a[sel]
            matches, _, _ = linear_assignment(m, thresh=1.0)
            nxt[r_ids[matches[:, 0]]] = c_ids[matches[:, 1]]
    has_prev = np.zeros(n, dtype=bool)
    has_prev[nxt[nxt >= 0]] = True
    label = np.full(n, -1, dtype=np.int64)
    next_label = 1
    for i in np.argsort(starts, kind="stable"):
        if has_prev[i]:
            continue
        j = i
        while j >= 0:
            label[j] = next_label
            j = nxt[j]
        next_label += 1
    return label


class PieceLabels:
    """(track uid, frame) -> the re-linked label of the piece holding that frame of the track."""

    def __init__(self, history: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]], fps: float,
                 p: GroundRefineParams):
        pieces = cut_pieces(history, p.cut_distance)
        labels = link_pieces(pieces, fps, p)
        self.by_uid: dict[int, tuple[list[int], list[int]]] = {}
        for pc, lab in zip(pieces, labels):
            starts, labs = self.by_uid.setdefault(pc.uid, ([], []))
            starts.append(int(pc.frames[0]))
            labs.append(int(lab))

    def label(self, uid: int, frame: int) -> int:
        """The label at ``frame``: of the last piece of ``uid`` started by then (-1: unknown track)."""
        entry = self.by_uid.get(uid)
        if entry is None:
            return -1
        starts, labs = entry
        k = int(np.searchsorted(starts, frame, side="right")) - 1
        return labs[max(k, 0)]
