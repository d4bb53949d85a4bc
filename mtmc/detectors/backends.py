"""Imports every built-in detector backend so that it registers itself."""

from mtmc.detectors import motfile, simulated, ultralytics_backend, yolo_onnx, yolox  # noqa: F401
