"""DARTS candidate operations (quark0/darts ``operations.py``; spec §1.7) plus Auto-ReID's part-aware module.

Every op is built as ``OPS[name](C, stride, affine) -> nn.Module`` mapping (B, C, H, W) to
(B, C, ceil(H/stride), ceil(W/stride)), so a search ``MixedOp`` can instantiate the whole candidate
set on one edge. ``affine=False`` is the search-phase setting (BN without learnable scale/shift).
Unlike the reference, ``FactorizedReduce`` and ``Zero`` also handle odd spatial sizes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

# Search spaces (candidate op names). ``none`` first, as DARTS' derivation skips it by name.
DARTS_PRIMITIVES = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
# Auto-ReID's baseline space (paper §3.3 lists these 6 of DARTS' ops) and its ReID space O_reid (+ part_aware).
BASELINE_PRIMITIVES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3")
REID_PRIMITIVES = (*BASELINE_PRIMITIVES, "part_aware")


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv(k, stride, no bias) -> BN: DARTS' preprocessing / stem flavour."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU -> depthwise k×k (dilation, stride) -> 1x1 -> BN."""

    def __init__(self, c_in, c_out, kernel, stride, padding, dilation, affine=True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two dilation-1 ``DilConv``s; only the first carries the stride."""

    def __init__(self, c_in, c_out, kernel, stride, padding, affine=True):
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, padding, 1, affine),
            DilConv(c_in, c_out, kernel, 1, padding, 1, affine),
        )


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """ReLU -> two 1x1 stride-2 convs (C_in -> C_out/2) on x and on x shifted by one pixel -> cat -> BN."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even output channel count, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # Pad right/bottom before the one-pixel shift so odd sizes give ceil(H/2) from both convs.
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class PartAware(nn.Module):
    """Auto-ReID part-aware module (paper §3.3, Fig. 2; spec §4.1 recommended form).

    1. average-pool M horizontal parts (``AdaptiveAvgPool2d((M, 1))``: any H works) -> M body vectors;
    2. a shared Linear(C, C) per part vector;
    3. dot-product self-attention over the M vectors, softmax(P Pᵀ/√C)·P, plus a residual P;
    4. nearest-neighbour repeat of each vector over its part -> the enhanced tensor (C×H×W);
    5. cat(F, enhanced) -> ReLU -> 1x1 conv (2C -> C_out, carries the stride) -> BN.

    Unspecified by the paper (flagged in the spec): the attention form (no Q/K/V projections here),
    the nonlinearity and the stride mechanism (on the final 1x1 conv). Params 3C² + C + 2C (affine BN).
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1, affine: bool = True, parts: int = 4) -> None:
        super().__init__()
        self.parts = parts
        self.pool = nn.AdaptiveAvgPool2d((parts, 1))
        self.linear = nn.Linear(c_in, c_in)
        self.fuse = ReLUConvBN(2 * c_in, c_out, 1, stride, 0, affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        parts = self.linear(self.pool(x).view(b, c, self.parts).transpose(1, 2))  # (B, M, C)
        attn = torch.softmax(parts @ parts.transpose(1, 2) / c**0.5, dim=-1)
        parts = attn @ parts + parts
        enhanced = F.interpolate(parts.transpose(1, 2).unsqueeze(-1), size=(h, w), mode="nearest")
        return self.fuse(torch.cat([x, enhanced], dim=1))


OpFactory = Callable[[int, int, bool], nn.Module]

OPS: dict[str, OpFactory] = {
    "none": lambda C, stride, affine: Zero(stride),
    "avg_pool_3x3": lambda C, stride, affine: nn.AvgPool2d(3, stride, 1, count_include_pad=False),
    "max_pool_3x3": lambda C, stride, affine: nn.MaxPool2d(3, stride, 1),
    "skip_connect": lambda C, stride, affine: (
        nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine)
    ),
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine),
    "part_aware": lambda C, stride, affine: PartAware(C, C, stride, affine),
}


def make_op(name: str, channels: int, stride: int, affine: bool = True) -> nn.Module:
    """``OPS[name](channels, stride, affine)`` with a clear error for an unknown name."""
    if name not in OPS:
        raise KeyError(f"unknown DARTS op {name!r}; expected one of: {', '.join(OPS)}")
    return OPS[name](channels, stride, affine)


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob`` and rescale the rest (DARTS' drop-path)."""
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask
