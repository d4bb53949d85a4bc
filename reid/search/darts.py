"""First-order DARTS supernet over the Auto-ReID search space (spec §1.7, §4).

Every edge of a search cell (4 intermediate nodes, 2 + 3 + 4 + 5 = 14 edges) is a :class:`MixedOp`
``sum_o softmax(alpha)_o * o(x)`` over the 7 ops of O_reid; the search-phase BNs have
``affine=False`` and pooling ops get an extra BN(affine=False), as in DARTS.  The macro
structure and preprocessing are reused from :mod:`reid.models.autoreid`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from reid.models.autoreid import CellBase, DartsBackbone, Genotype
from reid.models.darts_ops import REID_PRIMITIVES, make_op

STEPS = 4  # intermediate nodes per cell


def num_edges(steps: int = STEPS) -> int:
    return sum(2 + i for i in range(steps))


class MixedOp(nn.Module):
    """All candidate ops of one edge, mixed by the edge's softmax weights."""

    def __init__(self, channels: int, stride: int, primitives: Sequence[str]):
        super().__init__()
        ops = []
        for name in primitives:
            op = make_op(name, channels, stride, affine=False)
            if "pool" in name:
                op = nn.Sequential(op, nn.BatchNorm2d(channels, affine=False))
            ops.append(op)
        self.ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops))


class SearchCell(CellBase):
    """A DARTS search cell: every earlier state feeds every node through a MixedOp."""

    def __init__(self, primitives, c_prev_prev, c_prev, c, reduction, reduction_prev, steps: int = STEPS):
        super().__init__(c_prev_prev, c_prev, c, reduction, reduction_prev, affine=False)
        self.steps = steps
        self.multiplier = steps
        self.edges = nn.ModuleList(
            MixedOp(c, self.edge_stride(j), primitives) for i in range(steps) for j in range(2 + i)
        )

    def forward(self, s0, s1, normal: torch.Tensor, reduce: torch.Tensor) -> torch.Tensor:
        weights = reduce if self.reduction else normal
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self.steps):
            node = sum(self.edges[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(node)
        return torch.cat(states[-self.multiplier :], dim=1)


class DartsSupernet(nn.Module):
    """Auto-ReID search network: stem + search cells, then f = GAP -> dropout -> g -> dropout -> logits.

    Training returns ``[(logits, f)]`` (CE on logits, triplet on f), eval returns ``f``.
    ``alpha_normal`` / ``alpha_reduce`` have shape (14, |O|) and are kept out of
    :meth:`weight_parameters`.
    """

    def __init__(
        self,
        num_classes: int = 0,
        channels: int = 32,
        layers: Sequence[int] = (2, 2, 2, 2),
        stem: str = "resnet",
        primitives: Sequence[str] = REID_PRIMITIVES,
        embedding_dim: int = 512,
        dropout: float = 0.5,
        alpha_init: float = 1e-3,
    ):
        super().__init__()
        self.primitives = tuple(primitives)
        if "none" not in self.primitives:
            raise ValueError("the DARTS derivation needs the 'none' op in the primitives")
        self.backbone = DartsBackbone(
            lambda cpp, cp, c, red, red_prev: SearchCell(self.primitives, cpp, cp, c, red, red_prev),
            channels,
            layers,
            stem,
        )
        feat = self.backbone.out_channels
        self.embedding_dim = feat
        self.num_classes = num_classes
        self.dropout = nn.Dropout(dropout)
        if num_classes > 0:
            self.fcs = nn.Sequential(nn.Linear(feat, embedding_dim), nn.BatchNorm1d(embedding_dim), nn.ReLU(True))
            self.classifier = nn.Linear(embedding_dim, num_classes)
        shape = (num_edges(), len(self.primitives))
        self.alpha_normal = nn.Parameter(alpha_init * torch.randn(shape))
        self.alpha_reduce = nn.Parameter(alpha_init * torch.randn(shape))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha_normal, self.alpha_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("alpha_")]

    def forward(self, x: torch.Tensor):
        normal = F.softmax(self.alpha_normal, dim=-1)
        reduce = F.softmax(self.alpha_reduce, dim=-1)
        f = F.adaptive_avg_pool2d(self.backbone(x, normal=normal, reduce=reduce), 1).flatten(1)
        if not self.training or self.num_classes == 0:
            return f
        return [(self.classifier(self.dropout(self.fcs(self.dropout(f)))), f)]

    # ------------------------------------------------------------------------------------------
    def probabilities(self) -> dict[str, torch.Tensor]:
        return {
            "normal": F.softmax(self.alpha_normal.detach(), -1),
            "reduce": F.softmax(self.alpha_reduce.detach(), -1),
        }

    def genotype(self) -> Genotype:
        probs = self.probabilities()
        return Genotype(
            derive_edges(probs["normal"], self.primitives),
            tuple(range(2, 2 + STEPS)),
            derive_edges(probs["reduce"], self.primitives),
            tuple(range(2, 2 + STEPS)),
        )

    def genotype_dict(self) -> dict:
        """The genotype as ``Genotype.from_dict`` reads it; each edge carries its weight as 3rd item."""
        probs = self.probabilities()
        out = {}
        for kind in ("normal", "reduce"):
            edges = derive_edges(probs[kind], self.primitives, with_weights=True)
            out[kind] = [[op, idx, round(w, 6)] for op, idx, w in edges]
            out[f"{kind}_concat"] = list(range(2, 2 + STEPS))
        out["primitives"] = list(self.primitives)
        return out


def derive_edges(weights: torch.Tensor, primitives: Sequence[str], steps: int = STEPS, with_weights=False):
    """DARTS derivation: per node keep the 2 inputs whose best non-``none`` op weighs most, each with
    its argmax non-``none`` op.  Returns ``(op, input)`` pairs (``(op, input, weight)`` on request)."""
    none = list(primitives).index("none")
    w = weights.detach().cpu().clone()
    w[:, none] = float("-inf")
    edges = []
    offset = 0
    for i in range(steps):
        n_in = 2 + i
        rows = w[offset : offset + n_in]
        best, ops = rows.max(dim=1)
        keep = sorted(torch.argsort(best, descending=True, stable=True)[:2].tolist())
        for j in keep:
            edge = (primitives[int(ops[j])], j) + ((float(best[j]),) if with_weights else ())
            edges.append(edge)
        offset += n_in
    return tuple(edges)
