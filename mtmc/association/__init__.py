"""Global (cross-camera) identity association, chosen by name: ``ASSOCIATORS.build(name, params, ...)``."""

from mtmc.registry import Registry

ASSOCIATORS: Registry = Registry("association")
