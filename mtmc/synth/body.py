"""An articulated body in world coordinates: capsules (limbs), spheres (head, hands), blocks (torso, bag).

The body frame has x forward, y to the person's left, z up; proportions scale
with the identity's height and build.  Arms and legs swing with the gait
phase; sitting bends hips and knees and lowers the pelvis onto the seat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mtmc.synth.appearance import Identity

SEAT_TOP = 0.47  # metres, the chairs' seat surface
# Block corner k has local signs (x: bit 0, y: bit 1, z: bit 2).  Faces list corners
# top-left, top-right, bottom-right, bottom-left as seen from outside the block.
FACES = {
    "front": (5, 7, 3, 1),
    "back": (6, 4, 0, 2),
    "left": (7, 6, 2, 3),
    "right": (4, 5, 1, 0),
    "top": (7, 5, 4, 6),
    "bottom": (2, 0, 1, 3),
}
_SIGNS = np.array([[1 if k & 1 else -1, 1 if k & 2 else -1, 1 if k & 4 else -1] for k in range(8)], float)
SHADE = {"front": 1.0, "back": 0.92, "left": 0.8, "right": 0.8, "top": 1.12, "bottom": 0.6}


def block_corners(center, half, yaw: float) -> np.ndarray:
    """(8, 3) corners of an oriented box (corner order as in :data:`FACES`)."""
    c, s = np.cos(yaw), np.sin(yaw)
    local = _SIGNS * np.asarray(half, float)
    out = np.empty((8, 3))
    out[:, 0] = center[0] + c * local[:, 0] - s * local[:, 1]
    out[:, 1] = center[1] + s * local[:, 0] + c * local[:, 1]
    out[:, 2] = center[2] + local[:, 2]
    return out


@dataclass
class Body:
    """Points to project plus the primitives that reference them (indices into ``points``)."""

    points: list = field(default_factory=list)  # 3D points, turned into an (M, 3) array by :meth:`array`
    capsules: list = field(default_factory=list)  # (i0, i1, radius_m, color)
    spheres: list = field(default_factory=list)  # (i, radius_m, color)
    blocks: list = field(default_factory=list)  # (first corner index, {face: texture or None}, color)
    head: tuple = ()  # (centre index, face-point index, radius_m, hair, skin)
    ground: int = 0  # index of the ground point under the pelvis
    top: int = 0  # index of the top of the head

    def add(self, p) -> int:
        self.points.append(p)
        return len(self.points) - 1

    def add_block(self, center, half, yaw, textures: dict, color) -> None:
        first = len(self.points)
        self.points.extend(block_corners(center, half, yaw))
        self.blocks.append((first, textures, color))

    def array(self) -> np.ndarray:
        return np.asarray(self.points, float).reshape(-1, 3)


def _limb(origin, angle_fwd: float, length: float, fwd, up) -> np.ndarray:
    """End point of a limb of ``length`` hanging from ``origin``, swung ``angle_fwd`` forward."""
    return origin + length * (np.sin(angle_fwd) * fwd - np.cos(angle_fwd) * up)


def build_body(ident: Identity, x: float, y: float, heading: float, phase: float, walk: float, sit: float) -> Body:
    """The 3D body of ``ident`` standing / walking / sitting at ground point (x, y)."""
    H, b = ident.height, ident.build
    fwd = np.array([np.cos(heading), np.sin(heading), 0.0])
    left = np.array([-np.sin(heading), np.cos(heading), 0.0])
    up = np.array([0.0, 0.0, 1.0])
    thigh, shin, ankle = 0.245 * H, 0.245 * H, 0.04 * H
    r_thigh, r_shin = 0.036 * H * b, 0.028 * H * b
    hip_w, sh_w = 0.055 * H * b, 0.105 * H * b

    # Leg angles: swing while walking, thighs horizontal and shins vertical when seated.
    swing = np.radians(24.0) * walk * np.sin(phase)
    legs = []
    for sgn in (1.0, -1.0):  # left, right
        th = sgn * swing
        knee = walk * np.radians(35.0) * max(0.0, -np.cos(phase if sgn > 0 else phase + np.pi))
        th = (1 - sit) * th + sit * np.radians(88.0)
        kn = (1 - sit) * knee + sit * np.radians(88.0)
        legs.append((sgn, th, kn))
    reach = max(thigh * np.cos(th) + shin * np.cos(th - kn) for _, th, kn in legs) + ankle
    hip_z = (1 - sit) * reach + sit * (SEAT_TOP + r_thigh)
    pelvis = np.array([x, y, hip_z])

    body = Body()
    body.ground = body.add(np.array([x, y, 0.0]))
    for sgn, th, kn in legs:
        hip = pelvis + sgn * hip_w * left
        knee_p = _limb(hip, th, thigh, fwd, up)
        ankle_p = _limb(knee_p, th - kn, shin, fwd, up)
        ankle_p[2] = max(ankle_p[2], ankle)  # feet never sink into the floor
        i_hip, i_knee, i_ank = body.add(hip), body.add(knee_p), body.add(ankle_p)
        body.capsules.append((i_hip, i_knee, r_thigh, ident.trousers))
        body.capsules.append((i_knee, i_ank, r_shin, ident.skin if ident.shorts else ident.trousers))
        shoe_c = ankle_p + fwd * 0.035 * H - up * (ankle_p[2] - 0.018 * H)
        body.add_block(shoe_c, (0.065 * H, 0.022 * H * b, 0.018 * H), heading, {}, ident.shoes)

    # Pelvis and torso blocks; torso faces carry the clothing textures.
    torso_h = 0.285 * H
    torso_d = 0.055 * H * b
    lean = -0.04 * sit  # a little backwards when seated
    base = pelvis + up * 0.0
    body.add_block(base - up * 0.03 * H, (torso_d * 0.95, hip_w + r_thigh, 0.035 * H), heading, {}, ident.trousers)
    torso_c = base + up * (torso_h / 2 + 0.005 * H) + fwd * lean
    tex = {"front": ident.front_tex, "back": ident.back_tex, "left": ident.side_tex, "right": ident.side_tex}
    body.add_block(torso_c, (torso_d, sh_w, torso_h / 2), heading, tex, ident.shirt)
    shoulder_z = torso_c[2] + torso_h / 2 - 0.03 * H
    if ident.backpack is not None:
        bag_c = torso_c - fwd * (torso_d + 0.045 * H) + up * 0.02 * H
        body.add_block(bag_c, (0.04 * H, sh_w * 0.7, torso_h * 0.36), heading, {}, ident.backpack)

    # Arms swing opposite to the legs; seated hands rest on the thighs.
    upper, fore, r_arm = 0.18 * H, 0.16 * H, 0.024 * H * b
    arm_swing = np.radians(20.0) * walk * np.sin(phase)
    for sgn in (1.0, -1.0):
        sh = np.array([torso_c[0], torso_c[1], shoulder_z]) + sgn * (sh_w + r_arm * 0.8) * left
        a = (1 - sit) * (-sgn * arm_swing) + sit * np.radians(25.0)
        elbow = _limb(sh, a, upper, fwd, up)
        bend = (1 - sit) * (np.radians(12.0) + max(0.0, -sgn * arm_swing)) + sit * np.radians(75.0)
        wrist = _limb(elbow, a + bend, fore, fwd, up)
        i_sh, i_el, i_wr = body.add(sh), body.add(elbow), body.add(wrist)
        body.capsules.append((i_sh, i_el, r_arm, ident.shirt))
        body.capsules.append((i_el, i_wr, r_arm * 0.85, ident.shirt if ident.long_sleeves else ident.skin))
        body.spheres.append((i_wr, r_arm * 1.1, ident.skin))

    # Neck and head; the face point tells the renderer which way the head looks.
    r_head = 0.062 * H
    neck_top = np.array([torso_c[0], torso_c[1], torso_c[2] + torso_h / 2 + 0.03 * H])
    i_nb = body.add(np.array([torso_c[0], torso_c[1], torso_c[2] + torso_h / 2 - 0.01 * H]))
    i_nt = body.add(neck_top)
    body.capsules.append((i_nb, i_nt, 0.025 * H, ident.skin))
    head_c = neck_top + up * (r_head * 0.85) + fwd * 0.01 * H
    i_head = body.add(head_c)
    i_face = body.add(head_c + fwd * r_head * 0.4 - up * r_head * 0.12)
    body.head = (i_head, i_face, r_head, ident.hair, ident.skin)
    body.top = body.add(head_c + up * r_head)
    return body
