"""HA-CNN (torchreid structure, 160×64; spec §3.1) and the two-branch skeleton it shares with Compact-ReID.

Forward contract (shared by ``hacnn`` and ``compact_reid_*``):

- eval mode: ``(B, embedding_dim)`` = cat(L2-normalised global feature, L2-normalised local feature).
- training mode: a list with one ``(logits, triplet_feature)`` pair per branch, ``[global, local]``.
  ``logits`` is ``(B, num_classes)`` or ``None`` when built with ``num_classes=0``; ``triplet_feature``
  is the branch's FC output (``(B, d)``, before normalisation unless ``triplet_on_normalized``).

Classifiers are the only modules named ``classifier*``; everything else is kept at inference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from reid.models.attention import REGIONS, ConvBlock, HarmAttn, crop_region, crop_regions
from reid.registry import register_model

# Local-branch region sizes (H, W) at the three stages, for 160×64 inputs (torchreid).
REGION_SIZES = ((24, 28), (12, 14), (6, 7))


class InceptionA(nn.Module):
    """Three [1x1, 3x3] streams and an [avgpool3, 1x1] stream of ``c_out/4`` channels each."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        m = c_out // 4
        self.streams = nn.ModuleList(
            [nn.Sequential(ConvBlock(c_in, m, 1), ConvBlock(m, m, 3, padding=1)) for _ in range(3)]
        )
        self.streams.append(nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1), ConvBlock(c_in, m, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([s(x) for s in self.streams], dim=1)


class InceptionB(nn.Module):
    """Stride-2 reduction: [1x1, 3x3 s2], [1x1, 3x3, 3x3 s2] (``c_out/4`` each), [maxpool s2, 1x1 -> c_out/2]."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        m = c_out // 4
        self.streams = nn.ModuleList(
            [
                nn.Sequential(ConvBlock(c_in, m, 1), ConvBlock(m, m, 3, stride=2, padding=1)),
                nn.Sequential(
                    ConvBlock(c_in, m, 1),
                    ConvBlock(m, m, 3, padding=1),
                    ConvBlock(m, m, 3, stride=2, padding=1),
                ),
                nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1), ConvBlock(c_in, 2 * m, 1)),
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([s(x) for s in self.streams], dim=1)


def fc_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    """HA-CNN's embedding FC: Linear -> BN1d -> ReLU."""
    return nn.Sequential(nn.Linear(c_in, c_out), nn.BatchNorm1d(c_out), nn.ReLU(inplace=True))


def global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    return F.adaptive_avg_pool2d(x, 1).flatten(1)


class HarmoniousNet(nn.Module):
    """Stem + 3 (stage, HA) blocks (global branch) + STN-cropped regions through shared local convs.

    Block i: ``y = stage_i(source)``; ``out = y * soft_mask(y)``; each of the 4 regions is cropped from
    ``source`` (the block's *input*) with block i's hard-attention translations, resized to
    ``REGION_SIZES[i]``, added to the region's previous local output and passed through ``local_convs[i]``
    (one module shared by the 4 regions).
    """

    def __init__(
        self,
        stem: nn.Module,
        stages: Sequence[nn.Module],
        channels: Sequence[int],
        local_convs: Sequence[nn.Module],
        global_dim: int,
        local_dim: int,
        num_classes: int = 0,
        pool: Callable[[], nn.Module] | None = None,
        classifier_bias: bool = True,
        classify_normalized: bool = False,
        triplet_on_normalized: bool = False,
        exact_stripes: bool = True,
        logit_scale: float = 1.0,
        train_channels_last: bool = False,
    ) -> None:
        super().__init__()
        if not len(stages) == len(channels) == len(local_convs) == len(REGION_SIZES):
            raise ValueError("HarmoniousNet needs exactly 3 stages, channel counts and local convs")
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.ha = nn.ModuleList([HarmAttn(c, exact_stripes) for c in channels])
        self.local_convs = nn.ModuleList(local_convs)
        # GeM (Compact-ReID) has a trainable exponent, so each branch gets its own pooling module.
        self.global_pool = pool() if pool else None
        self.local_pool = pool() if pool else None
        self.fc_global = fc_bn_relu(channels[-1], global_dim)
        self.fc_local = fc_bn_relu(REGIONS * channels[-1], local_dim)
        self.num_classes = num_classes
        if num_classes > 0:
            self.classifier_global = nn.Linear(global_dim, num_classes, bias=classifier_bias)
            self.classifier_local = nn.Linear(local_dim, num_classes, bias=classifier_bias)
            if not classifier_bias:  # BoT init for bias-free classifiers
                for clf in (self.classifier_global, self.classifier_local):
                    nn.init.normal_(clf.weight, std=0.001)
        self.classify_normalized = classify_normalized
        self.triplet_on_normalized = triplet_on_normalized
        # Fixed factor on the logits: unit-norm features into a classifier initialised at std 0.001 give
        # logits near 0 that grow slowly (spec §3.3's "check early convergence"); 1.0 is the paper's model.
        self.logit_scale = float(logit_scale)
        self.embedding_dim = global_dim + local_dim
        # Memory format of training (same arithmetic, other float32 rounding): oneDNN convolutions and
        # BatchNorm run up to ~2x faster on CPU in NHWC than NCHW, which Compact-ReID's many 1x1 / depth-wise
        # layers feel (~1.3x a step). Off by default: the rounding differences grow through the deep BN stack
        # to ~1e-3 in the loss. Inference keeps NCHW (optimize_for_inference makes its own copy).
        self.train_channels_last = train_channels_last

    def _pool(self, pool: nn.Module | None, x: torch.Tensor) -> torch.Tensor:
        return pool(x) if pool is not None else global_avg_pool(x)

    def _crop(self, source: torch.Tensor, theta: torch.Tensor, size: tuple[int, int]) -> Sequence[torch.Tensor]:
        """The ``REGIONS`` STN crops of ``source``, each ``(B, C, *size)``.

        Training uses the matmul formulation (same values and gradients), because the CPU backward of
        ``grid_sample`` + ``interpolate`` dominated the local branch. Inference keeps ``grid_sample``: its
        forward is cheap, it adds no matmul MACs to the conv/linear count, and the ONNX graph is unchanged.
        """
        if self.training:
            return crop_regions(source, theta, size).unbind(1)
        return [crop_region(source, theta[:, r], size) for r in range(REGIONS)]

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(global feature (B, global_dim), local feature (B, local_dim)), both before L2 normalisation."""
        if self.training and self.train_channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        source = self.stem(x)
        local: list[torch.Tensor | None] = [None] * REGIONS
        for stage, ha, local_conv, size in zip(self.stages, self.ha, self.local_convs, REGION_SIZES):
            y = stage(source)
            mask, theta = ha(y)
            regions = self._crop(source, theta, size)
            for r in range(REGIONS):
                # One local_conv call per region (not one on the stacked batch): its BatchNorms must keep
                # per-region batch statistics in training.
                region = regions[r]
                prev = local[r]
                local[r] = local_conv(region if prev is None else region + prev)
            source = y * mask
        f_global = self.fc_global(self._pool(self.global_pool, source))
        f_local = self.fc_local(torch.cat([self._pool(self.local_pool, t) for t in local], dim=1))
        return f_global, f_local

    def forward(self, x: torch.Tensor):
        features = self.forward_features(x)
        normed = [F.normalize(f, dim=1) for f in features]
        if not self.training:
            return torch.cat(normed, dim=1)
        outputs = []
        for name, f, f_n in zip(("global", "local"), features, normed):
            clf = getattr(self, f"classifier_{name}", None)
            logits = clf(f_n if self.classify_normalized else f) * self.logit_scale if clf is not None else None
            outputs.append((logits, f_n if self.triplet_on_normalized else f))
        return outputs


@register_model("hacnn", input_size=(160, 64))
def hacnn(
    num_classes: int = 0,
    channels: Sequence[int] = (128, 256, 384),
    feat_dim: int = 512,
    exact_stripes: bool = True,
) -> HarmoniousNet:
    """HA-CNN as torchreid builds it (learn_region=True): 2,929,112 params without classifiers."""
    c0 = 32
    ins = (c0, *channels[:-1])
    return HarmoniousNet(
        stem=ConvBlock(3, c0, 3, stride=2, padding=1),
        stages=[nn.Sequential(InceptionA(a, b), InceptionB(b, b)) for a, b in zip(ins, channels)],
        channels=channels,
        local_convs=[InceptionB(a, b) for a, b in zip(ins, channels)],
        global_dim=feat_dim,
        local_dim=feat_dim,
        num_classes=num_classes,
        exact_stripes=exact_stripes,
    )
