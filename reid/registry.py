"""The ReID model registry: ``build_model("cdnet", num_classes=751)``.

Each model registers a builder plus the preprocessing it expects (input size,
channel order, normalisation), so an embedder can feed it correctly.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from mtmc.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    builder: Callable[..., object]
    input_size: tuple[int, int]  # (height, width)
    rgb: bool = True
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


MODELS: dict[str, ModelInfo] = {}

# Modules that define models; imported on first use so ``import reid`` stays cheap.
_MODEL_MODULES = ("reid.models",)
_loaded = False


def register_model(
    name: str,
    input_size: tuple[int, int],
    rgb: bool = True,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> Callable[[Callable[..., object]], Callable[..., object]]:
    """Decorator: register ``builder(num_classes=..., **kwargs) -> nn.Module`` under ``name``."""

    def decorator(builder: Callable[..., object]) -> Callable[..., object]:
        if name in MODELS:
            raise ValueError(f"ReID model {name!r} registered twice")
        MODELS[name] = ModelInfo(name, builder, tuple(input_size), rgb, tuple(mean), tuple(std))
        return builder

    return decorator


def _load_builtin() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in _MODEL_MODULES:
            importlib.import_module(module)


def model_names() -> list[str]:
    _load_builtin()
    return sorted(MODELS)


def model_info(name: str) -> ModelInfo:
    _load_builtin()
    if name not in MODELS:
        raise ConfigError(f"reid.model: unknown ReID model {name!r}; expected one of: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def build_model(name: str, num_classes: int = 0, **kwargs):
    """Build ReID model ``name``; ``num_classes=0`` builds it without classifiers (inference only)."""
    return model_info(name).builder(num_classes=num_classes, **kwargs)
