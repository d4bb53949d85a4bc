"""CDNet heads (spec §2.3): BNNeck (BoT), BLNeck (global), FNeck (stripes), FBLNeck (both).

Every neck takes the backbone's ``(fmap2, fmap3)`` feature maps (384x16x8 and 512x16x8 for
CDNet at 256x128).  Training returns a list of ``[logits, feature]`` pairs; eval returns the
inference embedding.  The fc blocks (``*fcs*``) and classifiers (``*classifier*``) are only
built when ``num_classes > 0`` and are never run at inference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _gap(x: torch.Tensor) -> torch.Tensor:
    return F.adaptive_avg_pool2d(x, 1).flatten(1)


@torch.fx.wrap
def stripe_pool(x: torch.Tensor, partitions: int) -> torch.Tensor:
    """Split along H into ``partitions`` stripes (``torch.chunk`` sizes), GAP each, concatenate.

    Wrapped for torch.fx: a leaf call, so a traced model (conv-BN fusion) keeps the loop intact.
    """
    return torch.cat([_gap(s) for s in torch.chunk(x, partitions, dim=2)], dim=1)


def fc_block(cin: int, cout: int) -> nn.Sequential:
    """The training-only fc: Linear -> BN1d -> ReLU."""
    return nn.Sequential(nn.Linear(cin, cout), nn.BatchNorm1d(cout), nn.ReLU(inplace=True))


class _Neck(nn.Module):
    embedding_dim: int

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = num_classes

    @property
    def emits_logits(self) -> bool:
        """Training outputs need classifiers; an inference-only build always returns embeddings."""
        return self.training and self.num_classes > 0


class BLNeck(_Neck):
    """Global branch: GAP(fmap3) -> dropout -> [fc -> classifier]; embedding = the pooled feature."""

    def __init__(self, num_classes: int, channels: int = 512, fc_dim: int = 512, dropout: float = 0.2):
        super().__init__(num_classes)
        self.embedding_dim = channels
        self.dropout = nn.Dropout(dropout)
        if num_classes > 0:
            self.fcs = fc_block(channels, fc_dim)
            self.classifier = nn.Linear(fc_dim, num_classes)

    def features(self, fmap3: torch.Tensor) -> torch.Tensor:
        return self.dropout(_gap(fmap3))

    def logits(self, feat: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.fcs(feat))

    def forward(self, fmap2: torch.Tensor, fmap3: torch.Tensor):
        feat = self.features(fmap3)
        return [[self.logits(feat), feat]] if self.emits_logits else feat


class FNeck(_Neck):
    """Local branch: 1x1 squeeze of fmap2 (kept at inference) -> P horizontal stripes -> GAP -> concat."""

    def __init__(
        self,
        num_classes: int,
        channels: int = 384,
        squeeze: int = 128,
        partitions: int = 2,
        fc_dim: int = 512,
        dropout: float = 0.2,
    ):
        super().__init__(num_classes)
        if partitions < 1:
            raise ValueError(f"FNeck needs >= 1 partition, got {partitions}")
        self.partitions = partitions
        self.embedding_dim = squeeze * partitions
        self.squeeze = nn.Conv2d(channels, squeeze, 1, bias=False)
        self.dropout = nn.Dropout(dropout)
        if num_classes > 0:
            self.local_fcs = fc_block(self.embedding_dim, fc_dim)
            self.local_classifier = nn.Linear(fc_dim, num_classes)

    def features(self, fmap2: torch.Tensor) -> torch.Tensor:
        return self.dropout(stripe_pool(self.squeeze(fmap2), self.partitions))

    def logits(self, feat: torch.Tensor) -> torch.Tensor:
        return self.local_classifier(self.local_fcs(feat))

    def forward(self, fmap2: torch.Tensor, fmap3: torch.Tensor):
        feat = self.features(fmap2)
        return [[self.logits(feat), feat]] if self.emits_logits else feat


class FBLNeck(_Neck):
    """Global + local: trains ``[[g_logits, f_g], [l_logits, f_l]]``; embeds ``cat(f_g, f_l)``.

    ``partitions=0`` leaves only the global branch (the P = 0 row of the paper's Table 5).
    """

    def __init__(
        self,
        num_classes: int,
        global_channels: int = 512,
        local_channels: int = 384,
        squeeze: int = 128,
        partitions: int = 2,
        fc_dim: int = 512,
        dropout: float = 0.2,
    ):
        super().__init__(num_classes)
        self.global_neck = BLNeck(num_classes, global_channels, fc_dim, dropout)
        self.local_neck = (
            FNeck(num_classes, local_channels, squeeze, partitions, fc_dim, dropout)
            if partitions > 0
            else None
        )
        self.embedding_dim = self.global_neck.embedding_dim + (
            self.local_neck.embedding_dim if self.local_neck is not None else 0
        )

    def forward(self, fmap2: torch.Tensor, fmap3: torch.Tensor):
        heads = [self.global_neck] + ([self.local_neck] if self.local_neck is not None else [])
        feats = [self.global_neck.features(fmap3)]
        if self.local_neck is not None:
            feats.append(self.local_neck.features(fmap2))
        if self.emits_logits:
            return [[head.logits(f), f] for head, f in zip(heads, feats)]
        return torch.cat(feats, dim=1) if len(feats) > 1 else feats[0]


class BNNeck(_Neck):
    """BoT BNNeck: f_t = GAP(fmap3); f_i = BN1d(f_t) with the BN bias frozen at 0.

    Triplet on f_t, bias-free classifier on f_i; the inference embedding is f_i.
    """

    def __init__(self, num_classes: int, channels: int = 512):
        super().__init__(num_classes)
        self.embedding_dim = channels
        self.bnneck = nn.BatchNorm1d(channels)
        self.bnneck.bias.requires_grad_(False)
        if num_classes > 0:
            self.classifier = nn.Linear(channels, num_classes, bias=False)

    def forward(self, fmap2: torch.Tensor, fmap3: torch.Tensor):
        feat = _gap(fmap3)
        normed = self.bnneck(feat)
        return [[self.classifier(normed), feat]] if self.emits_logits else normed


NECKS = {"fblneck": FBLNeck, "blneck": BLNeck, "fneck": FNeck, "bnneck": BNNeck}


def build_neck(
    name: str, num_classes: int, global_channels: int, local_channels: int, partitions: int = 2
) -> _Neck:
    """Build the neck ``name`` for a backbone with the given fmap3 / fmap2 channel counts."""
    if name == "fblneck":
        return FBLNeck(num_classes, global_channels, local_channels, partitions=partitions)
    if name == "blneck":
        return BLNeck(num_classes, global_channels)
    if name == "fneck":
        return FNeck(num_classes, local_channels, partitions=partitions)
    if name == "bnneck":
        return BNNeck(num_classes, global_channels)
    raise ValueError(f"unknown neck {name!r}; expected one of {', '.join(NECKS)}")
