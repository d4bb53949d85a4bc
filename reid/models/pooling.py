"""Generalised-mean (GeM) pooling (Radenović et al.; spec §1.6)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GeM(nn.Module):
    """``(mean(clamp(x, eps)^p))^(1/p)`` over H, W; returns (B, C).

    ``p`` is one trainable scalar (the default, initialised to 3); pass ``channels`` to learn one
    exponent per channel instead (cirtorch ``GeMmp``, Compact-ReID's per-feature-map ``p_k``).
    p = 1 is average pooling; p -> inf approaches max pooling.
    """

    def __init__(
        self, p: float = 3.0, eps: float = 1e-6, channels: int | None = None, trainable: bool = True
    ):
        super().__init__()
        if p <= 0:
            raise ValueError(f"GeM exponent must be positive, got {p}")
        init = torch.full((channels if channels else 1,), float(p))
        self.p = nn.Parameter(init, requires_grad=trainable)
        self.eps = eps
        self.per_channel = channels is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.p.view(1, -1, 1, 1) if self.per_channel else self.p
        pooled = F.adaptive_avg_pool2d(x.clamp(min=self.eps).pow(p), 1)
        return pooled.pow(1.0 / p).flatten(1)

    def extra_repr(self) -> str:
        kind = f"per-channel ({self.p.numel()})" if self.per_channel else f"p={self.p.item():.3g}"
        return f"{kind}, eps={self.eps}"
