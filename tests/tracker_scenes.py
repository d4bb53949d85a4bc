"""Hand-built detection scenes for the tracker tests (helpers, not tests)."""

from __future__ import annotations

import numpy as np

from mtmc.boxes import BOX_DTYPE, concat, from_tlwh, xyxy
from trackers.matching import iou_matrix, linear_assignment


def frame_boxes(frame: int, people: list[tuple], score: float = 0.9) -> np.ndarray:
    """Detections of one frame: ``(gt id, x, y)`` or ``(gt id, x, y, score)`` per person, 40x100 boxes;
    the gt id is kept in ``cls``."""
    if not people:
        b = from_tlwh(np.zeros((0, 4)))
    else:
        b = from_tlwh([[p[1], p[2], 40.0, 100.0] for p in people],
                      score=[p[3] if len(p) > 3 else score for p in people], cls=[p[0] for p in people])
    b["frame"] = frame
    b["camera"] = 2
    return b


def run(tracker, frames: list[np.ndarray], embeddings: list[np.ndarray | None] | None = None) -> np.ndarray:
    """Feed the frames; every output is BOX_DTYPE with the input's frame and camera."""
    out = []
    for i, dets in enumerate(frames):
        emb = embeddings[i] if embeddings is not None else None
        tracks = tracker.update(dets, embeddings=emb)
        assert tracks.dtype == BOX_DTYPE
        if len(tracks) and len(dets):
            assert (tracks["frame"] == dets["frame"][0]).all() and (tracks["camera"] == 2).all()
        out.append(tracks)
    return concat(out)


def ids_per_person(frames: list[np.ndarray], tracks: np.ndarray) -> dict[int, set[int]]:
    """Track ids matched (one-to-one, IoU >= 0.5) to each synthetic person over the sequence."""
    seen: dict[int, set[int]] = {}
    for dets in frames:
        if not len(dets):
            continue
        t = tracks[tracks["frame"] == dets["frame"][0]]
        m, _, _ = linear_assignment(1.0 - iou_matrix(xyxy(dets), xyxy(t)), thresh=0.5)
        for person in dets["cls"]:
            seen.setdefault(int(person), set())
        for i, k in m:
            seen[int(dets["cls"][i])].add(int(t["id"][k]))
    return seen


def keeps_ids(frames: list[np.ndarray], tracks: np.ndarray) -> bool:
    """Every person has exactly one track id, and no two people share one."""
    seen = ids_per_person(frames, tracks)
    ids = [next(iter(v)) for v in seen.values() if len(v) == 1]
    return len(ids) == len(seen) and len(set(ids)) == len(ids)


def occluded_walk(low_score: float = 0.3) -> list:
    """A person walks right; on frames 11-18 they are half hidden and detected with a low score."""
    return [frame_boxes(f, [(1, 100.0 + 4 * f, 100.0, low_score if 11 <= f <= 18 else 0.9)])
            for f in range(1, 31)]


def walk_stop_scene(speed: float = 10.0, walk: int = 15, gap: int = 6, stand: int = 15) -> list[np.ndarray]:
    """One person walks right for ``walk`` frames, is unseen for ``gap`` frames during which they stop,
    and stands where they were last seen for ``stand`` frames."""
    frames, x = [], 100.0
    for f in range(1, walk + gap + stand + 1):
        if f <= walk:
            x += speed
        frames.append(frame_boxes(f, [] if walk < f <= walk + gap else [(1, x, 100.0)]))
    return frames


def turn_back_crossing(speed: float = 8.0, away: int = 10, dy: float = 20.0) -> list[np.ndarray]:
    """Two people start 40 px apart, walk away from each other for ``away`` frames, turn back and cross
    (one is ``dy`` lower); both are missed while their boxes overlap most.  Right after the turn the
    Kalman velocities still point the old way, so only the observed direction tells who is who."""
    frames, xa, xb = [], 180.0, 220.0
    for f in range(1, away + 60):
        step = -speed if f <= away else speed
        xa, xb = xa + step, xb - step
        people = [(1, xa, 100.0), (2, xb, 100.0 + dy)]
        frames.append(frame_boxes(f, [] if abs(xa - xb) < 20 else people))
    return frames


def reappear_scene(
    fps: float, gap_s: float, turn_back: bool, speed: float = 60.0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Person 1 walks right, is unseen for ``gap_s`` s, reappears (back left when ``turn_back``);
    person 2 stands still far away.  Returns detections and row-aligned embeddings."""
    rng = np.random.default_rng(0)
    identity = {1: np.eye(16)[0], 2: np.eye(16)[1]}
    n_walk, n_gap = int(fps), int(round(gap_s * fps))
    frames, embs = [], []
    for f in range(1, n_walk + n_gap + int(fps) + 1):
        people = [(2, 500.0, 50.0)]
        if f <= n_walk:
            people.append((1, 100 + speed * f / fps, 200.0))
        elif f > n_walk + n_gap:
            x = 100 + speed * n_walk / fps + (-120.0 if turn_back else 0.0)
            people.append((1, x, 200.0))
        dets = frame_boxes(f, people)
        frames.append(dets)
        e = np.stack([identity[int(p)] for p in dets["cls"]]) + 0.05 * rng.standard_normal((len(dets), 16))
        embs.append(e)
    return frames, embs
