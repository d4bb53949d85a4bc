"""ReID training losses: (label-smoothed) CE, batch-hard / soft-margin weighted triplet, branch sums.

Models return, in training mode, a list of ``(logits, triplet_feature)`` pairs (one per branch);
:class:`BranchLoss` sums an ID term and a metric term over the branches, which covers the
recipes in the spec:

- CDNet FBLNeck (paper eq.10): CE(g) + Tri(f_g) + CE(l) + Tri(f_l), batch-hard margin 0.3, no smoothing;
- Compact-ReID: label-smoothed CE (eps 0.1) + soft-margin weighted triplet, per branch, weights 1;
- Auto-ReID retrieval loss: lambda*triplet + (1 - lambda)*CE with lambda = 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mtmc.errors import ConfigError

TripletKind = Literal["batch_hard", "weighted_soft", "none"]


def euclidean_dist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances ``sqrt(clamp(|x|^2 + |y|^2 - 2 x.y, 1e-12))``."""
    xx = x.pow(2).sum(1, keepdim=True)
    yy = y.pow(2).sum(1, keepdim=True).t()
    return (xx + yy - 2.0 * x @ y.t()).clamp(min=1e-12).sqrt()


class CrossEntropyLabelSmooth(nn.Module):
    """CE against q = (1 - eps) * onehot + eps / N; ``eps = 0`` is plain cross-entropy."""

    def __init__(self, epsilon: float = 0.1):
        super().__init__()
        if not 0.0 <= epsilon < 1.0:
            raise ConfigError(f"loss.label_smoothing: expected 0 <= eps < 1, got {epsilon}")
        self.epsilon = epsilon

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_probs = F.log_softmax(logits.float(), dim=1)
        q = torch.zeros_like(log_probs).scatter_(1, targets.unsqueeze(1), 1.0)
        q = (1.0 - self.epsilon) * q + self.epsilon / logits.shape[1]
        return (-q * log_probs).sum(1).mean()


