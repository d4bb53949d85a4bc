"""Test helpers for ReID training: a tiny two-branch CNN and a tiny Market-layout dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from reid.registry import MODELS, register_model

TINY = "tiny_test_reid"


class TinyReid(nn.Module):
    """conv-bn-relu x2 -> global GAP branch + 2-stripe local branch; eval: cat of L2-normalised features."""

    def __init__(self, num_classes: int = 0, width: int = 8):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(inplace=True),
        )
        dim = 2 * width
        self.num_classes = num_classes
        self.embedding_dim = 3 * dim  # global + two stripes
        if num_classes:
            self.classifier = nn.Linear(dim, num_classes, bias=False)
            self.local_classifier = nn.Linear(2 * dim, num_classes, bias=False)

    def forward(self, x: torch.Tensor):
        fmap = self.body(x)
        f_g = fmap.mean((2, 3))
        f_l = torch.cat([s.mean((2, 3)) for s in fmap.chunk(2, dim=2)], 1)
        if not self.training:
            return torch.cat([nn.functional.normalize(f_g, dim=1), nn.functional.normalize(f_l, dim=1)], 1)
        return [(self.classifier(f_g), f_g), (self.local_classifier(f_l), f_l)]


def register_tiny() -> str:
    if TINY not in MODELS:
        register_model(TINY, input_size=(32, 16))(lambda num_classes=0, **kw: TinyReid(num_classes, **kw))
    return TINY


def _crop(rng: np.random.Generator, colour: np.ndarray) -> Image.Image:
    img = np.empty((48, 24, 3), np.float32)
    img[:24] = colour[0]
    img[24:] = colour[1]  # "shirt" and "trousers"
    img += rng.normal(0, 12, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def make_market(root: Path, train_ids: int = 6, per_id: int = 4, test_ids: int = 4, seed: int = 0) -> Path:
    """Market-1501 layout with solid-colour-ish crops; junk (-1) and distractors (0000) included."""
    rng = np.random.default_rng(seed)
    colours = rng.uniform(0, 255, size=(train_ids + test_ids + 1, 2, 3))
    for sub in ("bounding_box_train", "query", "bounding_box_test"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for pid in range(1, train_ids + 1):
        for i in range(per_id):
            _crop(rng, colours[pid]).save(root / "bounding_box_train" / f"{pid:04d}_c{i % 2 + 1}s1_{i:06d}_00.jpg")
    for pid in range(train_ids + 1, train_ids + test_ids + 1):
        _crop(rng, colours[pid]).save(root / "query" / f"{pid:04d}_c1s1_000001_00.jpg")
        for i in range(2):
            _crop(rng, colours[pid]).save(root / "bounding_box_test" / f"{pid:04d}_c2s1_{i:06d}_00.jpg")
        _crop(rng, colours[pid]).save(root / "bounding_box_test" / f"{pid:04d}_c1s1_000009_00.jpg")  # same cam
    _crop(rng, colours[0]).save(root / "bounding_box_test" / "0000_c1s1_000000_00.jpg")  # distractor
    _crop(rng, colours[0]).save(root / "bounding_box_test" / "-1_c1s1_000000_00.jpg")  # junk
    _crop(rng, colours[0]).save(root / "bounding_box_train" / "-1_c1s1_000000_00.jpg")  # junk
    return root


def tiny_recipe_overrides(root: Path, **extra) -> list[str]:
    base = {
        "model.name": TINY, "data.root": str(root), "data.p": 3, "data.k": 2, "data.num_workers": 0,
        "data.pad": 2, "epochs": 2, "progress": False, "optim.lr": 0.05, "schedule.name": "step",
        "schedule.milestones": "[1]", "eval.every": 1, "eval.batch_size": 16, "device": "cpu",
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]
