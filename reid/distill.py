"""Knowledge distillation for ReID training (recipe ``loss.distill``): a frozen teacher guides a compact student.

The teacher is any zoo model with weights or any ONNX file (e.g. the shared OSNet x0.25 MSMT17 export),
run through the project's embedders (:mod:`reid.embedder`) in eval mode without gradients.  It runs
online on the *same augmented batch* as the student: an augmented crop has no stable cache key, so
every training step pays one teacher forward pass (on CPU, OSNet x0.25 at 256x128 costs about as much
as a CDNet training step at 128x64).  The batch is brought to the teacher's preprocessing: the student's
normalisation undone, channels swapped if the orders differ, resized (bilinear) to the teacher's input
size, normalised as the teacher expects.

Student embedding: the model's per-branch training features, each L2-normalised, concatenated (the
inference embedding of Compact-ReID / HA-CNN; CDNet's concatenates them without the normalisation).

Terms (``kind``): ``cosine`` = mean_i (1 - cos(P s_i, t_i)), with ``P`` a learned bias-free linear
projection from the student's to the teacher's dimension when the two differ (identity otherwise; it is
trained with the student and saved in the checkpoint, never exported); ``relation`` = mean over pairs
i != j of (cos(s_i, s_j) - cos(t_i, t_j))^2, no dimension constraint; ``both`` = their sum.  The loss adds
``weight`` times the term.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mtmc.errors import ConfigError
from reid.losses import as_branches
from reid.registry import ModelInfo, model_names
from reid.train_config import DistillSection

KEY = "loss.distill"


def cosine_distill(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """mean over rows of ``1 - cos(student_i, teacher_i)`` (equal dimensions)."""
    return (1.0 - F.cosine_similarity(student.float(), teacher.float(), dim=1)).mean()


def relation_distill(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """mean over ordered pairs i != j of ``(cos(s_i, s_j) - cos(t_i, t_j))^2`` (any dimensions)."""
    s = F.normalize(student.float(), dim=1)
    t = F.normalize(teacher.float(), dim=1)
    diff = s @ s.t() - t @ t.t()
    off = ~torch.eye(len(diff), dtype=torch.bool, device=diff.device)
    if not off.any():  # a single image has no pairs
        return diff.sum() * 0.0
    return diff[off].pow(2).mean()


def student_embedding(outputs) -> torch.Tensor:
    """The per-branch training features, each L2-normalised, concatenated."""
    return torch.cat([F.normalize(f.float(), dim=1) for _, f in as_branches(outputs)], dim=1)


def build_teacher(cfg: DistillSection, device: torch.device, batch_size: int):
    """The teacher embedder ``cfg`` names; a missing file or unknown name is one ConfigError line."""
    from reid.embedder import OnnxEmbedder, onnx_embedder, onnx_providers, torch_embedder

    expected = f"expected an .onnx file or a reid.registry model name ({', '.join(model_names())})"
    threads = torch.get_num_threads()  # onnxruntime would take every core otherwise
    if cfg.teacher.lower().endswith(".onnx"):
        path = Path(cfg.teacher)
        if not path.is_file():
            raise ConfigError(f"{KEY}.teacher: file not found; {expected}", path=path)
        return OnnxEmbedder(path, batch_size=batch_size, threads=threads, providers=onnx_providers(str(device)))
    if cfg.teacher not in model_names():
        raise ConfigError(f"{KEY}.teacher: unknown model {cfg.teacher!r}; {expected}")
    if not cfg.weights:
        raise ConfigError(f"{KEY}.weights: teacher {cfg.teacher!r} needs its weights (a checkpoint or .onnx export)")
    weights = Path(cfg.weights)
    if not weights.is_file():
        raise ConfigError(f"{KEY}.weights: file not found; expected the teacher's checkpoint or .onnx export",
                          path=weights)
    from mtmc.config import ReidConfig

    reid = ReidConfig(model=cfg.teacher, weights=str(weights), device=str(device), batch_size=batch_size)
    if weights.suffix.lower() == ".onnx":
        return onnx_embedder(reid)
    return torch_embedder(reid)


class Teacher:
    """A frozen embedder fed the student's normalised training batch (converted to its own preprocessing)."""

    def __init__(self, embedder, student: ModelInfo):
        pre = embedder.preprocess  # the embedder's _Preprocessor: x * scale + offset on 0..255 pixels
        self.embedder = embedder
        self.dim = int(embedder.dim)
        self.size = (pre.height, pre.width)
        self.swap = bool(pre.rgb) != bool(student.rgb)
        self.mean = torch.tensor(student.mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(student.std, dtype=torch.float32).view(1, 3, 1, 1)
        self.scale = torch.from_numpy(np.asarray(pre.scale, np.float32) * 255.0)
        self.offset = torch.from_numpy(np.asarray(pre.offset, np.float32))

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(N, dim) teacher embeddings of a student-normalised NCHW batch, on the batch's device."""
        x = images.detach().float().cpu() * self.std + self.mean  # [0, 1] in the student's channel order
        if self.swap:
            x = x.flip(1)
        if tuple(x.shape[2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        x = x * self.scale + self.offset
        out = self.embedder.embed_preprocessed(np.ascontiguousarray(x.numpy()))
        return torch.from_numpy(out).to(images.device)


class DistillLoss(nn.Module):
    """``weight * term(student_embedding(outputs), teacher(images))``; ``forward`` -> (weighted term, parts).

    parts: the unweighted ``distill_cos`` and / or ``distill_rel`` of the batch.
    """

    def __init__(self, teacher: Teacher, kind: str, weight: float, student_dim: int):
        super().__init__()
        if kind not in ("cosine", "relation", "both"):
            raise ConfigError(f"{KEY}.kind: unknown kind {kind!r}; expected cosine, relation or both")
        self.teacher, self.kind, self.weight, self.student_dim = teacher, kind, weight, student_dim
        cosine = kind in ("cosine", "both")
        self.projection = (
            nn.Linear(student_dim, teacher.dim, bias=False) if cosine and student_dim != teacher.dim else None
        )

    def forward(self, outputs, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        student = student_embedding(outputs)
        if student.shape[1] != self.student_dim:
            raise ValueError(f"{KEY}: the student's training features are {student.shape[1]}-d, its "
                             f"embedding_dim says {self.student_dim}")
        target = self.teacher(images)
        terms: dict[str, torch.Tensor] = {}
        if self.kind in ("cosine", "both"):
            projected = self.projection(student) if self.projection is not None else student
            terms["distill_cos"] = cosine_distill(projected, target)
        if self.kind in ("relation", "both"):
            terms["distill_rel"] = relation_distill(student, target)
        total = self.weight * sum(terms.values())
        return total, {k: float(v.detach()) for k, v in terms.items()}


def build_distillation(cfg: DistillSection, student: ModelInfo, student_dim: int, device: torch.device,
                       batch_size: int, seed: int) -> DistillLoss:
    """Teacher + loss for ``cfg``; the global RNG is left untouched (the augmentation stream is the same
    as without distillation), the projection is initialised from ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        teacher = Teacher(build_teacher(cfg, device, batch_size), student)
        loss = DistillLoss(teacher, cfg.kind, cfg.weight, student_dim)
    return loss.to(device)
