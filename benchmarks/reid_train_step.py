"""Time one ReID training step on the CPU: forward + the recipe's loss + backward + SGD step.

    python benchmarks/reid_train_step.py --models compact_reid_1x,cdnet [--steps 10] [--batch 16] [--profile]

Each model is built by registry name at its registered input size (or ``--size HxW``), with a classifier of
``--ids`` classes; the batch is P x K = (batch / 4) x 4 random images. The loss is the one of the model's
``configs/reid/<model>_market.yaml`` recipe (``compact_reid`` for Compact-ReID, ``fblneck`` for CDNet),
falling back to label-smoothed CE + weighted soft triplet. ``--warmup`` steps are not timed; the median of
``--steps`` timed steps is printed. ``--profile`` prints torch.profiler's top ops (by self CPU time) of a
few extra steps.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def recipe_loss(name: str):
    """The loss of ``configs/reid/<name>_market.yaml``, else Compact-ReID's."""
    from mtmc.config import load_yaml
    from reid.engine import build_loss
    from reid.losses import compact_reid_loss
    from reid.train_config import LossSection

    path = ROOT / "configs" / "reid" / f"{name}_market.yaml"
    if not path.is_file():
        return compact_reid_loss()
    return build_loss(LossSection(**load_yaml(path).get("loss", {})))


def make_step(name: str, size: tuple[int, int] | None, batch: int, ids: int, channels_last: bool, seed: int = 0):
    """A closure running one training step on a fixed random batch; returns (step, (H, W))."""
    from reid.registry import build_model, model_info

    torch.manual_seed(seed)
    h, w = size or model_info(name).input_size
    model = build_model(name, num_classes=ids).train()
    criterion = recipe_loss(name)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(batch, 3, h, w)
    labels = torch.arange(batch // 4).repeat_interleave(4)
    if channels_last and hasattr(model, "train_channels_last"):  # HA-CNN / Compact-ReID: NHWC global branch
        model.train_channels_last = True
    elif channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)

    def step() -> float:
        loss, _ = criterion(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step, (h, w)


def time_steps(step, steps: int, warmup: int) -> tuple[list[float], list[float]]:
    """Wall-clock and process CPU seconds of each of ``steps`` steps after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    wall, cpu = [], []
    for _ in range(steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def profile(step, steps: int = 3, rows: int = 25) -> str:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="compact_reid_1x", help="comma-separated registry names")
    parser.add_argument("--size", default=None, help="HxW input size (default: the model's registered size)")
    parser.add_argument("--batch", type=int, default=16, help="images per step (P x 4)")
    parser.add_argument("--ids", type=int, default=751, help="classifier classes")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--channels-last", action="store_true",
                        help="train channels-last (HA-CNN / Compact-ReID: their train_channels_last switch)")
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's top ops")
    args = parser.parse_args()
    if args.batch % 4:
        raise SystemExit(f"--batch must be a multiple of 4 (P x K with K = 4), got {args.batch}")
    if args.threads:
        torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.size.lower().split("x")) if args.size else None

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    # CPU seconds (all threads) are steadier than wall-clock on a loaded machine; with --threads 1 they are
    # the step's compute time.
    print("| model | input | median s/step | min s/step | median CPU s/step | steps |")
    print("|---|---|---|---|---|---|")
    for name in args.models.split(","):
        step, (h, w) = make_step(name, size, args.batch, args.ids, args.channels_last)
        wall, cpu = time_steps(step, args.steps, args.warmup)
        print(f"| {name} | {h}x{w} | {statistics.median(wall):.3f} | {min(wall):.3f} | {statistics.median(cpu):.3f} "
              f"| {args.steps} |", flush=True)
        if args.profile:
            print(profile(step), flush=True)


if __name__ == "__main__":
    main()
