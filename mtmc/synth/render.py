"""Drawing people into one camera's image, with exact ground-truth boxes and visibility.

Every body is drawn as a small premultiplied sprite (2x supersampled, blurred
more the farther it is), composited far-to-near together with the furniture
(painter's order).  A label buffer, larger than the image so that parts
outside it are counted too, records which object owns each pixel; a person's
visibility is (own pixels left visible inside the image) / (all own pixels).

Each person gets two boxes: the *tight* box, the bounds of the person's own
silhouette (sprite alpha >= 128) clipped to the image, as annotators draw boxes
(it ignores occluders, so its bottom stays at the feet); and the *full-extent*
box, symmetric about the projected ground point from head top to feet, whose
bottom centre is exactly the person's ground point.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from mtmc.boxes import from_xyxy
from mtmc.calibration import Camera
from mtmc.synth.background import raycast
from mtmc.synth.body import FACES, SHADE, Body, block_corners
from mtmc.synth.room import Room

SS = 2  # supersampling of small, sharp sprites (anti-aliased edges)
SS_MAX_HEIGHT = 160  # taller sprites are drawn at 1x: their jagged edges are small next to them
SHIFT = 4  # fractional bits of cv2 drawing coordinates
FURNITURE_LABEL = 255


@dataclass
class Sprite:
    """A premultiplied BGR patch with its alpha, placed at ``(x0, y0)`` in image pixels."""

    color: np.ndarray
    alpha: np.ndarray
    x0: int
    y0: int

    @property
    def rect(self) -> tuple[int, int, int, int]:
        h, w = self.alpha.shape
        return self.x0, self.y0, self.x0 + w, self.y0 + h


@functools.lru_cache(maxsize=4096)
def _shade(color: tuple[int, int, int], factor: float = 1.0) -> tuple[int, int, int, int]:
    """Opaque BGRA drawing colour (the alpha channel is drawn together with the colour)."""
    return (*(int(min(250, max(4, c * factor))) for c in color[:3]), 255)


_FACE_NAMES = list(FACES)
_FACE_IDX = np.array([FACES[f] for f in _FACE_NAMES])  # (6, 4)
_FACE_NEXT = np.roll(_FACE_IDX, -1, axis=1)
_FACE_SHADE = [SHADE[f] for f in _FACE_NAMES]


def _visible_faces(cuv: np.ndarray, blocks: list) -> list[np.ndarray]:
    """Per block, the indices of its faces turned towards the camera (positive image-space winding)."""
    if not blocks:
        return []
    first = np.array([b[0] for b in blocks])[:, None, None]
    quads, nxt = cuv[first + _FACE_IDX], cuv[first + _FACE_NEXT]  # (nb, 6, 4, 2)
    area = (quads[..., 0] * nxt[..., 1] - nxt[..., 0] * quads[..., 1]).sum(axis=2)
    return [np.flatnonzero(row > 0.5).tolist() for row in area]


def _draw_block(canvas: np.ndarray, cuv: np.ndarray, fixed: np.ndarray, block: tuple, faces: list[int]) -> None:
    """Draw the given faces of one box (``cuv`` in canvas pixels, ``fixed`` the same in cv2 fixed point)."""
    first, textures, color = block
    for f in faces:
        idx = first + _FACE_IDX[f]
        tex = textures.get(_FACE_NAMES[f])
        if tex is None:
            cv2.fillConvexPoly(canvas, fixed[idx], _shade(color, _FACE_SHADE[f]), cv2.LINE_8, SHIFT)
            continue
        quad = cuv[idx]
        th, tw = tex.shape[:2]
        x0, y0 = max(0, int(quad[:, 0].min())), max(0, int(quad[:, 1].min()))
        x1 = min(canvas.shape[1], int(quad[:, 0].max()) + 2)
        y1 = min(canvas.shape[0], int(quad[:, 1].max()) + 2)
        if x1 <= x0 or y1 <= y0:
            continue
        src = np.float32([[0, 0], [tw, 0], [tw, th], [0, th]])
        M = cv2.getPerspectiveTransform(src, (quad - [x0, y0]).astype(np.float32))
        roi = canvas[y0:y1, x0:x1]
        roi[:] = cv2.warpPerspective(tex, M, (x1 - x0, y1 - y0), dst=roi.copy(), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_TRANSPARENT)


def draw_body(body: Body, uv: np.ndarray, depth: np.ndarray, rpx: np.ndarray, blur: float,
              clip: tuple[int, int, int, int], lut: np.ndarray | None = None) -> Sprite | None:
    """Render ``body`` (its points projected to ``uv`` with pixel radii ``rpx``) as a sprite.

    ``clip`` bounds the sprite (image pixels, may extend past the image); ``blur`` >= 1
    softens it (1 = sharp); ``lut`` is the camera's colour response (it keeps black black).
    """
    lo = np.floor((uv - rpx[:, None]).min(axis=0)) - 2
    hi = np.ceil((uv + rpx[:, None]).max(axis=0)) + 2
    x0, y0 = int(max(lo[0], clip[0])), int(max(lo[1], clip[1]))
    x1, y1 = int(min(hi[0], clip[2])), int(min(hi[1], clip[3]))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    ss = SS if blur < 1.5 and y1 - y0 <= SS_MAX_HEIGHT else 1  # blurred sprites are smoothed by the resize
    canvas = np.zeros(((y1 - y0) * ss, (x1 - x0) * ss, 4), np.uint8)  # BGRA, premultiplied
    cuv = (uv - [x0, y0]) * ss + (ss - 1) / 2.0
    crad = rpx * ss
    fixed = np.round(cuv * (1 << SHIFT)).astype(np.int32)
    pts = [tuple(p) for p in fixed.tolist()]
    rfix = np.round(crad * (1 << SHIFT)).astype(np.int64).tolist()
    items = []  # (depth, kind, payload) drawn far to near
    for cap in body.capsules:
        items.append(((depth[cap[0]] + depth[cap[1]]) / 2, 0, cap))
    for sph in body.spheres:
        items.append((depth[sph[0]], 1, sph))
    faces = _visible_faces(cuv, body.blocks)
    for blk, vis in zip(body.blocks, faces):
        if vis:
            items.append((float(depth[blk[0]: blk[0] + 8].sum()) / 8, 2, (blk, vis)))
    if body.head:
        items.append((depth[body.head[0]], 3, body.head))
    items.sort(key=lambda it: -it[0])
    for _, kind, p in items:
        if kind == 0:
            i0, i1, _, color = p
            thick = max(1, int(round(crad[i0] + crad[i1])))
            cv2.line(canvas, pts[i0], pts[i1], _shade(color), thick, cv2.LINE_8, SHIFT)
        elif kind == 1:
            cv2.circle(canvas, pts[p[0]], rfix[p[0]], _shade(p[2]), -1, cv2.LINE_8, SHIFT)
        elif kind == 2:
            _draw_block(canvas, cuv, fixed, p[0], p[1])
        else:
            i_head, i_face, _, hair, skin = p
            cv2.circle(canvas, pts[i_head], rfix[i_head], _shade(hair), -1, cv2.LINE_8, SHIFT)
            if depth[i_face] < depth[i_head]:  # the face turns towards the camera
                cv2.circle(canvas, pts[i_face], int(rfix[i_head] * 0.72), _shade(skin), -1, cv2.LINE_8, SHIFT)
    w, h = x1 - x0, y1 - y0
    if blur > 1.05:  # far people: lose detail by going through a smaller image
        small = (max(1, int(round(w / blur))), max(1, int(round(h / blur))))
        canvas = cv2.resize(cv2.resize(canvas, small, interpolation=cv2.INTER_AREA), (w, h),
                            interpolation=cv2.INTER_LINEAR)
    elif ss > 1:
        canvas = cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA)
    color = cv2.cvtColor(canvas, cv2.COLOR_BGRA2BGR)
    if lut is not None:
        color = cv2.LUT(color, lut)
    return Sprite(color, np.ascontiguousarray(canvas[..., 3]), x0, y0)


def composite(image: np.ndarray, sprite: Sprite, label: np.ndarray | None = None, value: int = 0,
              margin: tuple[int, int] = (0, 0), noise: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Alpha-blend a premultiplied sprite into ``image``; mark its solid pixels in ``label``.

    ``label`` is the image padded by ``margin`` (mx, my) on every side; ``noise`` (int16, image
    sized, as (positive, negative) uint8 parts) is added where the sprite covers the image.
    """
    H, W = image.shape[:2]
    sx0, sy0, sx1, sy1 = sprite.rect
    if label is not None:
        mx, my = margin
        lx0, ly0 = max(sx0, -mx), max(sy0, -my)
        lx1, ly1 = min(sx1, W + mx), min(sy1, H + my)
        if lx1 > lx0 and ly1 > ly0:
            solid = sprite.alpha[ly0 - sy0: ly1 - sy0, lx0 - sx0: lx1 - sx0] >= 128
            label[ly0 + my: ly1 + my, lx0 + mx: lx1 + mx][solid] = value
    ix0, iy0, ix1, iy1 = max(sx0, 0), max(sy0, 0), min(sx1, W), min(sy1, H)
    if ix1 <= ix0 or iy1 <= iy0:
        return
    a = sprite.alpha[iy0 - sy0: iy1 - sy0, ix0 - sx0: ix1 - sx0]
    c = sprite.color[iy0 - sy0: iy1 - sy0, ix0 - sx0: ix1 - sx0]
    roi = image[iy0:iy1, ix0:ix1]
    inv = cv2.cvtColor(cv2.bitwise_not(a), cv2.COLOR_GRAY2BGR)
    out = cv2.add(cv2.multiply(roi, inv, scale=1.0 / 255.0), c)
    if noise is not None:
        covered = cv2.compare(a, 0, cv2.CMP_GT)
        pos, neg = noise
        cv2.add(out, pos[iy0:iy1, ix0:ix1], dst=out, mask=covered)
        cv2.subtract(out, neg[iy0:iy1, ix0:ix1], dst=out, mask=covered)
    roi[:] = out


