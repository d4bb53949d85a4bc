"""Synthetic multi-camera scenes (a LAB-like room) and ReID crop sets, with exact ground truth.

>>> from mtmc.synth import SynthConfig, generate_scene
>>> generate_scene(SynthConfig(duration=3, size=(320, 240)), "runs/synth-demo")  # doctest: +SKIP
"""

from mtmc.synth.config import SynthConfig
from mtmc.synth.crops import export_reid_crops
from mtmc.synth.scene import SceneModel, generate_scene

__all__ = ["SynthConfig", "SceneModel", "generate_scene", "export_reid_crops"]
