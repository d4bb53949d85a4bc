"""mtmc: multi-camera, multi-target person tracking with compact person re-identification."""

__version__ = "0.1.0"
