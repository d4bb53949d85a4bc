"""The room: walls, door, furniture and the calibrated corner cameras.

World frame: x along the room's width, y along its depth, z up, the floor is
``z = 0``, metres.  The "south" wall is ``y = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mtmc.calibration import Camera, look_at
from mtmc.synth.config import SynthConfig


@dataclass
class Block:
    """An oriented box: centre, yaw about z, half sizes along its own x, y, z; flat colour (BGR)."""

    center: tuple[float, float, float]
    half: tuple[float, float, float]
    yaw: float
    color: tuple[int, int, int]


@dataclass
class Furniture:
    """A table or chair: the blocks drawn, its floor footprint (for walking around it) and a seat."""

    kind: str  # "table" | "chair"
    center: tuple[float, float]
    radius: float  # footprint as a disc, metres
    blocks: list[Block] = field(default_factory=list)
    seat_heading: float = 0.0  # direction a seated person faces (radians, world)


@dataclass
class Room:
    """Geometry shared by the simulation and the renderer."""

    size: tuple[float, float]
    height: float
    door_center: tuple[float, float]  # on the wall line
    door_inward: tuple[float, float]  # unit vector pointing into the room
    door_width: float
    door_wall: str
    furniture: list[Furniture]

    @property
    def entry_point(self) -> np.ndarray:
        """Where people appear / vanish: just inside the doorway."""
        return np.asarray(self.door_center) + 0.25 * np.asarray(self.door_inward)

    @property
    def chairs(self) -> list[Furniture]:
        return [f for f in self.furniture if f.kind == "chair"]


def _box(center, half, yaw, color) -> Block:
    return Block(tuple(map(float, center)), tuple(map(float, half)), float(yaw), tuple(int(c) for c in color))


def _table(cx: float, cy: float, yaw: float, color) -> Furniture:
    c, s = np.cos(yaw), np.sin(yaw)
    blocks = [_box((cx, cy, 0.745), (0.6, 0.35, 0.02), yaw, color)]
    for sx, sy in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        lx, ly = 0.55 * sx, 0.3 * sy
        blocks.append(_box((cx + c * lx - s * ly, cy + s * lx + c * ly, 0.36), (0.025, 0.025, 0.365), yaw, (60, 60, 60)))
    return Furniture("table", (cx, cy), 0.72, blocks)


def _chair(cx: float, cy: float, facing: float, color) -> Furniture:
    """A chair whose sitter faces ``facing``; the backrest is behind the seat."""
    c, s = np.cos(facing), np.sin(facing)
    blocks = [_box((cx, cy, 0.445), (0.22, 0.22, 0.025), facing, color)]
    for lx, ly in ((0.19, 0.19), (0.19, -0.19), (-0.19, 0.19), (-0.19, -0.19)):
        blocks.append(_box((cx + c * lx - s * ly, cy + s * lx + c * ly, 0.21), (0.018, 0.018, 0.21), facing, (50, 50, 50)))
    bx, by = cx - 0.2 * c, cy - 0.2 * s
    blocks.append(_box((bx, by, 0.69), (0.025, 0.22, 0.22), facing, color))
    return Furniture("chair", (cx, cy), 0.32, blocks, seat_heading=float(facing))


def build_room(cfg: SynthConfig) -> Room:
    """Room, door and a furniture layout scaled to the room size (two tables with chairs)."""
    lx, ly = cfg.room
    wall = cfg.door_wall
    frac = cfg.door_position
    door, inward = {
        "south": ((frac * lx, 0.0), (0.0, 1.0)),
        "north": ((frac * lx, ly), (0.0, -1.0)),
        "west": ((0.0, frac * ly), (1.0, 0.0)),
        "east": ((lx, frac * ly), (-1.0, 0.0)),
    }[wall]
    furniture: list[Furniture] = []
    if cfg.furniture:
        wood = [(60, 105, 150), (80, 120, 140)]
        seat = [(40, 40, 120), (110, 80, 40)]
        # Tables off the straight line from the door, chairs on their long sides facing the table.
        for k, (fx, fy) in enumerate(((0.27, 0.68), (0.73, 0.4))):
            tx, ty = fx * lx, fy * ly
            if np.hypot(tx - door[0], ty - door[1]) < 1.6:
                continue
            furniture.append(_table(tx, ty, 0.0, wood[k]))
            for side in (-1, 1):
                furniture.append(_chair(tx, ty + side * 0.62, -side * np.pi / 2, seat[k]))
    return Room((lx, ly), cfg.room_height, door, inward, cfg.door_width, wall, furniture)


def camera_positions(cfg: SynthConfig) -> list[tuple[float, float]]:
    """Corners first (opposite corners paired for overlap), then wall midpoints."""
    lx, ly = cfg.room
    inset = 0.08
    spots = [
        (inset, inset), (lx - inset, ly - inset), (lx - inset, inset), (inset, ly - inset),
        (lx / 2, inset), (lx / 2, ly - inset), (inset, ly / 2), (lx - inset, ly / 2),
    ]
    return spots[: cfg.cameras]


def build_cameras(cfg: SynthConfig, rng: np.random.Generator) -> dict[str, Camera]:
    """Calibrated pinhole cameras looking into the room, each with its own height, aim and focal length."""
    w, h = cfg.size
    lx, ly = cfg.room
    cams: dict[str, Camera] = {}
    for name, (x, y) in zip(cfg.camera_names, camera_positions(cfg)):
        z = rng.uniform(*cfg.camera_height)
        target = np.array([lx / 2 + rng.uniform(-0.4, 0.4), ly / 2 + rng.uniform(-0.4, 0.4), rng.uniform(0.0, 0.4)])
        R, t = look_at(np.array([x, y, z]), target)
        f = cfg.focal * w * rng.uniform(0.95, 1.05)
        K = np.array([[f, 0, w / 2 + rng.uniform(-4, 4)], [0, f, h / 2 + rng.uniform(-4, 4)], [0, 0, 1.0]])
        dist = np.array([cfg.distortion, 0.0, 0.0, 0.0, 0.0])
        cams[name] = Camera.from_krt(name, K, dist, R, t, (w, h))
    return cams
