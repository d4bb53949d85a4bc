"""Auto-ReID (Quan et al., ICCV 2019; spec §4): DARTS cells in a ResNet-like macro structure, 384×128.

Reusable pieces for architecture search:

- :class:`Genotype` — per cell type, 2 ``(op, input_index)`` pairs per intermediate node (input 0/1 are
  the two previous cells' outputs, 2+ earlier nodes) and the concatenated node indices; JSON-able
  via ``to_dict`` / ``from_dict``.
- :class:`CellBase` — the DARTS preprocessing (FactorizedReduce after a reduction cell, else
  ReLU-1x1-BN) and the edge-stride rule; :class:`Cell` builds the discrete cell of a genotype.
- :class:`DartsBackbone` — stem + cells from any ``cell_factory(c_pp, c_p, c, reduction, reduction_prev)``
  returning a module with ``.multiplier`` and ``forward(s0, s1, **cell_kwargs)``; a search supernet
  passes its mixed cells and architecture weights through ``cell_kwargs``.

Model forward contract: eval mode returns the embedding (B, ``embedding_dim``) — the pooled backbone
feature ``f`` (2048-d at C=64) by default, or ``g`` with ``eval_feature="g"``; training mode returns
``[(logits, f)]`` (one branch; ``logits`` is ``None`` when built with ``num_classes=0``): the softmax
CE goes on the logits ``h``, the triplet loss on ``f`` (paper §3.2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mtmc.errors import ConfigError, read_json_file
from reid.models.darts_ops import OPS, FactorizedReduce, ReLUConvBN, drop_path, make_op
from reid.registry import register_model

Edge = tuple[str, int]


class Genotype(NamedTuple):
    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]

    def to_dict(self) -> dict:
        return {
            "normal": [list(e) for e in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [list(e) for e in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = "genotype") -> Genotype:
        """Parse and validate (op names, input indices, concat); ``where`` prefixes error key paths."""
        try:
            geno = cls(
                tuple((str(op), int(idx)) for op, idx, *_ in data["normal"]),
                tuple(int(i) for i in data["normal_concat"]),
                tuple((str(op), int(idx)) for op, idx, *_ in data["reduce"]),
                tuple(int(i) for i in data["reduce_concat"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{where}: expected {{normal: [[op, input], ...], normal_concat: [...], reduce: ..., "
                f"reduce_concat: ...}} ({exc})"
            ) from None
        geno.validate(where)
        return geno

    def validate(self, where: str = "genotype") -> None:
        for kind in ("normal", "reduce"):
            edges, concat = getattr(self, kind), getattr(self, f"{kind}_concat")
            if not edges or len(edges) % 2:
                raise ConfigError(f"{where}.{kind}: expected 2 edges per node, got {len(edges)} edges")
            for k, (op, idx) in enumerate(edges):
                if op not in OPS:
                    raise ConfigError(
                        f"{where}.{kind}[{k}]: unknown op {op!r}; expected one of {', '.join(OPS)}"
                    )
                if not 0 <= idx < 2 + k // 2:
                    raise ConfigError(
                        f"{where}.{kind}[{k}]: input {idx} is not an earlier state of node {k // 2}"
                    )
            nodes = 2 + len(edges) // 2
            if not concat or any(not 0 <= i < nodes for i in concat):
                raise ConfigError(
                    f"{where}.{kind}_concat: indices must lie in [0, {nodes}), got {list(concat)}"
                )


def _geno(normal: str, reduce: str) -> Genotype:
    """Compact literal: 'op:idx op:idx | ...' with 4 nodes and concat = 2..5."""

    def edges(text: str) -> tuple[Edge, ...]:
        return tuple((op, int(i)) for op, i in (t.split(":") for t in text.replace("|", " ").split()))

    return Genotype(edges(normal), (2, 3, 4, 5), edges(reduce), (2, 3, 4, 5))


# Released genotypes (D-X-Y/Auto-ReID-and-Others ``models/genotypes.py``; spec §4.3), without the edge weights.
BASELINE = _geno(
    "dil_conv_3x3:1 dil_conv_3x3:0 | dil_conv_3x3:1 sep_conv_3x3:2 | dil_conv_3x3:2 sep_conv_3x3:1 "
    "| sep_conv_3x3:2 sep_conv_3x3:3",
    "sep_conv_3x3:1 skip_connect:0 | max_pool_3x3:2 dil_conv_3x3:1 | max_pool_3x3:0 dil_conv_3x3:2 "
    "| skip_connect:0 dil_conv_3x3:4",
)
BASELINE_REID_SEARCH_SPACE = _geno(
    "dil_conv_3x3:0 skip_connect:1 | max_pool_3x3:2 sep_conv_3x3:0 | max_pool_3x3:3 sep_conv_3x3:1 "
    "| sep_conv_3x3:2 dil_conv_3x3:3",
    "skip_connect:1 part_aware:0 | avg_pool_3x3:2 part_aware:0 | sep_conv_3x3:1 avg_pool_3x3:2 "
    "| skip_connect:4 max_pool_3x3:3",
)
RETRIEVAL_REID_SEARCH_SPACE = _geno(
    "sep_conv_3x3:0 skip_connect:1 | dil_conv_3x3:2 dil_conv_3x3:0 | dil_conv_3x3:3 sep_conv_3x3:2 "
    "| dil_conv_3x3:4 dil_conv_3x3:3",
    "max_pool_3x3:0 part_aware:1 | sep_conv_3x3:0 dil_conv_3x3:2 | dil_conv_3x3:2 max_pool_3x3:0 "
    "| dil_conv_3x3:4 dil_conv_3x3:3",
)
GENOTYPES = {
    "baseline": BASELINE,
    "baseline_reid": BASELINE_REID_SEARCH_SPACE,
    "retrieval_reid": RETRIEVAL_REID_SEARCH_SPACE,
}


class CellBase(nn.Module):
    """DARTS cell inputs: s0 (two cells back) and s1 (previous cell), both preprocessed to ``c`` channels."""

    def __init__(
        self, c_prev_prev: int, c_prev: int, c: int, reduction: bool, reduction_prev: bool, affine=True
    ):
        super().__init__()
        self.reduction = reduction
        # After a reduction cell s0 has twice s1's resolution, so it is reduced to match.
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, c, affine)
        else:
            self.preprocess0 = ReLUConvBN(c_prev_prev, c, 1, 1, 0, affine)
        self.preprocess1 = ReLUConvBN(c_prev, c, 1, 1, 0, affine)

    def edge_stride(self, input_index: int) -> int:
        """Reduction cells apply stride 2 to the edges reading the cell inputs."""
        return 2 if self.reduction and input_index < 2 else 1


class Cell(CellBase):
    """Discrete cell of a genotype: node j = op_a(state_a) + op_b(state_b); output = cat(concat states)."""

    def __init__(self, genotype: Genotype, c_prev_prev, c_prev, c, reduction, reduction_prev, affine=True):
        super().__init__(c_prev_prev, c_prev, c, reduction, reduction_prev, affine)
        edges = genotype.reduce if reduction else genotype.normal
        self.concat = tuple(genotype.reduce_concat if reduction else genotype.normal_concat)
        self.indices = tuple(idx for _, idx in edges)
        self.ops = nn.ModuleList(make_op(op, c, self.edge_stride(idx), affine) for op, idx in edges)
        self.multiplier = len(self.concat)
        self.drop_prob = 0.0  # drop-path probability, set by the trainer

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(0, len(self.ops), 2):
            node = 0
            for op, idx in zip(self.ops[k : k + 2], self.indices[k : k + 2]):
                h = op(states[idx])
                if self.training and not isinstance(op, nn.Identity):
                    h = drop_path(h, self.drop_prob)
                node = node + h
            states.append(node)
        return torch.cat([states[i] for i in self.concat], dim=1)


CellFactory = Callable[[int, int, int, bool, bool], nn.Module]


STEMS = ("resnet", "darts_imagenet")


class DartsBackbone(nn.Module):
    """Stem, then ``sum(layers)`` cells; channels double and a reduction cell opens blocks 2..n.

    The Auto-ReID stem ("head") is unspecified; ``stem`` picks one:

    - ``"resnet"`` (default): ResNet's head with a 3x3 conv, conv3x3(3->C, s2)-BN-ReLU-maxpool(3, s2),
      feeding both cell inputs (total stride 4). Gives ≈1.86G MACs for the released genotype at 384×128,
      closest to the paper's 1.8G (the DARTS-ImageNet stem gives 0.56G).
    - ``"darts_imagenet"``: stem0 = conv3x3(3->C/2, s2)-BN-ReLU-conv3x3(C/2->C, s2)-BN gives s0 and
      stem1 = ReLU-conv3x3(C->C, s2)-BN gives s1 (total stride 8).
    """

    def __init__(
        self,
        cell_factory: CellFactory,
        channels: int = 64,
        layers: Sequence[int] = (2, 2, 2, 2),
        stem: str = "resnet",
    ) -> None:
        super().__init__()
        if stem == "resnet":
            self.stem0 = nn.Sequential(
                nn.Conv2d(3, channels, 3, 2, 1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            )
            self.stem1: nn.Module = nn.Identity()
        elif stem == "darts_imagenet":
            self.stem0 = nn.Sequential(
                nn.Conv2d(3, channels // 2, 3, 2, 1, bias=False),
                nn.BatchNorm2d(channels // 2),
                nn.ReLU(inplace=True),
                nn.Conv2d(channels // 2, channels, 3, 2, 1, bias=False),
                nn.BatchNorm2d(channels),
            )
            self.stem1 = ReLUConvBN(channels, channels, 3, 2, 1)
        else:
            raise ConfigError(f"autoreid.stem: expected one of {', '.join(STEMS)}, got {stem!r}")
        c_prev_prev, c_prev, c_curr = channels, channels, channels
        reduction_prev = stem == "darts_imagenet"  # s0 has twice s1's resolution there
        cells = []
        for block, n in enumerate(layers):
            for i in range(n):
                reduction = block > 0 and i == 0
                if reduction:
                    c_curr *= 2
                cell = cell_factory(c_prev_prev, c_prev, c_curr, reduction, reduction_prev)
                cells.append(cell)
                c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
                reduction_prev = reduction
        self.cells = nn.ModuleList(cells)
        self.out_channels = c_prev

    def forward(self, x: torch.Tensor, **cell_kwargs) -> torch.Tensor:
        s0 = self.stem0(x)
        s1 = self.stem1(s0)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, **cell_kwargs)
        return s1

    def set_drop_path(self, prob: float) -> None:
        for cell in self.cells:
            cell.drop_prob = prob


class AutoReID(nn.Module):
    """Backbone -> GAP feature ``f`` -> dropout -> embedding ``g`` (Linear+BN+ReLU) -> dropout -> classifier ``h``."""

    def __init__(
        self,
        genotype: Genotype = RETRIEVAL_REID_SEARCH_SPACE,
        num_classes: int = 0,
        channels: int = 64,
        layers: Sequence[int] = (2, 2, 2, 2),
        stem: str = "resnet",
        embedding_dim: int = 512,
        dropout: float = 0.5,
        eval_feature: str = "f",
    ) -> None:
        super().__init__()
        if eval_feature not in ("f", "g"):
            raise ConfigError(f"autoreid.eval_feature: expected 'f' or 'g', got {eval_feature!r}")
        genotype.validate()
        self.genotype = genotype
        # what rebuilds this network from a weights file (reid.weights.save_weights / build_from_weights)
        self.config = {"channels": channels, "layers": list(layers), "stem": stem, "embedding_dim": embedding_dim,
                       "dropout": dropout, "eval_feature": eval_feature}
        self.backbone = DartsBackbone(
            lambda cpp, cp, c, red, red_prev: Cell(genotype, cpp, cp, c, red, red_prev),
            channels,
            layers,
            stem,
        )
        feat = self.backbone.out_channels
        self.dropout = nn.Dropout(dropout)
        self.eval_feature = eval_feature
        # The embedding g only serves the classifier unless g is the inference feature.
        self.embedding = None
        if num_classes > 0 or eval_feature == "g":
            self.embedding = nn.Sequential(
                nn.Linear(feat, embedding_dim), nn.BatchNorm1d(embedding_dim), nn.ReLU(inplace=True)
            )
        self.classifier = nn.Linear(embedding_dim, num_classes) if num_classes > 0 else None
        self.num_classes = num_classes
        self.embedding_dim = feat if eval_feature == "f" else embedding_dim

    def forward(self, x: torch.Tensor):
        f = F.adaptive_avg_pool2d(self.backbone(x), 1).flatten(1)
        if not self.training:
            return f if self.eval_feature == "f" else self.embedding(f)
        logits = None
        if self.classifier is not None:
            logits = self.classifier(self.dropout(self.embedding(self.dropout(f))))
        return [(logits, f)]


@register_model("autoreid", input_size=(384, 128))
def autoreid(num_classes: int = 0, genotype: Genotype | str | dict = "retrieval_reid", **kwargs) -> AutoReID:
    """Auto-ReID built from a cell genotype (default: the released RETRIEVAL one, C=64, l=[2,2,2,2]).

    ``genotype`` is a built-in name, a JSON file path (e.g. the ``genotype.json`` that
    ``mtmc reid search`` writes for ``method=darts-autoreid``), a mapping, or a :class:`Genotype`.
    """
    return AutoReID(load_cell_genotype(genotype), num_classes, **kwargs)


def load_cell_genotype(source: Genotype | str | Path | dict, where: str = "autoreid.genotype") -> Genotype:
    """A cell Genotype from a built-in name, a JSON file (a path ending in ``.json``), or a mapping."""
    if isinstance(source, Genotype):
        return source
    if isinstance(source, dict):
        return Genotype.from_dict(source, where)
    if isinstance(source, Path) or str(source).endswith(".json"):
        return Genotype.from_dict(read_json_file(source, "genotype file"), str(source))
    if source not in GENOTYPES:
        raise ConfigError(
            f"{where}: unknown genotype {source!r}; expected a .json file or one of {', '.join(GENOTYPES)}"
        )
    return GENOTYPES[source]
