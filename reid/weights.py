"""Model weights: the one state-dict loader for this project's weight files, its training checkpoints
and torchreid / BoxMOT ``.pth(.tar)`` files.

(Writing and resuming training checkpoints with optimizer and RNG state is :mod:`reid.checkpoint`.)

``save_weights`` writes ``{"format": "mtmc-reid", "version": 1, "arch", "num_classes", "genotype",
"config", "embedding_dim", "state_dict", "extra"}`` atomically with ``torch.save``, enough to rebuild
the network (:func:`build_from_weights`).  :func:`load_weights` also reads a training checkpoint
(its ``model`` and ``model_name``) and foreign files: ``{"state_dict": ...}``, ``{"model": ...}``,
a pickled module or a raw state dict.
"""

from __future__ import annotations

import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mtmc.atomic import atomic_path
from mtmc.errors import DataError, MtmcError
from reid.checkpoint import TRAIN_FORMAT
from reid.models.blocks import is_train_only

FORMAT = "mtmc-reid"
MIN_COVERAGE = 0.5  # fewer of the model's tensors found than this = a different architecture


@dataclass
class LoadReport:
    loaded: int
    total: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def line(self, path: str | Path) -> str:
        parts = [f"reid weights {Path(path).name}: loaded {self.loaded}/{self.total} tensors"]
        for label, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                parts.append(f"{label} {len(keys)} ({_preview(keys)})")
        if self.dropped:
            parts.append(f"dropped {len(self.dropped)} classifier/fc tensors")
        return "; ".join(parts)


def _preview(keys: list[str], n: int = 3) -> str:
    return ", ".join(keys[:n]) + (", ..." if len(keys) > n else "")


def save_weights(path: str | Path, model: nn.Module, arch: str, extra: dict[str, Any] | None = None) -> None:
    """Write ``model``'s weights with what is needed to rebuild it (arch, genotype, num_classes)."""
    genotype = getattr(model, "genotype", None)
    payload = {
        "format": FORMAT,
        "version": 1,
        "arch": arch,
        "num_classes": int(getattr(model, "num_classes", 0)),
        "genotype": genotype.to_dict() if genotype is not None else None,
        "config": getattr(model, "config", None),
        "embedding_dim": getattr(model, "embedding_dim", None),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra or {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_weights(path: str | Path) -> dict[str, Any]:
    """Load a weights file as ``{"state_dict": ...}`` plus our metadata when the file has it."""
    path = Path(path)
    if not path.is_file():
        raise DataError("ReID weights file not found", path=path)
    obj = _torch_load(path)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return obj
    if isinstance(obj, dict) and obj.get("format") == TRAIN_FORMAT:
        return {"arch": obj.get("model_name"), "state_dict": _extract_state_dict(obj["model"], path)}
    return {"state_dict": _extract_state_dict(obj, path)}


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass
    except Exception as err:  # truncated file, not a torch file, ...
        raise DataError(f"cannot read ReID weights: {err}", path=path) from None
    # Training checkpoints (RNG states) and older scripts (numpy scalars, configs) pickle extra objects.
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise DataError(f"cannot read ReID weights: {err}", path=path) from None
    if not (isinstance(obj, dict) and obj.get("format") == TRAIN_FORMAT):
        print(f"reid weights {path.name}: not loadable in weights-only mode; unpickled it in full", file=sys.stderr)
    return obj


def _extract_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict", "net"):
            if key in obj and isinstance(obj[key], (dict, nn.Module)):
                return _extract_state_dict(obj[key], path)
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise DataError("no state dict found (expected 'state_dict', 'model' or a dict of tensors)", path=path)


def _strip_prefix(key: str) -> str:
    while key.startswith("module."):  # DataParallel / DDP wrappers
        key = key[len("module.") :]
    return key


def load_weights(
    model: nn.Module,
    path: str | Path,
    arch: str | None = None,
    drop_classifier: bool = True,
    verbose: bool = True,
) -> LoadReport:
    """Load ``path`` into ``model``; refuse (MtmcError) when it clearly belongs to another architecture.

    ``module.`` prefixes are stripped; classifier tensors are dropped (``drop_classifier``), as are
    fc/classifier tensors the model does not have.  Any shape mismatch, or fewer than half of the
    model's inference tensors found, is refused.  Prints one summary line to stderr.
    """
    ckpt = read_weights(path)
    saved_arch = ckpt.get("arch")
    if arch and saved_arch and saved_arch != arch and not _same_genotype(model, ckpt):
        raise MtmcError(f"weights hold a {saved_arch!r} model, not {arch!r}", path=path)

    own = model.state_dict()
    state: dict[str, torch.Tensor] = {}
    report = LoadReport(0, 0)
    for key, value in ckpt["state_dict"].items():
        key = _strip_prefix(key)
        if is_train_only(key) and (key not in own or (drop_classifier and "classifier" in key)):
            report.dropped.append(key)
        elif key in own:
            state[key] = value
        else:
            report.unexpected.append(key)

    name = arch or type(model).__name__
    check_shapes(own, state, name, path)
    # Coverage counts the tensors inference needs; BN step counters carry no information.
    needed = [k for k in own if not is_train_only(k) and not k.endswith("num_batches_tracked")]
    found = sum(k in state for k in needed)
    report.loaded, report.total = len(state), len(own)
    report.missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if needed and found < MIN_COVERAGE * len(needed):
        raise MtmcError(
            f"weights do not fit {name}: only {found}/{len(needed)} of its tensors found "
            f"(first unexpected: {_preview(report.unexpected) or 'none'})",
            path=path,
        )
    model.load_state_dict(state, strict=False)
    if verbose:
        print(report.line(path), file=sys.stderr)
    return report


def check_shapes(own: dict[str, Any], state: dict[str, Any], name: str, path: str | Path) -> None:
    """Refuse (DataError) tensors of ``state`` whose shape differs from ``own``'s (the model's)."""
    mismatched = [k for k, v in state.items() if tuple(v.shape) != tuple(own[k].shape)]
    if mismatched:
        details = ", ".join(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched[:3])
        raise DataError(f"weights do not fit {name}: {len(mismatched)} shape mismatches ({details})", path=path)


def _same_genotype(model: nn.Module, ckpt: dict[str, Any]) -> bool:
    genotype = getattr(model, "genotype", None)
    saved = ckpt.get("genotype")
    if genotype is None or saved is None:
        return False
    from reid.genotypes import genotype_from_dict

    return genotype_from_dict(saved).layers == genotype.layers


def build_from_weights(
    path: str | Path, arch: str | None = None, num_classes: int = 0
) -> tuple[nn.Module, str]:
    """Rebuild the model a weights file describes (arch, genotype, neck config), load it; -> (model, arch)."""
    from reid.registry import build_model

    ckpt = read_weights(path)
    saved_arch = ckpt.get("arch")
    arch = arch or saved_arch
    if not arch:
        raise MtmcError("foreign weights file: the model name is needed (reid.model)", path=path)
    genotype = ckpt.get("genotype")
    if genotype is not None and arch in (saved_arch, "cdnet_genotype", "autoreid"):
        # a searched network: its builder takes the genotype; the two genotype formats name their family
        family = "autoreid" if "normal" in genotype else "cdnet_genotype"
        model = build_model(family, num_classes=num_classes, genotype=genotype, **(ckpt.get("config") or {}))
    else:
        model = build_model(arch, num_classes=num_classes)
    load_weights(model, path, arch=arch, drop_classifier=num_classes == 0)
    return model, arch