def _pair_masks(targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    same = targets.unsqueeze(0) == targets.unsqueeze(1)
    eye = torch.eye(len(targets), dtype=torch.bool, device=targets.device)
    return same & ~eye, ~same  # positives exclude the anchor itself


class BatchHardTriplet(nn.Module):
    """Hardest positive / hardest negative per anchor; ``margin > 0``: mean relu(d_ap - d_an + m),
    ``margin == 0``: soft margin, mean softplus(d_ap - d_an)."""

    def __init__(self, margin: float = 0.3):
        super().__init__()
        self.margin = margin

    def forward(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        dist = euclidean_dist(features.float(), features.float())
        pos, neg = _pair_masks(targets)
        valid = pos.any(1) & neg.any(1)
        if not valid.any():
            return features.sum() * 0.0
        d_ap = dist.masked_fill(~pos, float("-inf")).amax(1)[valid]
        d_an = dist.masked_fill(~neg, float("inf")).amin(1)[valid]
        if self.margin > 0:
            return F.relu(d_ap - d_an + self.margin).mean()
        return F.softplus(d_ap - d_an).mean()


class WeightedSoftTriplet(nn.Module):
    """Compact-ReID soft-margin weighted triplet (paper eq.3-4).

    D+ = sum softmax(d_ap) * d_ap over positives (anchor excluded), D- = sum softmax(-d_an) * d_an
    over negatives; loss = mean softplus(D+ - D-) over anchors with both.
    """

    def forward(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        dist = euclidean_dist(features.float(), features.float())
        pos, neg = _pair_masks(targets)
        valid = pos.any(1) & neg.any(1)
        if not valid.any():
            return features.sum() * 0.0
        dist, pos, neg = dist[valid], pos[valid], neg[valid]
        w_p = torch.softmax(dist.masked_fill(~pos, float("-inf")), dim=1)
        w_n = torch.softmax((-dist).masked_fill(~neg, float("-inf")), dim=1)
        d_pos = (w_p * dist.masked_fill(~pos, 0.0)).sum(1)
        d_neg = (w_n * dist.masked_fill(~neg, 0.0)).sum(1)
        return F.softplus(d_pos - d_neg).mean()


def build_triplet(kind: TripletKind, margin: float = 0.3) -> nn.Module | None:
    if kind == "batch_hard":
        return BatchHardTriplet(margin)
    if kind == "weighted_soft":
        return WeightedSoftTriplet()
    if kind == "none":
        return None
    raise ConfigError(f"loss.triplet: unknown kind {kind!r}; expected batch_hard, weighted_soft or none")


Outputs = Sequence[tuple[torch.Tensor, torch.Tensor]]


def as_branches(outputs) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Accept ``[(logits, feat), ...]`` or a single ``(logits, feat)`` pair."""
    if isinstance(outputs, (list, tuple)) and len(outputs) == 2 and all(torch.is_tensor(o) for o in outputs):
        return [(outputs[0], outputs[1])]
    branches = [tuple(b) for b in outputs]
    if not branches or any(len(b) != 2 for b in branches):
        raise TypeError("a ReID model in training mode must return a list of (logits, feature) pairs")
    return branches  # type: ignore[return-value]


class BranchLoss(nn.Module):
    """sum over branches of ``id_weight * CE(logits) + triplet_weight * Tri(feature)``.

    ``forward`` returns ``(total, parts)`` where parts holds detached ``id`` and ``triplet`` sums
    and the first branch's training accuracy ``acc``.
    """

    def __init__(
        self,
        id_weight: float = 1.0,
        label_smoothing: float = 0.0,
        triplet: TripletKind = "batch_hard",
        triplet_weight: float = 1.0,
        margin: float = 0.3,
        num_branches: int | None = None,
    ):
        super().__init__()
        self.id_weight, self.triplet_weight, self.num_branches = id_weight, triplet_weight, num_branches
        self.ce = CrossEntropyLabelSmooth(label_smoothing)
        self.triplet = build_triplet(triplet, margin)

    def forward(self, outputs, targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        branches = as_branches(outputs)
        if self.num_branches is not None and len(branches) != self.num_branches:
            raise ValueError(f"this loss expects {self.num_branches} branches, the model returned {len(branches)}")
        id_sum = targets.new_zeros((), dtype=torch.float32)
        tri_sum = targets.new_zeros((), dtype=torch.float32)
        for logits, feature in branches:
            if self.id_weight:
                id_sum = id_sum + self.ce(logits, targets)
            if self.triplet is not None and self.triplet_weight:
                tri_sum = tri_sum + self.triplet(feature, targets)
        total = self.id_weight * id_sum + self.triplet_weight * tri_sum
        acc = (branches[0][0].argmax(1) == targets).float().mean()
        return total, {"id": float(id_sum.detach()), "triplet": float(tri_sum.detach()), "acc": float(acc)}


def fblneck_loss(margin: float = 0.3) -> BranchLoss:
    """CDNet FBLNeck objective, paper eq.10: CE(g) + Tri(f_g) + CE(l) + Tri(f_l)."""
    return BranchLoss(1.0, 0.0, "batch_hard", 1.0, margin, num_branches=2)


def retrieval_loss(lam: float = 0.5, margin: float = 0.3, label_smoothing: float = 0.0) -> BranchLoss:
    """Auto-ReID retrieval loss: lam * batch-hard triplet + (1 - lam) * CE."""
    if not 0.0 <= lam <= 1.0:
        raise ConfigError(f"loss.retrieval_lambda: expected 0..1, got {lam}")
    return BranchLoss(1.0 - lam, label_smoothing, "batch_hard", lam, margin)


def compact_reid_loss(label_smoothing: float = 0.1) -> BranchLoss:
    """Compact-ReID: label-smoothed CE + soft-margin weighted triplet on every branch, weights 1."""
    return BranchLoss(1.0, label_smoothing, "weighted_soft", 1.0)
