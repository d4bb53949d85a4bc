"""Appearance embedders for the pipeline, chosen by backend: ``EMBEDDERS.build(name, cfg.reid, scene=...)``.

Backends: ``torch`` (a zoo model, :mod:`reid.embedder`), ``onnx`` (an exported or foreign ONNX file
through onnxruntime) and ``oracle`` (appearance = ground-truth identity, the upper bound of ReID;
:mod:`mtmc.association.oracle`).  :func:`backend_name` reads the backend off a ``reid`` config:
``model: none`` means no embedder, ``model: oracle`` the oracle, an ``.onnx`` file (or
``model: onnx``) the ONNX runtime, anything else torch; ``backend: torch|onnx`` forces one.
Each factory takes the :class:`mtmc.config.ReidConfig` and the scene.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtmc.config import ReidConfig
from mtmc.errors import ConfigError
from mtmc.registry import Registry
from mtmc.stages import Embedder

EMBEDDERS: Registry[Embedder] = Registry("reid backend")


def backend_name(cfg: ReidConfig) -> str | None:
    """The registry entry that embeds for ``cfg`` (None: no ReID)."""
    if cfg.model in ("none", "", None):
        return None
    if cfg.model == "oracle":
        return "oracle"
    if cfg.backend != "auto":
        return cfg.backend
    onnx_file = cfg.weights is not None and Path(cfg.weights).suffix.lower() == ".onnx"
    return "onnx" if cfg.model == "onnx" or onnx_file else "torch"


def build_embedder(cfg: ReidConfig, scene: Any = None) -> Embedder | None:
    """The embedder ``cfg`` describes (None for ``model: none``)."""
    name = backend_name(cfg)
    return None if name is None else EMBEDDERS.build(name, cfg, scene=scene)


@EMBEDDERS.register("torch", params=ReidConfig)
def _torch(cfg: ReidConfig, scene: Any = None) -> Embedder:
    from reid.embedder import torch_embedder

    return torch_embedder(cfg)


@EMBEDDERS.register("onnx", params=ReidConfig)
def _onnx(cfg: ReidConfig, scene: Any = None) -> Embedder:
    from reid.embedder import onnx_embedder

    return onnx_embedder(cfg)


@EMBEDDERS.register("oracle", params=ReidConfig)
def _oracle(cfg: ReidConfig, scene: Any = None) -> Embedder:
    from mtmc.association.oracle import OracleEmbedder

    if scene is None:
        raise ConfigError("reid.model: 'oracle' embeds boxes of a scene with ground truth; no scene given")
    return OracleEmbedder(scene)
