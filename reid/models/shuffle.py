"""ShuffleNetV2 units as Compact-ReID uses them (spec §1.4).

``ShuffleA`` keeps the shape: half the channels pass through, the other half go through
1x1 -> dw3x3 -> 1x1. ``ShuffleB`` convolves *both* branches and may change the channel count
and/or halve the resolution; unlike torchvision's unit it keeps branch 1 at stride 1 too, because
Compact-ReID uses it there for channel expansion. All convolutions are bias-free.
"""

from __future__ import annotations

import torch
from torch import nn


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` equal groups: (g0c0, g1c0, ..., g0c1, g1c1, ...)."""
    b, c, h, w = x.shape
    if c % groups:
        raise ValueError(f"channel_shuffle: {c} channels are not divisible into {groups} groups")
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class _InterleaveChannelsLast(torch.autograd.Function):
    """:func:`concat_shuffle` of channels-last tensors, forward and backward one dense pass each.

    In NHWC memory the shuffled map is, per pixel, the channel pairs ``(a_i, b_i)``: the memory layout of
    the complex numbers ``a + ib``. ``torch.stack`` on the last axis (and slicing its gradient) walks that
    size-2 axis element by element and leaves strided gradients that make the ops before it slow.
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        pairs = torch.view_as_real(torch.complex(a.permute(0, 2, 3, 1), b.permute(0, 2, 3, 1)))
        n, h, w, c, _ = pairs.shape
        return pairs.view(n, h, w, 2 * c).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nhwc = grad.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)
        n, h, w, c2 = nhwc.shape
        pairs = torch.view_as_complex(nhwc.view(n, h, w, c2 // 2, 2))
        return pairs.real.contiguous().permute(0, 3, 1, 2), pairs.imag.contiguous().permute(0, 3, 1, 2)


def concat_shuffle(a: torch.Tensor, b: torch.Tensor, nhwc: bool = False) -> torch.Tensor:
    """``channel_shuffle(torch.cat([a, b], dim=1), 2)`` with one copy instead of two (cat, then shuffle).

    Interleaving two equal halves is stacking them on a new axis right after the channel axis.
    ``nhwc=True`` (the units pass ``self.training``: Compact-ReID trains channels-last) uses the NHWC
    kernel when ``b`` is channels-last; same values either way. It is a Python flag, not a test on the
    tensor, so that torch.fx can still trace the eval model (``optimize_for_inference``).
    """
    if nhwc and b.dim() == 4 and b.is_contiguous(memory_format=torch.channels_last) and b.shape[1] > 1:
        if a.dtype == b.dtype and b.dtype in (torch.float32, torch.float64):
            return _InterleaveChannelsLast.apply(a, b)
    return torch.stack([a, b], dim=2).flatten(1, 2)


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True) -> list:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


def _main_branch(c_in: int, h: int, stride: int) -> nn.Sequential:
    """1x1 (c_in->h) + BN + ReLU -> dw3x3 (stride) + BN -> 1x1 (h->h) + BN + ReLU."""
    return nn.Sequential(
        *_conv_bn(c_in, h, 1),
        *_conv_bn(h, h, 3, stride, groups=h, relu=False),
        *_conv_bn(h, h, 1),
    )


class ShuffleA(nn.Module):
    """Stride-1 unit with channel split; ``channels`` in and out. Params 2h^2 + 15h with h = channels/2."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(f"ShuffleA needs an even channel count, got {channels}")
        self.branch2 = _main_branch(channels // 2, channels // 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=1)
        return concat_shuffle(x1, self.branch2(x2), nhwc=self.training)


class ShuffleB(nn.Module):
    """Unit without split: both branches see the whole input; stride 1 or 2, ``c_in -> c_out``."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"ShuffleB needs an even output channel count, got {c_out}")
        if stride not in (1, 2):
            raise ValueError(f"ShuffleB stride must be 1 or 2, got {stride}")
        h = c_out // 2
        self.branch1 = nn.Sequential(
            *_conv_bn(c_in, c_in, 3, stride, groups=c_in, relu=False),
            *_conv_bn(c_in, h, 1),
        )
        self.branch2 = _main_branch(c_in, h, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return concat_shuffle(self.branch1(x), self.branch2(x), nhwc=self.training)


class ShuffleStage(nn.Sequential):
    """Compact-ReID stage: ShuffleB(s1, c_in->c_out) -> ShuffleA x ``repeats`` -> ShuffleB(s2)."""

    def __init__(self, c_in: int, c_out: int, repeats: int) -> None:
        super().__init__(
            ShuffleB(c_in, c_out, 1),
            *[ShuffleA(c_out) for _ in range(repeats)],
            ShuffleB(c_out, c_out, 2),
        )
