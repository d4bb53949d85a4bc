"""OSNet (Zhou et al. 2019), torchreid's architecture: gate r = 16, conv5 1x1, fc 512 embedding.

Module names match torchreid's ``osnet.py`` so its (and BoxMOT's) ``.pth`` weights load as is.
x1.0 has 2,169,508 parameters without the classifier and 978.9M MACs at 256x128.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from reid.models.blocks import (
    Conv1x1BNReLU,
    DownSample,
    GatedMultiBranch,
    Lite3x3,
    LiteK,
    ReidModelMixin,
    StdStem,
    kaiming_init_,
)
from reid.models.necks import fc_block
from reid.registry import register_model


class OSBlock(GatedMultiBranch):
    """Omni-scale block: four streams of 1-4 Lite3x3 (receptive fields 3/5/7/9) behind one gate."""

    def __init__(self, cin: int, cout: int):
        mid = cout // 4
        branches = {
            "conv2a": Lite3x3(mid),
            "conv2b": LiteK(mid, 5),
            "conv2c": LiteK(mid, 7),
            "conv2d": LiteK(mid, 9),
        }
        super().__init__(cin, cout, branches, reduction=16, mid=mid)


class OSNet(ReidModelMixin, nn.Module):
    """Stem -> 3 stages of 2 OSBlocks (transitions after the first two) -> conv5 -> GAP -> fc."""

    def __init__(self, channels: tuple[int, int, int, int], num_classes: int = 0, feature_dim: int = 512):
        super().__init__()
        c0, c1, c2, c3 = channels
        self.num_classes = num_classes
        self.conv1 = StdStem(c0)  # conv + bn (+ pool, no parameters): torchreid's conv1 + maxpool
        self.conv2 = nn.Sequential(OSBlock(c0, c1), OSBlock(c1, c1), DownSample(c1))
        self.conv3 = nn.Sequential(OSBlock(c1, c2), OSBlock(c2, c2), DownSample(c2))
        self.conv4 = nn.Sequential(OSBlock(c2, c3), OSBlock(c3, c3))
        self.conv5 = Conv1x1BNReLU(c3, c3)
        self.fc = fc_block(c3, feature_dim)  # the embedding layer: kept at inference
        self.embedding_dim = feature_dim
        if num_classes > 0:
            self.classifier = nn.Linear(feature_dim, num_classes)
        kaiming_init_(self, conv_mode="fan_out", linear_std=0.01)

    def forward(self, x: torch.Tensor):
        x = self.conv5(self.conv4(self.conv3(self.conv2(self.conv1(x)))))
        feat = self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
        if self.training and self.num_classes > 0:
            return [[self.classifier(feat), feat]]
        return feat


def _osnet_builder(name: str, channels: tuple[int, int, int, int]):
    @register_model(name, input_size=(256, 128))
    def build(num_classes: int = 0, **kwargs: Any) -> OSNet:
        return OSNet(channels, num_classes, **kwargs)

    build.__name__ = name
    build.__doc__ = f"OSNet {name[6:].replace('_', '.')}: stage channels {channels}."
    return build


osnet_x1_0 = _osnet_builder("osnet_x1_0", (64, 256, 384, 512))
osnet_x0_75 = _osnet_builder("osnet_x0_75", (48, 192, 288, 384))
osnet_x0_5 = _osnet_builder("osnet_x0_5", (32, 128, 192, 256))
osnet_x0_25 = _osnet_builder("osnet_x0_25", (16, 64, 96, 128))
