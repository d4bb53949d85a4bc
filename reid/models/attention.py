"""Harmonious Attention block of HA-CNN (Li, Zhu, Gong 2018; torchreid ``hacnn.py``; spec §1.5).

Soft attention produces a C×H×W sigmoid mask (spatial ⊗ channel); hard attention regresses the
translations of ``REGIONS`` = 4 fixed-scale boxes (full width, a quarter of the height) that an STN
crops from a feature map for the local branch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

REGIONS = 4
# Fixed region scale (s_w, s_h) = (1, 1/4) and initial vertical centres: four stripes, top to bottom.
REGION_SCALE = (1.0, 0.25)
STRIPE_CENTRES = (-0.75, -0.25, 0.25, 0.75)


class ConvBlock(nn.Sequential):
    """HA-CNN's only conv flavour: Conv2d (with bias) -> BN -> ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, stride, padding),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class SpatialAttn(nn.Module):
    """Channel mean -> 3x3 s2 ConvBlock -> bilinear back to H×W -> 1x1 ConvBlock; (B, 1, H, W)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = ConvBlock(1, 1, 3, stride=2, padding=1)
        self.conv2 = ConvBlock(1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x.mean(dim=1, keepdim=True))
        # torchreid upsamples x2; resizing to the input size is the same for even H, W and also works for odd ones.
        y = F.interpolate(y, size=x.shape[2:], mode="bilinear", align_corners=True)
        return self.conv2(y)


class ChannelAttn(nn.Module):
    """GAP -> ConvBlock(C -> C/r) -> ConvBlock(C/r -> C); (B, C, 1, 1)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        if channels % reduction:
            raise ValueError(
                f"ChannelAttn: {channels} channels are not divisible by the reduction {reduction}"
            )
        self.conv1 = ConvBlock(channels, channels // reduction, 1)
        self.conv2 = ConvBlock(channels // reduction, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(F.adaptive_avg_pool2d(x, 1)))


class SoftAttn(nn.Module):
    """sigmoid(ConvBlock_1x1(spatial ⊗ channel)): a C×H×W mask in (0, 1)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.spatial_attn = SpatialAttn()
        self.channel_attn = ChannelAttn(channels)
        self.conv = ConvBlock(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(self.spatial_attn(x) * self.channel_attn(x)))


class HardAttn(nn.Module):
    """GAP -> Linear(C, 2·REGIONS) -> tanh: per-region translations (t_x, t_y), shape (B, REGIONS, 2).

    The weight starts at zero and the bias at the four stripe centres, so at initialisation the
    regions are four horizontal stripes, top to bottom. torchreid writes the centres into the bias
    *before* the tanh, which shrinks them to ±0.64/±0.24 (overlapping stripes that miss the image
    ends); ``exact_stripes=True`` (default) stores atanh(centre) instead so the stripes tile the map.
    """

    def __init__(self, channels: int, exact_stripes: bool = True) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, REGIONS * 2)
        self.exact_stripes = exact_stripes
        self.reset_parameters()

    def reset_parameters(self) -> None:
        centres = [math.atanh(c) if self.exact_stripes else c for c in STRIPE_CENTRES]
        bias = torch.tensor([v for c in centres for v in (0.0, c)])
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.bias.copy_(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = torch.tanh(self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1)))
        return theta.view(-1, REGIONS, 2)


class HarmAttn(nn.Module):
    """Harmonious attention: returns (soft mask (B, C, H, W), region translations (B, REGIONS, 2))."""

    def __init__(self, channels: int, exact_stripes: bool = True) -> None:
        super().__init__()
        self.soft_attn = SoftAttn(channels)
        self.hard_attn = HardAttn(channels, exact_stripes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.soft_attn(x), self.hard_attn(x)


def region_affine(translation: torch.Tensor) -> torch.Tensor:
    """(B, 2) translations -> (B, 2, 3) affine [[s_w, 0, t_x], [0, s_h, t_y]] with the fixed region scale."""
    b = translation.shape[0]
    scale = translation.new_tensor([[REGION_SCALE[0], 0.0], [0.0, REGION_SCALE[1]]]).expand(b, 2, 2)
    return torch.cat([scale, translation.unsqueeze(2)], dim=2)


def region_grid(translation: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``F.affine_grid(region_affine(translation), (B, C, height, width), align_corners=False)``.

    Built with plain arithmetic because the affine is only scale + translation; unlike ``affine_grid``
    this exports to ONNX below opset 20.
    """
    b = translation.shape[0]
    ys = (torch.arange(height, dtype=translation.dtype, device=translation.device) * 2 + 1) / height - 1
    xs = (torch.arange(width, dtype=translation.dtype, device=translation.device) * 2 + 1) / width - 1
    gx = REGION_SCALE[0] * xs.view(1, 1, width) + translation[:, 0].view(b, 1, 1)
    gy = REGION_SCALE[1] * ys.view(1, height, 1) + translation[:, 1].view(b, 1, 1)
    return torch.stack([gx.expand(b, height, width), gy.expand(b, height, width)], dim=-1)


def _bilinear_weights(pos: torch.Tensor, size: int) -> torch.Tensor:
    """``(..., n)`` sample positions in pixels -> ``(..., n, size)`` 1-D bilinear weights ``relu(1 - |pos - j|)``.

    Taps outside ``[0, size)`` are simply absent, which is ``grid_sample``'s zero padding; the weights
    are piecewise linear in ``pos``, so their gradient is ``grid_sample``'s gradient w.r.t. the grid.
    """
    taps = torch.arange(size, dtype=pos.dtype, device=pos.device)
    return torch.relu(1.0 - (pos.unsqueeze(-1) - taps).abs())


def _resize_weights(size_in: int, size_out: int, like: torch.Tensor) -> torch.Tensor:
    """``(size_out, size_in)`` matrix of ``F.interpolate(mode="bilinear", align_corners=True)`` along one axis."""
    scale = (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
    pos = torch.arange(size_out, dtype=like.dtype, device=like.device) * scale
    return _bilinear_weights(pos, size_in)


def _crop_weights(centre: torch.Tensor, scale: float, size_in: int, size_out: int) -> torch.Tensor:
    """Sampling matrices ``(..., size_out, size_in)`` of one axis: STN crop at the source size, then resize.

    ``centre`` (...,) is the region translation along the axis (normalised coordinates, as
    :func:`region_grid`); the crop samples ``scale * base + centre`` with ``align_corners=False``.
    """
    base = (torch.arange(size_in, dtype=centre.dtype, device=centre.device) * 2 + 1) / size_in - 1
    grid = scale * base + centre.unsqueeze(-1)
    crop = _bilinear_weights(((grid + 1) * size_in - 1) / 2, size_in)  # (..., size_in, size_in)
    return torch.matmul(_resize_weights(size_in, size_out, centre), crop)


def crop_regions(source: torch.Tensor, theta: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """STN crops of all regions at once: ``(B, C, H, W)``, ``(B, R, 2)`` -> ``(B, R, C, h, w)``.

    Equal (up to float rounding, values and gradients) to :func:`crop_region` per region, i.e.
    ``grid_sample`` at the source size followed by a bilinear resize to ``size``. Both steps are
    separable linear maps because the affine is scale + translation only, so they fold into one
    ``(h, H)`` and one ``(w, W)`` matrix per image and region; two batched matmuls then replace
    ``R`` grid_sample and resize calls, whose CPU backward passes are slow (the regions are
    cropped once per stage in every training step).
    """
    b, c, hs, ws = source.shape
    r = theta.shape[1]
    h, w = size
    rows = _crop_weights(theta[..., 1], REGION_SCALE[1], hs, h)  # (B, R, h, H)
    cols = _crop_weights(theta[..., 0], REGION_SCALE[0], ws, w)  # (B, R, w, W)
    # Rows first: (B, R*h, H) @ (B, H, C*W) -> (B, R*h, C*W), i.e. (B*R, h*C, W) in memory.
    stacked = source.transpose(1, 2).reshape(b, hs, c * ws)
    tall = torch.bmm(rows.reshape(b, r * h, hs), stacked).view(b * r, h * c, ws)
    out = torch.bmm(tall, cols.reshape(b * r, w, ws).transpose(1, 2))  # (B*R, h*C, w)
    return out.view(b, r, h, c, w).transpose(2, 3).contiguous()


def crop_region(source: torch.Tensor, translation: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """STN crop of one region from ``source`` (sampled at the source's size, as torchreid), resized to ``size``.

    The reference formulation (``grid_sample`` + ``interpolate``), used at inference; training uses the
    equivalent :func:`crop_regions`.
    """
    grid = region_grid(translation, source.shape[2], source.shape[3])
    region = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return F.interpolate(region, size=size, mode="bilinear", align_corners=True)
