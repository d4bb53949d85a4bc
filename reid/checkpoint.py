"""Training checkpoints (atomic), RNG state capture and loading model weights."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mtmc.atomic import atomic_path
from mtmc.errors import DataError


def rng_state() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and python ``random`` states."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """``torch.save`` to a temporary sibling, then rename: a kill never leaves a truncated checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise DataError("checkpoint not found", path=path)
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad file
        raise DataError(f"cannot read checkpoint: {err}", path=path) from None


def extract_state_dict(obj: Any) -> dict[str, torch.Tensor]:
    """The model weights inside a plain state dict, a training checkpoint or a torchreid-style dict."""
    if isinstance(obj, dict):
        for key in ("model", "state_dict", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise DataError("expected a state dict or a checkpoint holding one under 'model' / 'state_dict'")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_model_weights(model: nn.Module, path: str | Path) -> list[str]:
    """Load matching weights into ``model``; returns the checkpoint keys that were skipped.

    Keys the model lacks (e.g. classifiers when building with ``num_classes=0``) and tensors of a
    different shape (a classifier for another number of identities) are skipped; a model
    parameter missing from the file is an error.
    """
    path = Path(path)
    try:
        weights = extract_state_dict(load_checkpoint(path))
    except DataError as err:
        raise DataError(err.message, path=path) from None
    own = model.state_dict()
    usable = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
    missing = [k for k in own if k not in usable and not _is_classifier(k)]
    if missing:
        raise DataError(f"weights do not fit this model: {len(missing)} tensors missing or of another shape, "
                        f"e.g. {missing[0]}", path=path)
    model.load_state_dict(usable, strict=False)
    return sorted(set(weights) - set(usable))


def _is_classifier(key: str) -> bool:
    return "classifier" in key
