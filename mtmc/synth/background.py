"""Static background of one camera: floor, walls, door and ceiling by ray casting, then furniture.

Each pixel's viewing ray (lens distortion removed through the camera model) is
intersected with the room's planes, all pixels at once, at 2x supersampling.
"""

from __future__ import annotations

import cv2
import numpy as np

from mtmc.calibration import Camera
from mtmc.synth.room import Room

WALL_COLORS = [(200, 212, 218), (190, 200, 195), (205, 200, 190), (185, 195, 210)]  # south, east, north, west


def _hash(a: np.ndarray, b: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer cell (a, b)."""
    h = (a.astype(np.int64) * 73856093) ^ (b.astype(np.int64) * 19349663) ^ (salt * 83492791)
    return ((h % 1000) + 1000) % 1000 / 1000.0


def _floor(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    tile = 0.5
    tx, ty = np.floor(x / tile), np.floor(y / tile)
    fx, fy = x / tile - tx, y / tile - ty
    base = np.array([150.0, 165.0, 175.0])
    shade = 0.9 + 0.15 * _hash(tx, ty, seed)
    out = base[None] * shade[:, None]
    grout = (np.minimum(fx, 1 - fx) < 0.025) | (np.minimum(fy, 1 - fy) < 0.025)
    out[grout] = (105, 110, 115)
    return out


def _wall(along: np.ndarray, z: np.ndarray, wall: int, room: Room) -> np.ndarray:
    out = np.empty((len(z), 3))
    out[:] = WALL_COLORS[wall]
    out *= (0.88 + 0.12 * np.clip(z / room.height, 0, 1))[:, None]  # lighter towards the ceiling
    out[z < 0.1] = (70, 75, 80)  # skirting board
    length = room.size[0] if wall in (0, 2) else room.size[1]
    # Landmarks that tell the walls apart: a window, a poster, a whiteboard.
    if wall == 1:
        sel = (np.abs(along - length * 0.5) < 0.7) & (z > 1.0) & (z < 2.1)
        out[sel] = (235, 215, 180)
        frame = sel & ((np.abs(np.abs(along - length * 0.5) - 0.7) < 0.05) | (np.abs(z - 1.55) < 0.03))
        out[frame] = (240, 240, 240)
    elif wall == 2:
        sel = (np.abs(along - length * 0.3) < 0.35) & (z > 1.2) & (z < 2.0)
        stripes = (np.floor((along - length * 0.3) / 0.14) % 3).astype(int)
        out[sel] = np.array([(40, 60, 200), (60, 160, 60), (200, 120, 40)])[stripes[sel]]
    elif wall == 3:
        sel = (np.abs(along - length * 0.6) < 0.8) & (z > 1.0) & (z < 1.9)
        out[sel] = (245, 245, 245)
        edge = sel & ((np.abs(np.abs(along - length * 0.6) - 0.8) < 0.03) | (np.abs(np.abs(z - 1.45) - 0.45) < 0.03))
        out[edge] = (150, 150, 150)
    return out


def _door(along: np.ndarray, z: np.ndarray, room: Room, wall: int, out: np.ndarray) -> None:
    centre = room.door_center[0] if wall in (0, 2) else room.door_center[1]
    half = room.door_width / 2
    d = np.abs(along - centre)
    frame = (d < half + 0.07) & (z < 2.17)
    out[frame] = (60, 75, 95)
    leaf = (d < half) & (z < 2.1)
    out[leaf] = (70, 110, 150)
    handle = (np.abs(along - (centre + half * 0.75)) < 0.04) & (np.abs(z - 1.0) < 0.03)
    out[handle] = (180, 180, 190)


def raycast(cam: Camera, room: Room, seed: int, supersample: int = 2) -> np.ndarray:
    """(H, W, 3) uint8 BGR image of the empty room seen by ``cam``."""
    w, h = cam.image_size
    s = supersample
    us, vs = np.meshgrid((np.arange(w * s) + 0.5) / s - 0.5, (np.arange(h * s) + 0.5) / s - 0.5)
    uv = cam.undistort(np.stack([us.ravel(), vs.ravel()], axis=1)).astype(np.float32)
    # World ray of each pixel: R^T K^-1 [u, v, 1], column by column (much faster than an (N,3) matmul).
    A = (cam.R.T @ np.linalg.inv(cam.K)).astype(np.float32)
    rays = [A[i, 0] * uv[:, 0] + A[i, 1] * uv[:, 1] + A[i, 2] for i in range(3)]
    c = cam.center
    lx, ly = room.size
    # Planes as (axis, coordinate): floor, ceiling, south, east, north, west; keep the nearest hit.
    planes = [(2, 0.0), (2, room.height), (1, 0.0), (0, lx), (1, ly), (0, 0.0)]
    reach = np.full(len(uv), np.inf, np.float32)
    which = np.zeros(len(uv), np.int8)
    with np.errstate(divide="ignore", invalid="ignore"):
        for k, (axis, value) in enumerate(planes):
            s_k = np.float32(value - c[axis]) / rays[axis]
            ok = (s_k > 0) & (s_k < reach)
            reach[ok] = s_k[ok]
            which[ok] = k
    hit = np.stack([c[i] + rays[i] * reach for i in range(3)], axis=1)
    img = np.zeros((len(uv), 3), np.float32)
    sel = which == 0
    img[sel] = _floor(hit[sel, 0], hit[sel, 1], seed)
    sel = which == 1
    img[sel] = (232, 232, 228)
    door_wall = {"south": 0, "east": 1, "north": 2, "west": 3}[room.door_wall]
    for wall in range(4):
        sel = which == wall + 2
        along = hit[sel, 0] if wall in (0, 2) else hit[sel, 1]
        img[sel] = _wall(along, hit[sel, 2], wall, room)
        if wall == door_wall:
            part = img[sel]
            _door(along, hit[sel, 2], room, wall, part)
            img[sel] = part
    img = img.reshape(h * s, w * s, 3)
    if s > 1:
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)
