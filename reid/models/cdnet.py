"""CDNet / CNet / CDNet_std / CDNet_v35 (Li, Wu, Zheng; spec §2.1-2.4), built from a genotype.

``build_from_genotype("my_search/best_genotype.json", num_classes=751)`` builds a searched
architecture exactly as the named models are built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from reid.genotypes import Genotype, load_genotype
from reid.models.blocks import (
    Conv1x1BN,
    Conv1x1BNReLU,
    DownSample,
    GatedMultiBranch,
    LiteK,
    ReidModelMixin,
    StdStem,
    kaiming_init_,
)
from reid.models.necks import build_neck
from reid.registry import register_model

PLANES = (64, 256, 384, 512)
GATE_REDUCTION = 4  # the shared AdaptiveFuse ratio; only r = 4 reproduces the paper's param counts


class CBlock(GatedMultiBranch):
    """Squeeze to out/4 -> Lite-k1 and Lite-k2 in parallel -> shared gate sum -> restore + shortcut."""

    def __init__(self, cin: int, cout: int, k1: int, k2: int, reduction: int = GATE_REDUCTION):
        mid = cout // 4
        super().__init__(cin, cout, {"branch1": LiteK(mid, k1), "branch2": LiteK(mid, k2)}, reduction, mid)


class STDBlock(nn.Module):
    """CDNet_std cell: one branch, Lite-k1 then Lite-k2 in series, no gate (spec §2.2)."""

    def __init__(self, cin: int, cout: int, k1: int, k2: int):
        super().__init__()
        mid = cout // 4
        self.conv1 = Conv1x1BNReLU(cin, mid)
        self.branch = nn.Sequential(LiteK(mid, k1), LiteK(mid, k2))
        self.conv3 = Conv1x1BN(mid, cout)
        self.downsample = Conv1x1BN(cin, cout) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return torch.relu(self.conv3(self.branch(self.conv1(x))) + identity)


class CDBlock(nn.Sequential):
    """r cells in series; only the first one changes the channel count."""

    def __init__(self, cin: int, cout: int, k1: int, k2: int, r: int, cell: type[nn.Module] = CBlock):
        super().__init__(*(cell(cin if i == 0 else cout, cout, k1, k2) for i in range(r)))


CELLS = {"cblock": CBlock, "std": STDBlock}


class CDNetBackbone(nn.Module):
    """Stem + 8 cells (6 CDBlocks, 2 DownSamples); returns (fmap2, fmap3) = outputs of cells 6 and 8."""

    def __init__(self, genotype: Genotype, planes: tuple[int, ...] = PLANES, cell: str = "cblock"):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown CDNet cell {cell!r}; expected one of {', '.join(CELLS)}")
        c0, c1, c2, c3 = planes
        g = genotype.layers
        block = CELLS[cell]
        self.stem = StdStem(c0)
        self.cells = nn.ModuleList(
            [
                CDBlock(c0, c1, *g[0], cell=block),
                CDBlock(c1, c1, *g[1], cell=block),
                DownSample(c1),
                CDBlock(c1, c2, *g[2], cell=block),
                CDBlock(c2, c2, *g[3], cell=block),
                DownSample(c2),
                CDBlock(c2, c3, *g[4], cell=block),
                CDBlock(c3, c3, *g[5], cell=block),
            ]
        )
        self.out_channels = (c2, c3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(x)
        fmap2 = x
        for i, cell in enumerate(self.cells):
            x = cell(x)
            if i == 5:
                fmap2 = x
        return fmap2, x


class CDNet(ReidModelMixin, nn.Module):
    """A CDNet-family ReID network: genotype backbone + neck (FBLNeck, P = 2 by default)."""

    def __init__(
        self,
        genotype: Genotype,
        num_classes: int = 0,
        neck: str = "fblneck",
        partitions: int = 2,
        cell: str = "cblock",
        planes: tuple[int, ...] = PLANES,
    ):
        super().__init__()
        self.genotype = genotype
        self.num_classes = num_classes
        self.config = {"neck": neck, "partitions": partitions, "cell": cell, "planes": list(planes)}
        self.backbone = CDNetBackbone(genotype, tuple(planes), cell)
        local_c, global_c = self.backbone.out_channels
        self.neck = build_neck(neck, num_classes, global_c, local_c, partitions)
        self.embedding_dim = self.neck.embedding_dim
        kaiming_init_(self)

    def forward(self, x: torch.Tensor):
        return self.neck(*self.backbone(x))


def build_from_genotype(
    genotype: str | Path | dict | Genotype,
    num_classes: int = 0,
    neck: str = "fblneck",
    partitions: int = 2,
    cell: str = "cblock",
    **kwargs: Any,
) -> CDNet:
    """Build a CDNet-family network from a genotype (built-in name, JSON path, mapping or Genotype)."""
    return CDNet(load_genotype(genotype), num_classes, neck=neck, partitions=partitions, cell=cell, **kwargs)


@register_model("cdnet", input_size=(256, 128))
def cdnet(num_classes: int = 0, **kwargs: Any) -> CDNet:
    return build_from_genotype("cdnet", num_classes, **kwargs)


@register_model("cnet", input_size=(256, 128))
def cnet(num_classes: int = 0, **kwargs: Any) -> CDNet:
    return build_from_genotype("cnet", num_classes, **kwargs)


@register_model("cdnet_std", input_size=(256, 128))
def cdnet_std(num_classes: int = 0, **kwargs: Any) -> CDNet:
    kwargs.setdefault("cell", "std")
    return build_from_genotype("cdnet", num_classes, **kwargs)


@register_model("cdnet_v35", input_size=(256, 128))
def cdnet_v35(num_classes: int = 0, **kwargs: Any) -> CDNet:
    return build_from_genotype("cdnet_v35", num_classes, **kwargs)


@register_model("cdnet_genotype", input_size=(256, 128))
def cdnet_genotype(num_classes: int = 0, genotype: str | Path | dict | None = None, **kwargs: Any) -> CDNet:
    """Any genotype JSON: ``build_model("cdnet_genotype", genotype="path.json")``."""
    if genotype is None:
        raise ValueError("cdnet_genotype needs genotype=<name | JSON path | mapping>")
    return build_from_genotype(genotype, num_classes, **kwargs)
