"""How good is a distillation teacher on the held-out identities, as the student's batches show it to it?

    python benchmarks/reid_distill_teacher.py -c configs/reid/cdnet_synth.yaml \
        -c configs/reid/distill_osnet_msmt17.yaml data.root=work/crops

Scores the recipe's ``loss.distill`` teacher (Market protocol, query vs gallery) twice: on crops resized to
its own input size, and on crops at the student's input size brought to the teacher by
:class:`reid.distill.Teacher` (what it sees during training: e.g. 128x64 upsampled to 256x128).
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from mtmc.config import load_config
from reid import registry
from reid.data import build_transforms, load_dataset
from reid.distill import Teacher, build_teacher
from reid.evaluate import evaluate_model
from reid.train_config import TrainRecipe


class _AsModule(nn.Module):
    """A Teacher behind the nn.Module interface evaluate_model expects."""

    def __init__(self, teacher: Teacher):
        super().__init__()
        self.teacher = teacher

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.teacher(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", action="append", required=True)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    r = load_config(args.config, args.overrides, cls=TrainRecipe)
    if r.loss.distill is None:
        parser.error("the recipe has no loss.distill section")
    data = load_dataset(r.data.root, r.data.format)
    student = registry.model_info(r.model.name)
    embedder = build_teacher(r.loss.distill, torch.device("cpu"), 64)
    teacher_size = (embedder.preprocess.height, embedder.preprocess.width)
    for label, size in (("teacher input size", teacher_size), ("student input size",
                                                               r.data.input_size or student.input_size)):
        tf = build_transforms(size, student.mean, student.std, student.rgb, train=False)
        m, _ = evaluate_model(_AsModule(Teacher(embedder, student)), data.query, data.gallery, tf,
                              batch_size=64, num_workers=1, metric=r.eval.distance, normalize=r.eval.normalize)
        print(f"{label} {size[0]}x{size[1]}: rank-1 {m['rank1']:.1f}  rank-5 {m['rank5']:.1f}  mAP {m['mAP']:.1f}")


if __name__ == "__main__":
    main()
