"""Top-k Sample Search supernets over CDNet's Combined (Depth) Space (spec §2.5-2.6).

Each of the 6 CDNet layers is an :class:`MBlock` holding every candidate block of the space.
Per forward pass and layer, p = softmax(alpha_i), the k most probable candidates are picked and
only those run; their outputs are summed with the straight-through weights
``h_hat = h + (p - p.detach())``: forward value exactly the binary top-k mask ``h``, gradient
the identity onto ``p`` (then through the softmax Jacobian onto alpha, paper eq.8).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from reid.genotypes import CDS_CANDIDATES, CS_CANDIDATES, Genotype
from reid.models.blocks import Conv1x1BNReLU, DownSample, StdStem, kaiming_init_
from reid.models.cdnet import PLANES, CDBlock
from reid.models.necks import fc_block

SPACES = {"cs": CS_CANDIDATES, "cds": CDS_CANDIDATES}
NUM_LAYERS = 6


def space_candidates(space: str) -> tuple[tuple[int, int, int], ...]:
    """The candidates of ``space`` as ``(k1, k2, r)`` in alpha's index order (r = 1 for CS)."""
    if space not in SPACES:
        raise ValueError(f"unknown search space {space!r}; expected one of {', '.join(SPACES)}")
    return tuple((c[0], c[1], c[2] if len(c) == 3 else 1) for c in SPACES[space])


def straight_through_topk(alpha: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Straight-through top-k weights of each row of ``alpha`` and the selected indices.

    Returns ``(h_hat, idx)``: ``h_hat`` has the forward value of the binary top-k mask exactly
    (``h + (p - p.detach())`` adds an exact 0) and d h_hat / d p = identity.
    """
    if not 1 <= k <= alpha.shape[-1]:
        raise ValueError(f"top-k needs 1 <= k <= {alpha.shape[-1]} candidates, got k={k}")
    p = F.softmax(alpha, dim=-1)
    idx = p.detach().topk(k, dim=-1).indices
    h = torch.zeros_like(p).scatter_(-1, idx, 1.0)
    return h + (p - p.detach()), idx


class MBlock(nn.Module):
    """All candidate blocks of one layer; ``forward(x, weights, idx)`` runs only the ``idx`` ones.

    ``quirk=True`` reproduces the reference code: each non-selected weight (forward value 0) is
    added to the output as a scalar, which gives it the gradient sum(dL/dF).
    """

    def __init__(self, cin: int, cout: int, candidates: Sequence[tuple[int, int, int]], quirk: bool = False):
        super().__init__()
        self.candidates = tuple(candidates)
        self.quirk = quirk
        self.blocks = nn.ModuleList(CDBlock(cin, cout, k1, k2, r) for k1, k2, r in self.candidates)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        selected = idx.tolist()
        out = sum(weights[j] * self.blocks[j](x) for j in selected)
        if self.quirk:
            rest = [j for j in range(len(self.blocks)) if j not in selected]
            if rest:
                out = out + weights[rest].sum()
        return out


class TopKSupernet(nn.Module):
    """CS / CDS search network: CDNet macro (§2.1) of MBlocks + the search head (§2.5).

    Head: Conv1x1BNReLU(c3 -> c3) -> GAP -> dropout -> f; fcs (Linear + BN1d + ReLU) -> classifier.
    Training returns ``[[logits, f]]`` (CE + triplet); eval returns ``f``.
    ``alpha`` (6 x n, init ``alpha_init``) is a parameter kept out of :meth:`weight_parameters`.
    """

    def __init__(
        self,
        space: str = "cds",
        num_classes: int = 0,
        top_k: int = 2,
        quirk: bool = False,
        planes: Sequence[int] = PLANES,
        fc_dim: int = 512,
        dropout: float = 0.2,
        alpha_init: float = 1e-3,
    ):
        super().__init__()
        self.space = space
        self.candidates = space_candidates(space)
        n = len(self.candidates)
        if not 1 <= top_k <= n:
            raise ValueError(f"top_k must lie in 1..{n} for space {space!r}, got {top_k}")
        self.top_k, self.num_classes = top_k, num_classes
        c0, c1, c2, c3 = planes
        self.stem = StdStem(c0)
        self.cells = nn.ModuleList(
            [
                MBlock(c0, c1, self.candidates, quirk),
                MBlock(c1, c1, self.candidates, quirk),
                DownSample(c1),
                MBlock(c1, c2, self.candidates, quirk),
                MBlock(c2, c2, self.candidates, quirk),
                DownSample(c2),
                MBlock(c2, c3, self.candidates, quirk),
                MBlock(c3, c3, self.candidates, quirk),
            ]
        )
        self.conv_out = Conv1x1BNReLU(c3, c3)
        self.dropout = nn.Dropout(dropout)
        self.embedding_dim = c3
        if num_classes > 0:
            self.fcs = fc_block(c3, fc_dim)
            self.classifier = nn.Linear(fc_dim, num_classes)
        kaiming_init_(self)
        self.alpha = nn.Parameter(torch.full((NUM_LAYERS, n), float(alpha_init)))

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if name != "alpha"]

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha]

    def forward(self, x: torch.Tensor):
        weights, idx = straight_through_topk(self.alpha, self.top_k)
        x = self.stem(x)
        layer = 0
        for cell in self.cells:
            if isinstance(cell, MBlock):
                x = cell(x, weights[layer], idx[layer])
                layer += 1
            else:
                x = cell(x)
        f = self.dropout(F.adaptive_avg_pool2d(self.conv_out(x), 1).flatten(1))
        if not self.training or self.num_classes == 0:
            return f
        return [[self.classifier(self.fcs(f)), f]]

    # ------------------------------------------------------------------------------------------
    def probabilities(self) -> torch.Tensor:
        return F.softmax(self.alpha.detach(), dim=-1)

    def genotype(self, name: str = "searched", **extra) -> Genotype:
        """argmax alpha per layer (the final-epoch derivation, spec §2.6 recommendation)."""
        best = self.alpha.detach().argmax(dim=-1).tolist()
        return Genotype(tuple(self.candidates[j] for j in best), self.space, name, dict(extra))

    def selected(self) -> list[list[tuple[int, int, int]]]:
        """The top-k candidates each layer currently runs."""
        _, idx = straight_through_topk(self.alpha.detach(), self.top_k)
        return [[self.candidates[j] for j in row] for row in idx.tolist()]
