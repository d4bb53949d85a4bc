"""Imports every built-in detector backend so that it registers itself."""

from mtmc.detectors import motfile, simulated, ultralytics_backend, yolox  # noqa: F401
