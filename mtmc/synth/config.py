"""``SynthConfig``: every knob of the synthetic multi-camera scene, validated by key path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mtmc.errors import ConfigError


@dataclass
class SynthConfig:
    """A LAB-like indoor scene: a room, corner cameras, people who come and go through a door.

    Lengths are metres, times seconds.  Every random choice derives from ``seed``.
    """

    seed: int = 0
    duration: float = 60.0  # seconds of video
    fps: float = 15.0
    size: tuple[int, int] = (640, 480)  # image width, height (pixels)
    cameras: int = 4  # corners first, then wall midpoints
    people: int = 10  # distinct identities who visit the room
    max_present: int = 7  # most people inside the room at once
    initial_present: int = 2  # people already inside at the first frame
    room: tuple[float, float] = (5.0, 6.0)  # extent along world x, y
    room_height: float = 3.0
    camera_height: tuple[float, float] = (2.5, 3.0)  # mounting height range
    focal: float = 0.55  # focal length as a fraction of the image width (0.55 ~ 85 deg horizontal FOV)
    distortion: float = 0.0  # radial k1 of every camera (0 = ideal pinhole)
    door_wall: Literal["south", "north", "west", "east"] = "south"  # south is y = 0
    door_position: float = 0.5  # door centre as a fraction along its wall
    door_width: float = 1.0
    furniture: bool = True  # tables with chairs where people sit
    visit_seconds: tuple[float, float] = (20.0, 50.0)  # how long one visit lasts
    away_seconds: tuple[float, float] = (4.0, 15.0)  # time outside before re-entering
    entry_gap: float = 1.5  # minimum seconds between two people coming through the door
    sit_probability: float = 0.35  # chance that an activity is sitting down on a free chair
    pause_probability: float = 0.3  # chance that an activity is standing still for a while
    lookalike_rate: float = 0.25  # fraction of identities that copy another identity's shirt
    noise: float = 3.0  # sensor noise standard deviation (grey levels)
    blur: bool = True  # far people are rendered softer
    format: Literal["mp4", "avi", "images"] = "mp4"
    min_visibility: float = 0.0  # gt boxes with visibility <= this are dropped

    def validate(self, key_path: str = "") -> None:
        """Reject impossible values with a ConfigError naming the key."""
        p = f"{key_path}." if key_path else ""

        def need(ok: bool, key: str, what: str) -> None:
            if not ok:
                raise ConfigError(f"{p}{key}: expected {what}, got {getattr(self, key)!r}")

        need(self.duration > 0, "duration", "a positive number of seconds")
        need(0 < self.fps <= 120, "fps", "a frame rate in (0, 120]")
        need(32 <= self.size[0] <= 4096 and 32 <= self.size[1] <= 4096, "size", "width and height in [32, 4096]")
        need(1 <= self.cameras <= 8, "cameras", "1 to 8 cameras")
        need(1 <= self.people <= 9999, "people", "1 to 9999 identities")
        need(1 <= self.max_present <= 50, "max_present", "1 to 50")
        need(0 <= self.initial_present, "initial_present", "a non-negative count")
        need(all(2.5 <= s <= 50 for s in self.room), "room", "room sides in [2.5, 50] metres")
        need(2.2 <= self.room_height <= 10, "room_height", "a height in [2.2, 10] metres")
        lo, hi = self.camera_height
        need(1.5 <= lo <= hi <= self.room_height, "camera_height", "a range [low, high] within 1.5 m .. room_height")
        need(0.2 <= self.focal <= 3.0, "focal", "a focal length in [0.2, 3] image widths")
        need(-0.4 <= self.distortion <= 0.4, "distortion", "a mild radial k1 in [-0.4, 0.4]")
        need(0.1 <= self.door_position <= 0.9, "door_position", "a fraction in [0.1, 0.9]")
        wall = self.room[0] if self.door_wall in ("south", "north") else self.room[1]
        need(0.7 <= self.door_width <= wall / 2, "door_width", f"a width in [0.7, {wall / 2:g}] metres")
        for key in ("visit_seconds", "away_seconds"):
            a, b = getattr(self, key)
            need(0 < a <= b, key, "a range [min, max] of positive seconds")
        need(self.entry_gap >= 0, "entry_gap", "a non-negative number of seconds")
        for key in ("sit_probability", "pause_probability", "lookalike_rate"):
            need(0 <= getattr(self, key) <= 1, key, "a probability in [0, 1]")
        need(self.sit_probability + self.pause_probability <= 1, "pause_probability",
             "sit_probability + pause_probability <= 1")
        need(0 <= self.noise <= 50, "noise", "a standard deviation in [0, 50]")
        need(0 <= self.min_visibility < 1, "min_visibility", "a ratio in [0, 1)")

    @property
    def num_frames(self) -> int:
        return max(1, int(round(self.duration * self.fps)))

    @property
    def camera_names(self) -> list[str]:
        return [f"cam{i}" for i in range(self.cameras)]
