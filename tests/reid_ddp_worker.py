"""One process of the 2-process gloo DDP smoke test (launched by torch.distributed.run)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from reid_train_helpers import register_tiny, tiny_recipe_overrides  # noqa: E402

from mtmc.config import load_config  # noqa: E402
from reid.engine import Trainer  # noqa: E402
from reid.train_config import TrainRecipe  # noqa: E402

if __name__ == "__main__":
    torch.set_num_threads(1)
    register_tiny()
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    extra = {"data.p": 2}
    if len(sys.argv) > 3:  # an ONNX distillation teacher: its projection lives outside the DDP module
        extra.update({"loss.distill.teacher": sys.argv[3], "loss.distill.kind": "both"})
    recipe = load_config(None, tiny_recipe_overrides(root, epochs=1, **extra), cls=TrainRecipe)
    trainer = Trainer(recipe, out)
    steps = len(trainer.sampler.epoch_batches())  # a fresh draw: just report the per-rank share
    history = trainer.fit()
    print(f"rank {trainer.ctx.rank} world {trainer.ctx.world_size} batches {steps} loss {history[-1]['loss']:.6f}")
    # DDP keeps replicas identical: every rank prints the same weight checksum
    print(f"rank {trainer.ctx.rank} checksum {sum(float(p.detach().sum()) for p in trainer.model.parameters()):.6f}")
    if trainer.distill is not None:
        projection = float(trainer.distill.projection.weight.detach().sum())
        print(f"rank {trainer.ctx.rank} projection {projection:.6f}")
