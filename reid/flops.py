"""Parameter and MAC counts (conv / linear multiply-accumulates only, as the papers count "FLOPs").

MACs come from ``thop`` (package ``ultralytics-thop``); every module type other than Conv2d and
Linear is given a zero rule so BN, activations and pooling are not counted.
"""

from __future__ import annotations

import contextlib
import copy
import io

import torch
from torch import nn


def _zero_op(module: nn.Module, inputs, output) -> None:
    module.total_ops += torch.zeros(1, dtype=torch.float64)


def count_macs(model: nn.Module, input_size: tuple[int, int], batch: int = 1) -> int:
    """Inference MACs of ``model`` for one ``(3, H, W)`` image (the model is not modified)."""
    import thop

    probe = copy.deepcopy(model).eval()
    counted = (nn.Conv2d, nn.Linear)
    custom = {
        type(m): _zero_op for m in probe.modules() if not isinstance(m, counted) and not list(m.children())
    }
    x = torch.zeros(batch, 3, *input_size)
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):  # thop prints per-module notes
        macs, _ = thop.profile(probe, inputs=(x,), custom_ops=custom, verbose=False)
    return int(round(macs / batch))
