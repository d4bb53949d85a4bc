"""Identity appearance: body shape, clothing colours, patterns, prints, bags.

Each identity is generated from ``(seed, index)`` alone, so any number of
distinct people can be produced and the same index always looks the same.
Colours come from a small palette of everyday clothing colours on purpose:
many people share a shirt colour, so a colour histogram alone cannot tell
them apart - patterns, prints, trousers, bags and body shape must.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# BGR everyday clothing colours.
SHIRT_PALETTE = {
    "black": (35, 35, 35), "white": (225, 225, 225), "grey": (125, 125, 125), "navy": (85, 40, 25),
    "blue": (175, 105, 45), "lightblue": (215, 175, 125), "red": (45, 40, 185), "maroon": (40, 30, 115),
    "green": (60, 125, 50), "olive": (55, 110, 110), "yellow": (60, 195, 225), "orange": (35, 120, 225),
    "brown": (40, 70, 110), "beige": (150, 190, 210), "pink": (175, 135, 225), "purple": (115, 50, 105),
}
TROUSER_PALETTE = {
    "denim": (125, 80, 45), "black": (35, 35, 35), "grey": (110, 110, 110), "khaki": (120, 160, 180),
    "brown": (45, 70, 100), "navy": (80, 40, 25), "beige": (160, 195, 215), "olive": (55, 95, 95),
}
SKIN = [(170, 195, 235), (140, 175, 220), (110, 145, 190), (80, 110, 150), (55, 75, 110)]
HAIR = [(20, 20, 25), (30, 45, 70), (40, 80, 130), (90, 150, 200), (160, 160, 165)]
PATTERNS = ("plain", "hstripes", "vstripes", "checks", "diagonal", "dots")
PRINTS = ("none", "circle", "square", "triangle", "letter", "band", "jacket")
CROP_POPULATION = 1  # the people of `mtmc synth --reid-crops`: never those of a scene of any seed
TEX_H, TEX_W = 64, 48  # texture size of one torso face


@dataclass
class Identity:
    """How one person looks; textures are BGR uint8 images mapped onto the torso faces."""

    pid: int  # global id, 1-based
    height: float  # metres
    build: float  # width factor
    speed: float  # preferred walking speed, m/s
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shirt_name: str
    shirt: tuple[int, int, int]
    pattern: str
    pattern_color: tuple[int, int, int]
    print_kind: str
    trousers_name: str
    trousers: tuple[int, int, int]
    shorts: bool
    long_sleeves: bool
    shoes: tuple[int, int, int]
    backpack: tuple[int, int, int] | None
    lookalike_of: int | None
    front_tex: np.ndarray
    back_tex: np.ndarray
    side_tex: np.ndarray

    def summary(self) -> dict:
        """JSON-friendly description for scene.json."""
        return {
            "id": self.pid, "height": round(self.height, 3), "build": round(self.build, 3),
            "shirt": self.shirt_name, "pattern": self.pattern, "print": self.print_kind,
            "trousers": self.trousers_name, "shorts": self.shorts, "long_sleeves": self.long_sleeves,
            "backpack": self.backpack is not None, "lookalike_of": self.lookalike_of,
        }


def _jitter(rng: np.random.Generator, color, amount: int = 12) -> tuple[int, int, int]:
    c = np.clip(np.asarray(color) + rng.integers(-amount, amount + 1, 3), 8, 248)
    return tuple(int(v) for v in c)


def _contrast(rng: np.random.Generator, base) -> tuple[int, int, int]:
    """A pattern colour that differs clearly from ``base``."""
    names = list(SHIRT_PALETTE)
    for _ in range(10):
        c = SHIRT_PALETTE[names[rng.integers(len(names))]]
        if np.abs(np.subtract(c, base)).sum() > 150:
            return _jitter(rng, c, 8)
    return (235, 235, 235) if np.mean(base) < 128 else (30, 30, 30)


def pattern_texture(pattern: str, base, color, period: int, h: int = TEX_H, w: int = TEX_W) -> np.ndarray:
    """A (h, w, 3) cloth texture: ``base`` with a ``pattern`` in ``color`` (vectorised)."""
    yy, xx = np.mgrid[0:h, 0:w]
    if pattern == "hstripes":
        mask = (yy // period) % 2 == 1
    elif pattern == "vstripes":
        mask = (xx // period) % 2 == 1
    elif pattern == "checks":
        mask = ((yy // period) + (xx // period)) % 2 == 1
    elif pattern == "diagonal":
        mask = ((xx + yy) // period) % 2 == 1
    elif pattern == "dots":
        c = period / 2.0
        mask = (yy % period - c) ** 2 + (xx % period - c) ** 2 < (period * 0.3) ** 2
    else:
        mask = np.zeros((h, w), bool)
    tex = np.empty((h, w, 3), np.uint8)
    tex[:] = base
    tex[mask] = color
    return tex


def _add_print(tex: np.ndarray, kind: str, rng: np.random.Generator, inner) -> None:
    """Draw a chest print (front only), in place."""
    h, w = tex.shape[:2]
    col = tuple(int(v) for v in _contrast(rng, tex[h // 3, w // 2]))
    cx, cy = w // 2, int(h * 0.35)
    s = int(w * rng.uniform(0.18, 0.28))
    if kind == "circle":
        cv2.circle(tex, (cx, cy), s, col, -1, cv2.LINE_AA)
    elif kind == "square":
        cv2.rectangle(tex, (cx - s, cy - s), (cx + s, cy + s), col, -1)
    elif kind == "triangle":
        pts = np.array([[cx, cy - s], [cx + s, cy + s], [cx - s, cy + s]], np.int32)
        cv2.fillConvexPoly(tex, pts, col, cv2.LINE_AA)
    elif kind == "letter":
        letter = chr(ord("A") + int(rng.integers(26)))
        cv2.putText(tex, letter, (cx - s, cy + s), cv2.FONT_HERSHEY_SIMPLEX, s / 11.0, col, max(2, s // 4))
    elif kind == "band":
        tex[int(h * 0.3): int(h * 0.45)] = col
    elif kind == "jacket":  # open jacket: the inner shirt shows down the middle of the front
        tex[:, int(w * 0.38): int(w * 0.62)] = inner


def _key(seed: int, salt: int, index: int, population: int) -> list[int]:
    # Population 0 keeps the historical key so existing scenes render byte-identically.
    key = [int(seed) & 0xFFFFFFFF, salt, index]
    return key + [population] if population else key


def make_identity(seed: int, index: int, shirt_from: Identity | None = None, population: int = 0) -> Identity:
    """The look of identity ``index`` (0-based; pid = index + 1); ``shirt_from`` makes a look-alike.

    ``population`` selects an independent set of people for the same seed (scenes use 0, ReID crop
    sets use :data:`CROP_POPULATION`, so a model trained on crops never saw a scene's people).
    """
    rng = np.random.default_rng(_key(seed, 7919, index, population))
    if shirt_from is not None:  # same shirt (colour and pattern), everything else its own
        shirt_name, shirt = shirt_from.shirt_name, _jitter(rng, shirt_from.shirt, 5)
        pattern, pattern_color = shirt_from.pattern, shirt_from.pattern_color
    else:
        shirt_name = list(SHIRT_PALETTE)[rng.integers(len(SHIRT_PALETTE))]
        shirt = _jitter(rng, SHIRT_PALETTE[shirt_name])
        pattern = PATTERNS[rng.choice(len(PATTERNS), p=[0.35, 0.15, 0.12, 0.14, 0.12, 0.12])]
        pattern_color = _contrast(rng, shirt)
    trousers_name = list(TROUSER_PALETTE)[rng.integers(len(TROUSER_PALETTE))]
    print_kind = PRINTS[rng.choice(len(PRINTS), p=[0.3, 0.12, 0.12, 0.1, 0.14, 0.1, 0.12])]
    period = int(rng.integers(5, 11))
    base = pattern_texture(pattern, shirt, pattern_color, period)
    front = base.copy()
    _add_print(front, print_kind, rng, _contrast(rng, shirt))
    # Faces away from the light are darker: shade the back and side textures once here.
    back = (base * 0.92).astype(np.uint8)
    side = (base[:, : TEX_W // 2] * 0.8).astype(np.uint8)  # sides are narrower: keep the pattern scale
    return Identity(
        pid=index + 1,
        height=float(np.clip(rng.normal(1.74, 0.09), 1.5, 1.98)),
        build=float(rng.uniform(0.85, 1.2)),
        speed=float(rng.uniform(0.9, 1.35)),
        skin=_jitter(rng, SKIN[rng.integers(len(SKIN))], 8),
        hair=_jitter(rng, HAIR[rng.integers(len(HAIR))], 8),
        shirt_name=shirt_name,
        shirt=shirt,
        pattern=pattern,
        pattern_color=pattern_color,
        print_kind=print_kind,
        trousers_name=trousers_name,
        trousers=_jitter(rng, TROUSER_PALETTE[trousers_name]),
        shorts=bool(rng.random() < 0.15),
        long_sleeves=bool(rng.random() < 0.5),
        shoes=_jitter(rng, [(30, 30, 30), (220, 220, 220), (40, 60, 90), (60, 60, 160)][rng.integers(4)], 6),
        backpack=_jitter(rng, SHIRT_PALETTE[list(SHIRT_PALETTE)[rng.integers(len(SHIRT_PALETTE))]])
        if rng.random() < 0.35 else None,
        lookalike_of=None if shirt_from is None else shirt_from.pid,
        front_tex=cv2.cvtColor(front, cv2.COLOR_BGR2BGRA),  # BGRA: the renderer draws alpha with colour
        back_tex=cv2.cvtColor(back, cv2.COLOR_BGR2BGRA),
        side_tex=cv2.cvtColor(side, cv2.COLOR_BGR2BGRA),
    )


def make_identities(seed: int, count: int, lookalike_rate: float = 0.25, population: int = 0) -> list[Identity]:
    """``count`` identities; about ``lookalike_rate`` of them copy an earlier identity's shirt."""
    out: list[Identity] = []
    for i in range(count):
        pick = np.random.default_rng(_key(seed, 104729, i, population))
        source = None
        if i > 0 and pick.random() < lookalike_rate:
            source = out[int(pick.integers(i))]
            source = out[source.lookalike_of - 1] if source.lookalike_of else source
        out.append(make_identity(seed, i, source, population))
    return out
