"""Person detectors, chosen by name: ``DETECTORS.build(name, params, scene=scene)``."""

from mtmc.registry import Registry

DETECTORS: Registry = Registry("detector")

# Built-in backends register themselves on import.
from mtmc.detectors import backends as _backends  # noqa: E402,F401
