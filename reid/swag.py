"""SWA / SWAG-diagonal for ReID (Compact-ReID's cyclic stage, spec §3.5).

At the end of each cosine cycle the weights are folded into running first and second moments
(``mean``, ``sq_mean``, ``n``). Inference uses either the SWA mean (default) or Bayesian model
averaging over sampled weights theta = mean + sqrt(scale) * sigma * z; BatchNorm running statistics
are recomputed for every set of weights with ``torch.optim.swa_utils.update_bn``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.optim.swa_utils import update_bn


class SWAG:
    """Running diagonal moments of a model's parameters."""

    def __init__(self, model: nn.Module):
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        params = dict(model.named_parameters())
        self.mean = {n: torch.zeros_like(params[n], dtype=torch.float32, device="cpu") for n in self.names}
        self.sq_mean = {n: torch.zeros_like(v) for n, v in self.mean.items()}
        self.n = 0

    @torch.no_grad()
    def collect(self, model: nn.Module) -> None:
        """mean <- (n mean + theta)/(n+1), sq_mean <- (n sq_mean + theta^2)/(n+1)."""
        params = dict(model.named_parameters())
        n = self.n
        for name in self.names:
            theta = params[name].detach().float().cpu()
            self.mean[name].mul_(n / (n + 1)).add_(theta / (n + 1))
            self.sq_mean[name].mul_(n / (n + 1)).add_(theta.pow(2) / (n + 1))
        self.n += 1

    def variance(self) -> dict[str, torch.Tensor]:
        return {n: (self.sq_mean[n] - self.mean[n].pow(2)).clamp(min=1e-30) for n in self.names}

    @torch.no_grad()
    def _load(self, model: nn.Module, values: dict[str, torch.Tensor]) -> None:
        params = dict(model.named_parameters())
        for name in self.names:
            params[name].copy_(values[name].to(params[name].device, params[name].dtype))

    def apply_mean(self, model: nn.Module) -> None:
        """Load the SWA mean into ``model`` (refresh BatchNorm afterwards)."""
        self._require()
        self._load(model, self.mean)

    def sample(self, model: nn.Module, scale: float = 0.5, generator: torch.Generator | None = None) -> None:
        """Load theta = mean + sqrt(scale) * sigma * z (z ~ N(0, I)) into ``model``."""
        self._require()
        var = self.variance()
        values = {}
        for name in self.names:
            z = torch.randn(self.mean[name].shape, generator=generator)
            values[name] = self.mean[name] + scale**0.5 * var[name].sqrt() * z
        self._load(model, values)

    def _require(self) -> None:
        if self.n == 0:
            raise RuntimeError("SWAG has no collected models yet")

    def state_dict(self) -> dict:
        return {"n": self.n, "mean": self.mean, "sq_mean": self.sq_mean}

    def load_state_dict(self, state: dict) -> None:
        missing = set(self.names) - set(state["mean"])
        if missing:
            raise KeyError(f"SWAG state lacks parameters: {sorted(missing)[:3]}")
        self.n = int(state["n"])
        self.mean = {n: state["mean"][n].clone() for n in self.names}
        self.sq_mean = {n: state["sq_mean"][n].clone() for n in self.names}


def refresh_bn(model: nn.Module, images: Iterable, device: torch.device | str = "cpu") -> None:
    """Reset and recompute BatchNorm running statistics on a loader of images (one pass)."""
    update_bn(images, model, device=torch.device(device))


def swa_model(model: nn.Module, swag: SWAG, bn_images: Iterable, device: torch.device | str = "cpu") -> nn.Module:
    """Put the SWA mean into ``model`` and refresh its BatchNorm statistics; returns ``model``."""
    swag.apply_mean(model)
    refresh_bn(model, bn_images, device)
    return model


@torch.no_grad()
def bma_embeddings(
    model: nn.Module,
    swag: SWAG,
    bn_images: Iterable,
    embed: Callable[[nn.Module], torch.Tensor],
    samples: int = 30,
    scale: float = 0.5,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Bayesian model averaging: mean over ``samples`` sampled models of L2-normalised embeddings.

    ``embed(model)`` returns the (N, D) embeddings of the evaluation images for the current weights.
    The model is left holding the SWA mean with refreshed BatchNorm statistics.
    """
    generator = torch.Generator().manual_seed(seed)
    total = None
    for _ in range(samples):
        swag.sample(model, scale, generator)
        refresh_bn(model, bn_images, device)
        feats = nn.functional.normalize(embed(model).float(), dim=1)
        total = feats if total is None else total + feats
    swa_model(model, swag, bn_images, device)
    assert total is not None
    return total / samples
