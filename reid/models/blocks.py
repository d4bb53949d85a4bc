"""Building blocks shared by the OSNet and CDNet families (spec §1.1-1.3).

Module attribute names follow torchreid's ``osnet.py`` (``conv``/``bn``, ``conv1``/``conv2``,
``fc1``/``fc2``) so torchreid / BoxMOT OSNet weights load without renaming.

Model contract (every model in ``reid.models``):

- ``model.train()``: ``forward`` returns a list of ``[logits, feature]`` pairs, one per head
  (CE on ``logits``, triplet on ``feature``);
- ``model.eval()``: ``forward`` returns the raw (not L2-normalised) inference embedding ``(B, D)``;
- ``model.embedding_dim == D``; ``model.num_classes == 0`` builds no classifier (inference only).

Parameters whose names contain ``fcs`` or ``classifier`` exist only for training and are
dropped at inference (:func:`count_inference_params`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

TRAIN_ONLY_TAGS = ("fcs", "classifier")


def is_train_only(name: str) -> bool:
    """True for parameters/buffers that only training needs (fc blocks and classifiers)."""
    return any(tag in name for tag in TRAIN_ONLY_TAGS)


def count_inference_params(model: nn.Module) -> int:
    """Parameters kept at inference: every one whose name contains neither ``fcs`` nor ``classifier``."""
    return sum(p.numel() for name, p in model.named_parameters() if not is_train_only(name))


class Conv1x1BNReLU(nn.Module):
    """1x1 conv (no bias) -> BN -> ReLU (torchreid ``Conv1x1``)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Conv1x1BN(nn.Module):
    """1x1 conv (no bias) -> BN, linear (torchreid ``Conv1x1Linear``)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class StdStem(nn.Module):
    """7x7/2 conv -> BN -> ReLU -> 3x3/2 max-pool: (3, H, W) -> (c, H/4, W/4)."""

    def __init__(self, cout: int = 64, cin: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 7, stride=2, padding=3, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.bn(self.conv(x))))


class DownSample(nn.Sequential):
    """Transition: ``Conv1x1BNReLU(c -> c)`` then 2x2 average pooling (conv first, as OSNet)."""

    def __init__(self, cin: int, cout: int | None = None):
        super().__init__(Conv1x1BNReLU(cin, cout or cin), nn.AvgPool2d(2, stride=2))


class Lite3x3(nn.Module):
    """1x1 linear conv -> 3x3 depth-wise conv -> BN -> ReLU; channels unchanged (spec §1.1)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 1, bias=False)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv2(self.conv1(x))))


class LiteK(nn.Sequential):
    """Lite-k: k//2 Lite3x3 in series, the receptive field of a k x k conv (k odd, >= 3)."""

    def __init__(self, channels: int, kernel: int):
        if kernel < 3 or kernel % 2 == 0:
            raise ValueError(f"Lite-k needs an odd kernel >= 3, got {kernel}")
        super().__init__(*(Lite3x3(channels) for _ in range(kernel // 2)))
        self.kernel = kernel


class ChannelGate(nn.Module):
    """Squeeze-excitation gate: GAP -> 1x1 (c -> c/r) -> ReLU -> 1x1 (c/r -> c) -> sigmoid -> x * g.

    One instance is shared by all branches of a block (``g(a) + g(b)``); r = 16 in OSNet, 4 in CDNet.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = F.adaptive_avg_pool2d(x, 1)
        g = torch.sigmoid(self.fc2(self.relu(self.fc1(g))))
        return x * g


class GatedMultiBranch(nn.Module):
    """Squeeze -> parallel branches -> sum of shared-gate outputs -> restore + shortcut -> ReLU.

    The common shape of OSNet's ``OSBlock`` and CDNet's ``CBlock``; subclasses choose the
    branches (by attribute name, so checkpoints keep their reference key names).
    """

    def __init__(self, cin: int, cout: int, branches: dict[str, nn.Module], reduction: int, mid: int):
        super().__init__()
        self.conv1 = Conv1x1BNReLU(cin, mid)
        self.branch_names = tuple(branches)
        for name, module in branches.items():
            self.add_module(name, module)
        self.gate = ChannelGate(mid, reduction)
        self.conv3 = Conv1x1BN(mid, cout)
        self.downsample = Conv1x1BN(cin, cout) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = self.conv1(x)
        fused = None
        for name in self.branch_names:
            gated = self.gate(getattr(self, name)(squeezed))
            fused = gated if fused is None else fused + gated
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(self.conv3(fused) + identity)


def kaiming_init_(model: nn.Module, conv_mode: str = "fan_in", linear_std: float = 1e-3) -> nn.Module:
    """Reference init (spec §2.7): kaiming-normal convs, BN 1/0, Linear N(0, std) with zero bias."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=conv_mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, linear_std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


class ReidModelMixin:
    """Shared helpers of the zoo's models."""

    def inference_param_count(self) -> int:
        return count_inference_params(self)  # type: ignore[arg-type]


def optimize_for_inference(model: nn.Module) -> nn.Module:
    """Eval copy with BN folded into the preceding convs and channels-last weights (~1.2-2x on CPU).

    Falls back to the model itself (in eval mode) when torch.fx cannot trace it; the outputs agree
    with the unfused model to float32 rounding.
    """
    import copy

    from torch.fx.experimental.optimization import fuse

    model = model.eval()
    try:
        fused = fuse(copy.deepcopy(model))
    except Exception:  # data-dependent control flow: keep the plain module
        return model
    for attr in ("embedding_dim", "num_classes"):  # the model contract survives tracing
        if hasattr(model, attr):
            setattr(fused, attr, getattr(model, attr))
    return fused.to(memory_format=torch.channels_last)
