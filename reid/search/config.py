"""The architecture-search recipe: ``load_config(files, overrides, cls=SearchRecipe)``.

Defaults are the CDS Top-k search settings of the reference (spec §2.6); the DARTS recipe
(``configs/reid/search_darts_autoreid.yaml``) sets the Auto-ReID values (spec §4.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mtmc.errors import ConfigError
from reid.train_config import DataSection

Method = Literal["topk-cds", "topk-cs", "darts-autoreid"]


@dataclass
class TopKSection:
    k: int = 2  # branches executed (and summed) per layer
    code_quirk_nonselected_scalar: bool = False  # reproduce the reference's scalar add of non-selected weights
    planes: tuple[int, int, int, int] = (64, 256, 384, 512)
    fc_dim: int = 512
    dropout: float = 0.2
    alpha_init: float = 1e-3  # alpha = alpha_init * ones(6, n)


@dataclass
class DartsSection:
    channels: int = 32  # C of the first cells (search: 32, training: 64)
    layers: list[int] = field(default_factory=lambda: [2, 2, 2, 2])
    stem: Literal["resnet", "darts_imagenet"] = "resnet"
    primitives: Literal["reid", "baseline"] = "reid"  # O_reid (7 ops) or the baseline 6 ops
    embedding_dim: int = 512
    dropout: float = 0.5
    alpha_init: float = 1e-3  # alpha = alpha_init * randn(14, |O|)


@dataclass
class WeightOptim:
    """SGD on the network weights with a per-epoch cosine decay to ``lr_min``."""

    lr: float = 0.025
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 3e-4
    lr_min: float = 1e-4
    grad_clip: float = 0.0  # max grad norm; 0 = off (DARTS clips at 5)


@dataclass
class AlphaOptim:
    """Adam on the architecture weights with a step decay at ``milestones`` (0-based epochs)."""

    lr: float = 3e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 1e-3
    milestones: list[int] = field(default_factory=lambda: [80, 160])
    gamma: float = 0.1


@dataclass
class SearchLoss:
    margin: float = 0.3  # batch-hard triplet margin
    retrieval_lambda: float = 0.5  # DARTS: lambda * triplet + (1 - lambda) * CE; top-k uses CE + triplet


@dataclass
class SearchRecipe:
    method: Method = "topk-cds"
    data: DataSection = field(default_factory=DataSection)
    split: Literal["auto", "disjoint_k", "cdnet", "half"] = "auto"  # auto: disjoint_k (top-k), half (DARTS)
    topk: TopKSection = field(default_factory=TopKSection)
    darts: DartsSection = field(default_factory=DartsSection)
    loss: SearchLoss = field(default_factory=SearchLoss)
    w_optim: WeightOptim = field(default_factory=WeightOptim)
    alpha_optim: AlphaOptim = field(default_factory=AlphaOptim)
    epochs: int = 240
    max_steps_per_epoch: int = 0  # cap the w/alpha steps per epoch (0 = one pass over the train split)
    seed: int = 4
    device: str = "auto"  # auto = cuda when available
    progress: bool = True
    output: str = ""  # run folder; default runs/reid_search/<recipe name>

    def validate(self, key: str) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs: expected >= 1, got {self.epochs}")
        if self.max_steps_per_epoch < 0:
            raise ConfigError(f"max_steps_per_epoch: expected >= 0, got {self.max_steps_per_epoch}")
        if self.topk.k < 1:
            raise ConfigError(f"topk.k: expected >= 1, got {self.topk.k}")
        if not 0.0 <= self.loss.retrieval_lambda <= 1.0:
            raise ConfigError(f"loss.retrieval_lambda: expected 0..1, got {self.loss.retrieval_lambda}")
        if len(self.darts.layers) < 1 or any(n < 1 for n in self.darts.layers):
            raise ConfigError(f"darts.layers: expected positive cell counts, got {self.darts.layers}")

    @property
    def split_mode(self) -> str:
        if self.split != "auto":
            return self.split
        return "half" if self.method == "darts-autoreid" else "disjoint_k"
