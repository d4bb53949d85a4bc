"""Per-camera multi-object trackers, chosen by name: ``TRACKERS.build(name, params, frame_rate=fps)``."""

from mtmc.registry import Registry

TRACKERS: Registry = Registry("tracker")

# Register the trackers (each module decorates its factory with TRACKERS.register).
from trackers import botsort, bytetrack, ocsort, sort  # noqa: E402,F401
