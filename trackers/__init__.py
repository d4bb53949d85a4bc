"""Per-camera multi-object trackers, chosen by name: ``TRACKERS.build(name, params, frame_rate=fps)``."""

from mtmc.registry import Registry

TRACKERS: Registry = Registry("tracker")