class CameraView:
    """One camera's renderer: static background, furniture sprites, exposure and noise."""

    def __init__(self, cam: Camera, index: int, room: Room, seed: int, noise: float, blur: bool):
        self.cam, self.index = cam, index
        self.w, self.h = cam.image_size
        self.margin = (self.w // 4, self.h // 4)  # parts of people this far outside still count
        self.fx = float(cam.K[0, 0])
        self.center = cam.center
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 4242, index])
        bg = raycast(cam, room, seed)
        self.furniture: list[tuple[float, Sprite]] = []
        for item in room.furniture:
            sprite = self._furniture_sprite(item)
            if sprite is not None:
                d = float(np.linalg.norm(self.center - np.array([*item.center, 0.4])))
                self.furniture.append((d, sprite))
        for _, sprite in sorted(self.furniture, key=lambda t: -t[0]):
            composite(bg, sprite)
        # Per-camera exposure, white balance and gamma as one lookup table, applied to the static
        # background once and to each sprite as it is drawn; sensor noise as a cycle of frames.
        gain, gamma = rng.uniform(0.8, 1.2), rng.uniform(0.85, 1.15)
        balance = rng.uniform(0.92, 1.08, 3)
        v = np.arange(256) / 255.0
        lut = np.stack([np.clip(255 * (v**gamma) * gain * b, 0, 255) for b in balance], axis=1)
        lut = np.round(lut).astype(np.uint8)
        self.lut = lut.reshape(1, 256, 3)
        bg = cv2.LUT(bg, self.lut)
        for _, sprite in self.furniture:
            sprite.color = cv2.LUT(sprite.color, self.lut)
        # A short cycle of noise frames; the noisy backgrounds are made once.
        self.noise, self.backgrounds = [], [bg]
        if noise > 0:
            n = [np.round(rng.normal(0, noise, (self.h, self.w, 3))).astype(np.int16) for _ in range(5)]
            self.noise = [(np.clip(v, 0, 255).astype(np.uint8), np.clip(-v, 0, 255).astype(np.uint8)) for v in n]
            self.backgrounds = [np.clip(bg + v, 0, 255).astype(np.uint8) for v in n]
        self.focus = float(rng.uniform(0.9, 1.25)) if blur else 0.0

    def _furniture_sprite(self, item) -> Sprite | None:
        corners = np.concatenate([block_corners(b.center, b.half, b.yaw) for b in item.blocks])
        uv = self.cam.project(corners)
        if not np.isfinite(uv).all() or (self.cam.depth(corners) < 0.05).any():
            return None  # behind the camera: never in its view
        body = Body(points=list(corners))
        for k, b in enumerate(item.blocks):
            body.blocks.append((8 * k, {}, b.color))
        depth = self.cam.depth(corners)
        return draw_body(body, uv, depth, np.zeros(len(corners)), 1.0, (0, 0, self.w, self.h))

    def blur_for(self, distance: float) -> float:
        return max(1.0, self.focus * (1.0 + 0.3 * max(0.0, distance - 3.0))) if self.focus else 1.0

    def render(self, frame: int, bodies: list[Body], pids: list[int], ground: np.ndarray, sitting: np.ndarray,
               draw: bool = True) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """The camera image of one frame (None if ``draw`` is False), its tight gt boxes and, row for
        row, the same people's full-extent boxes (both clipped to the image)."""
        image = self.backgrounds[frame % len(self.backgrounds)].copy()
        noise = self.noise[frame % len(self.noise)] if self.noise else None
        mx, my = self.margin
        label = np.zeros((self.h + 2 * my, self.w + 2 * mx), np.uint8)
        clip = (-mx, -my, self.w + mx, self.h + my)
        placed: list[tuple[int, Sprite, np.ndarray]] = []  # (person index, sprite, full-extent box)
        order: list[tuple[float, int]] = [(d, -1 - k) for k, (d, _) in enumerate(self.furniture)]
        proj = []
        for k, body in enumerate(bodies):
            pts = body.array()
            uv = self.cam.project(pts)
            depth = self.cam.depth(pts)
            if not np.isfinite(uv).all() or depth.min() < 0.1:
                proj.append(None)
                continue
            proj.append((pts, uv, depth))
            pelvis = np.array([ground[k, 0], ground[k, 1], 0.9])
            order.append((float(np.linalg.norm(self.center - pelvis)) - 0.35 * sitting[k], k))
        order.sort(key=lambda t: -t[0])
        for dist, k in order:
            if k < 0:  # furniture: redraw only over people already drawn behind it
                sprite = self.furniture[-1 - k][1]
                if any(_overlap(sprite.rect, s.rect) for _, s, _ in placed):
                    composite(image, sprite, label, FURNITURE_LABEL, self.margin, noise)
                continue
            body = bodies[k]
            _, uv, depth = proj[k]
            rpx = np.zeros(len(uv))
            for i0, i1, r, _ in body.capsules:
                rpx[i0] = max(rpx[i0], self.fx * r / depth[i0])
                rpx[i1] = max(rpx[i1], self.fx * r / depth[i1])
            for i, r, _ in body.spheres:
                rpx[i] = self.fx * r / depth[i]
            rpx[body.head[0]] = self.fx * body.head[2] / depth[body.head[0]]
            sprite = draw_body(body, uv, depth, rpx, self.blur_for(dist), clip, self.lut)
            if sprite is None:
                continue
            composite(image, sprite, label, len(placed) + 1, self.margin, noise)
            placed.append((k, sprite, self._box(body, uv, rpx)))
        tight, full = self._boxes(placed, label, pids, ground)
        return (image if draw else None), tight, full

    @staticmethod
    def _box(body: Body, uv: np.ndarray, rpx: np.ndarray) -> np.ndarray:
        """x1, y1, x2, y2 (unclipped): symmetric about the projected ground point, from head top to feet."""
        uf, vf = uv[body.ground]
        half = float(np.max(np.abs(uv[:, 0] - uf) + rpx))
        top = float(np.min(uv[:, 1] - rpx))
        return np.array([uf - half, top, uf + half, vf])

    def silhouette_box(self, sprite: Sprite) -> np.ndarray | None:
        """x1, y1, x2, y2 bounds (pixel edges) of the sprite's solid pixels inside the image, or None."""
        sx0, sy0, sx1, sy1 = sprite.rect
        x0, y0, x1, y1 = max(sx0, 0), max(sy0, 0), min(sx1, self.w), min(sy1, self.h)
        if x1 <= x0 or y1 <= y0:
            return None
        solid = sprite.alpha[y0 - sy0: y1 - sy0, x0 - sx0: x1 - sx0] >= 128
        cols, rows = np.flatnonzero(solid.any(axis=0)), np.flatnonzero(solid.any(axis=1))
        if not len(cols):
            return None
        return np.array([x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1], float)

    def _boxes(self, placed, label: np.ndarray, pids: list[int], ground: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """Tight and full-extent gt boxes of the placed people (same rows; people off the image dropped)."""
        mx, my = self.margin
        inner = label[my: my + self.h, mx: mx + self.w]
        rows = []
        for slot, (k, sprite, box) in enumerate(placed, start=1):
            total = int(np.count_nonzero(sprite.alpha >= 128))
            x0, y0, x1, y1 = sprite.rect
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.w), min(y1, self.h)
            seen = int(np.count_nonzero(inner[y0:y1, x0:x1] == slot)) if x1 > x0 and y1 > y0 else 0
            vis = seen / total if total else 0.0
            tight = self.silhouette_box(sprite)
            full = np.clip(box, 0.0, [self.w, self.h, self.w, self.h])
            if tight is None or full[2] - full[0] < 1 or full[3] - full[1] < 1:
                continue
            rows.append((pids[k], *tight, *full, vis, ground[k, 0], ground[k, 1]))
        arr = np.array(rows, float).reshape(-1, 12)
        out = []
        for cols in (slice(1, 5), slice(5, 9)):
            b = from_xyxy(arr[:, cols], id=arr[:, 0].astype(np.int64), vis=arr[:, 9], gx=arr[:, 10],
                          gy=arr[:, 11], camera=self.index, cls=1)
            out.append(b)
        return out[0], out[1]


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
