"""Who is where: people enter through the door, walk, pause, sit, leave and come back.

The simulation steps at the video frame rate and records, per frame and
person, the ground position of the pelvis, the body heading, the gait phase,
how much the person is walking (0..1) and sitting (0..1).  Walking uses a
small social-force model: pull towards the current goal, push away from
walls, furniture and other people, with inertia so paths are smooth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtmc.synth.appearance import Identity
from mtmc.synth.config import SynthConfig
from mtmc.synth.room import Room, camera_positions

SIT_TIME = 0.8  # seconds to sit down or stand up


@dataclass
class Motion:
    """Per-frame state, arrays of shape (num_frames, num_people); row f is frame f + 1."""

    present: np.ndarray  # bool
    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray  # radians, world
    phase: np.ndarray  # gait phase, radians
    walk: np.ndarray  # 0 standing .. 1 walking
    sit: np.ndarray  # 0 standing .. 1 seated

    def intervals(self, person: int) -> list[tuple[int, int]]:
        """1-based inclusive frame intervals during which ``person`` (0-based) is in the room."""
        p = np.concatenate([[False], self.present[:, person], [False]]).astype(np.int8)
        d = np.diff(p)
        return list(zip((np.flatnonzero(d == 1) + 1).tolist(), np.flatnonzero(d == -1).tolist()))


class _Person:
    def __init__(self, ident: Identity):
        self.ident = ident
        self.inside = False
        self.pos = np.zeros(2)
        self.vel = np.zeros(2)
        self.heading = 0.0
        self.phase = 0.0
        self.sit = 0.0
        self.next_entry = np.inf
        self.leave_at = np.inf
        self.task: str = "walk"  # walk | pause | to_chair | sitting | standing | leave
        self.goal = np.zeros(2)
        self.until = 0.0  # end time of a pause / sit
        self.chair: int | None = None
        self.task_start = 0.0


class Simulator:
    """Steps every person frame by frame; :meth:`run` returns the whole :class:`Motion`."""

    def __init__(self, cfg: SynthConfig, room: Room, identities: list[Identity], rng: np.random.Generator):
        self.cfg, self.room, self.rng = cfg, room, rng
        self.dt = 1.0 / cfg.fps
        self.people = [_Person(i) for i in identities]
        self.chair_taken: dict[int, int] = {}
        self.last_entry = -np.inf
        self.last_exit = -np.inf
        lx, ly = room.size
        self.cams = np.asarray(camera_positions(cfg))
        self.tables = [f for f in room.furniture if f.kind == "table"]
        self._start(lx, ly)

    # -- set-up ---------------------------------------------------------------------------------

    def _start(self, lx: float, ly: float) -> None:
        n0 = min(self.cfg.initial_present, self.cfg.max_present, len(self.people))
        for p in self.people[:n0]:
            p.inside = True
            p.pos = self._free_point()
            p.heading = float(self.rng.uniform(-np.pi, np.pi))
            lo, hi = self.cfg.visit_seconds
            p.leave_at = float(self.rng.uniform(0.3, 1.0) * self.rng.uniform(lo, hi))
            self._next_task(p, 0.0)
        t = 0.0
        for p in self.people[n0:]:  # the others arrive one after another
            t += float(self.rng.uniform(0.5, 4.0))
            p.next_entry = t

    def _free_point(self) -> np.ndarray:
        """A random walkable point away from walls, furniture and the cameras' own corners."""
        lx, ly = self.room.size
        for _ in range(200):
            q = np.array([self.rng.uniform(0.5, lx - 0.5), self.rng.uniform(0.5, ly - 0.5)])
            if any(np.hypot(*(q - f.center)) < f.radius + 0.35 for f in self.room.furniture):
                continue
            if np.min(np.hypot(*(self.cams - q).T)) < 1.2:
                continue
            return q
        return np.array([lx / 2, ly / 2])

    # -- behaviour ------------------------------------------------------------------------------

    def _next_task(self, p: _Person, t: float) -> None:
        p.task_start = t
        if t >= p.leave_at:
            p.task, p.goal = "leave", self.room.entry_point.copy()
            return
        r = self.rng.random()
        free = [i for i in range(len(self.room.chairs)) if i not in self.chair_taken]
        if r < self.cfg.sit_probability and free:
            p.chair = int(free[self.rng.integers(len(free))])
            self.chair_taken[p.chair] = id(p)
            p.task, p.goal = "to_chair", np.asarray(self.room.chairs[p.chair].center, float)
        elif r < self.cfg.sit_probability + self.cfg.pause_probability:
            p.task, p.until = "pause", t + float(self.rng.uniform(1.5, 5.0))
        else:
            p.task, p.goal = "walk", self._free_point()

    def _enter(self, p: _Person, t: float) -> None:
        p.inside = True
        p.pos = self.room.entry_point.copy()
        inward = np.asarray(self.room.door_inward)
        p.vel = inward * 0.5
        p.heading = float(np.arctan2(inward[1], inward[0]))
        p.sit = 0.0
        p.leave_at = t + float(self.rng.uniform(*self.cfg.visit_seconds))
        self.last_entry = t
        p.task, p.goal, p.task_start = "walk", self._free_point(), t

    def _exit(self, p: _Person, t: float) -> None:
        p.inside = False
        p.vel[:] = 0
        p.next_entry = t + float(self.rng.uniform(*self.cfg.away_seconds))
        self.last_exit = t

    def _in_doorway(self, pos: np.ndarray) -> bool:
        """Close enough to the door to step out of the room."""
        rel = pos - np.asarray(self.room.door_center)
        inward = np.asarray(self.room.door_inward)
        depth = float(rel @ inward)
        across = float(np.hypot(*(rel - depth * inward)))
        return depth < 0.45 and across < self.room.door_width / 2 - 0.1

    def _door_clear(self) -> bool:
        entry = self.room.entry_point
        return all(np.hypot(*(q.pos - entry)) > 0.8 for q in self.people if q.inside)

    # -- physics --------------------------------------------------------------------------------

    def _force(self, p: _Person, goal: np.ndarray, speed: float) -> np.ndarray:
        d = goal - p.pos
        dist = float(np.hypot(*d))
        want = d / max(dist, 1e-6) * speed * min(1.0, dist / 0.6)
        push = np.zeros(2)
        lx, ly = self.room.size
        near_door = p.task == "leave" or float(np.hypot(*(p.pos - self.room.entry_point))) < 0.9
        for dist_w, normal in ((p.pos[0], (1, 0)), (lx - p.pos[0], (-1, 0)), (p.pos[1], (0, 1)), (ly - p.pos[1], (0, -1))):
            if dist_w < 0.5 and not near_door:
                push += np.asarray(normal) * 1.5 * (0.5 - dist_w) / 0.5
        seated_goal = p.task == "to_chair" and dist < 1.2
        own_chair = self.room.chairs[p.chair] if p.chair is not None else None
        for f in self.room.furniture:
            if seated_goal and (f.kind == "table" or f is own_chair):
                continue  # let the person slip between the table and their chair
            away = p.pos - np.asarray(f.center)
            gap = float(np.hypot(*away)) - f.radius
            if gap < 0.45:
                push += away / max(np.hypot(*away), 1e-6) * 1.8 * (0.45 - gap) / 0.45
        at_door = p.task == "leave" and float(np.hypot(*(p.pos - self.room.entry_point))) < 1.5
        for q in self.people:
            if q is p or not q.inside or at_door:  # people leaving squeeze through: no door deadlocks
                continue
            away = p.pos - q.pos
            gap = float(np.hypot(*away))
            if gap < 0.9:
                push += away / max(gap, 1e-6) * 1.2 * (0.9 - gap) / 0.9
        return want + push * speed

    def _move(self, p: _Person, goal: np.ndarray, speed: float) -> float:
        """Advance one step towards ``goal``; returns the distance left."""
        target_vel = self._force(p, goal, speed)
        p.vel += (target_vel - p.vel) * min(1.0, self.dt / 0.35)
        v = float(np.hypot(*p.vel))
        if v > 1.3 * speed:
            p.vel *= 1.3 * speed / v
            v = 1.3 * speed
        p.pos = p.pos + p.vel * self.dt
        lx, ly = self.room.size
        p.pos = np.clip(p.pos, [0.2, 0.2], [lx - 0.2, ly - 0.2])
        if v > 0.15:
            self._turn(p, float(np.arctan2(p.vel[1], p.vel[0])), 5.0)
        stride = 1.5 * p.ident.height / 1.75  # metres per full gait cycle
        p.phase = (p.phase + 2 * np.pi * v * self.dt / stride) % (2 * np.pi)
        return float(np.hypot(*(goal - p.pos)))

    def _turn(self, p: _Person, target: float, rate: float) -> None:
        diff = (target - p.heading + np.pi) % (2 * np.pi) - np.pi
        step = rate * self.dt
        p.heading = float(p.heading + np.clip(diff, -step, step))

    def _brake(self, p: _Person) -> None:
        p.vel *= max(0.0, 1.0 - self.dt / 0.25)

    def _step(self, p: _Person, t: float) -> None:
        speed = p.ident.speed
        if p.task in ("walk", "leave"):
            left = self._move(p, p.goal, speed)
            if p.task == "leave" and (self._in_doorway(p.pos) or t - p.task_start > 30.0):
                self._exit(p, t)
            elif p.task == "walk" and (left < 0.3 or t - p.task_start > 20.0):
                self._next_task(p, t)
            elif p.task == "walk" and t >= p.leave_at:
                self._next_task(p, t)
        elif p.task == "pause":
            self._brake(p)
            if t >= p.until or t >= p.leave_at:
                self._next_task(p, t)
        elif p.task == "to_chair":
            left = self._move(p, p.goal, speed)
            if left < 0.12:
                p.task, p.until, p.vel[:] = "sitting", t + float(self.rng.uniform(4.0, 15.0)), 0.0
            elif t - p.task_start > 20.0:
                self._release(p)
                self._next_task(p, t)
        elif p.task == "sitting":
            chair = self.room.chairs[p.chair]
            p.pos += (np.asarray(chair.center) - p.pos) * min(1.0, self.dt / 0.3)
            self._turn(p, chair.seat_heading, 3.0)
            p.sit = min(1.0, p.sit + self.dt / SIT_TIME)
            if t >= p.until or t >= p.leave_at:
                p.task = "standing"
        elif p.task == "standing":
            p.sit = max(0.0, p.sit - self.dt / SIT_TIME)
            if p.sit <= 0.0:
                self._release(p)
                self._next_task(p, t)

    def _release(self, p: _Person) -> None:
        if p.chair is not None:
            self.chair_taken.pop(p.chair, None)
            p.chair = None

    # -- main loop ------------------------------------------------------------------------------

    def run(self, num_frames: int) -> Motion:
        n = len(self.people)
        arrays = {k: np.zeros((num_frames, n), np.float64) for k in ("x", "y", "heading", "phase", "walk", "sit")}
        present = np.zeros((num_frames, n), bool)
        for f in range(num_frames):
            t = f * self.dt
            inside = sum(p.inside for p in self.people)
            for p in self.people:
                if p.inside:
                    self._step(p, t)
                elif (p.next_entry <= t and inside < self.cfg.max_present
                      and t - self.last_entry >= self.cfg.entry_gap and t - self.last_exit >= self.cfg.entry_gap
                      and self._door_clear()):
                    # Nobody steps in where somebody just stepped out: a swap at the door would be
                    # a teleport, not a scene any tracker or camera could disambiguate.
                    self._enter(p, t)
                    inside += 1
            for k, p in enumerate(self.people):
                if not p.inside:
                    continue
                present[f, k] = True
                arrays["x"][f, k], arrays["y"][f, k] = p.pos
                arrays["heading"][f, k] = p.heading
                arrays["phase"][f, k] = p.phase
                arrays["walk"][f, k] = min(1.0, float(np.hypot(*p.vel)) / 0.7) * (1.0 - p.sit)
                arrays["sit"][f, k] = p.sit
        return Motion(present=present, **arrays)


def simulate(cfg: SynthConfig, room: Room, identities: list[Identity]) -> Motion:
    """Run the whole scene's motion (deterministic for ``cfg.seed``)."""
    rng = np.random.default_rng([int(cfg.seed) & 0xFFFFFFFF, 31337])
    return Simulator(cfg, room, identities, rng).run(cfg.num_frames)
