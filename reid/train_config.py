"""The ReID training recipe: a typed dataclass loaded with ``mtmc.config.load_config(..., cls=TrainRecipe)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mtmc.errors import ConfigError


@dataclass
class ModelSection:
    name: str = "compact_reid_1x"  # a name from reid.registry
    params: dict[str, Any] = field(default_factory=dict)  # extra builder keyword arguments
    weights: str | None = None  # initial weights (state dict or training checkpoint), classifiers skipped


@dataclass
class DataSection:
    root: str = "data/market1501"
    format: Literal["auto", "market", "duke", "msmt17", "folder"] = "auto"
    p: int = 8  # identities per batch
    k: int = 4  # images per identity
    num_workers: int = 2
    input_size: tuple[int, int] | None = None  # (h, w); default: the model's registered size
    flip_p: float = 0.5
    pad: int = 10
    erase_p: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.4)
    erase_ratio: tuple[float, float] = (0.3, 3.3333333333333335)
    erase_value: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)

    def validate(self, key: str) -> None:
        if self.p < 1 or self.k < 1:
            raise ConfigError(f"{key}.p/{key}.k: expected positive integers, got p={self.p}, k={self.k}")


@dataclass
class OptimSection:
    name: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = 0.03
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    # lr multiplier for the classifier heads (FastReID's HEADS_LR_FACTOR): a bias-free classifier on unit-norm
    # features grows its logits by ~lr per step under Adam, too slowly for the ID loss to start (spec §3.3).
    head_lr_factor: float = 1.0


@dataclass
class ScheduleSection:
    name: Literal["warmup_step", "step", "cosine", "constant"] = "warmup_step"
    warmup_epochs: int = 10
    milestones: list[int] = field(default_factory=lambda: [150, 225])
    gamma: float = 0.1
    lr_min: float = 0.0  # cosine floor


@dataclass
class DistillSection:
    """Knowledge distillation from a frozen teacher (:mod:`reid.distill`): ``weight * term`` joins the loss.

    ``teacher`` is an ``.onnx`` file (preprocessing from its metadata, ImageNet RGB otherwise) or a
    ``reid.registry`` model name whose ``weights`` (checkpoint or ``.onnx`` export) are required.
    ``kind``: ``cosine`` (1 - cos(student, teacher) per image; a learned linear projection maps the
    student embedding to the teacher's dimension when they differ), ``relation`` (MSE between the
    batch's pairwise cosine-similarity matrices; any dimensions) or ``both`` (their sum).
    """

    teacher: str = ""
    weights: str | None = None
    kind: Literal["cosine", "relation", "both"] = "cosine"
    weight: float = 1.0

    def validate(self, key: str) -> None:
        if not self.teacher:
            raise ConfigError(f"{key}.teacher: expected an .onnx file or a reid.registry model name")
        if self.weight <= 0:
            raise ConfigError(f"{key}.weight: expected > 0, got {self.weight}")


@dataclass
class LossSection:
    """sum over branches of ``id_weight * CE + triplet_weight * triplet`` (presets set these),
    plus ``distill.weight * distillation`` when ``distill`` is given."""

    name: Literal["branch_sum", "fblneck", "retrieval", "compact_reid"] = "branch_sum"
    id_weight: float = 1.0
    label_smoothing: float = 0.0
    triplet: Literal["batch_hard", "weighted_soft", "none"] = "batch_hard"
    triplet_weight: float = 1.0
    margin: float = 0.3  # batch-hard margin; 0 = soft margin
    retrieval_lambda: float = 0.5
    distill: DistillSection | None = None  # absent: no teacher, training exactly as without the option


@dataclass
class SwagSection:
    enabled: bool = False
    cycles: int = 15
    cycle_epochs: int = 35
    decay: float = 0.7
    lr_max: float = 3e-3
    lr_min: float = 3e-5
    inference: Literal["mean", "bma"] = "mean"
    bma_samples: int = 30
    bma_scale: float = 0.5

    @property
    def epochs(self) -> int:
        return self.cycles * self.cycle_epochs if self.enabled else 0


@dataclass
class EvalSection:
    every: int = 10  # evaluate every N epochs (and always after the last); 0 = only after the last
    distance: Literal["euclidean", "sqeuclidean", "cosine"] = "euclidean"
    normalize: bool = True  # L2-normalise embeddings before the distance
    batch_size: int = 128
    max_rank: int = 50


@dataclass
class TrainRecipe:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    loss: LossSection = field(default_factory=LossSection)
    swag: SwagSection = field(default_factory=SwagSection)
    eval: EvalSection = field(default_factory=EvalSection)
    epochs: int = 350  # main phase; the SWAG cycles come on top
    seed: int = 0
    device: str = "auto"  # auto = cuda when available
    amp: bool = True  # mixed precision on CUDA
    progress: bool = True  # tqdm bar
    output: str = ""  # run folder; default runs/reid/<recipe name>

    def validate(self, key: str) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs: expected >= 1, got {self.epochs}")

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.swag.epochs
