"""Per-epoch learning-rate schedules (absolute lr as a function of the 0-based epoch).

Use with ``torch.optim.lr_scheduler.LambdaLR(opt, as_lambda(fn, base_lr))`` stepped once per epoch.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from functools import partial

from mtmc.errors import ConfigError

Schedule = Callable[[int], float]


def warmup_step_lr(epoch: int, base_lr: float, warmup_epochs: int = 0, milestones: Sequence[int] = (),
                   gamma: float = 0.1) -> float:
    """Linear warmup then step decay; ``t = epoch + 1`` is the 1-based epoch of the papers.

    lr = base * t / warmup for t <= warmup, else base * gamma^(number of milestones m with t > m).
    Compact-ReID eq.5 is ``base 3e-2, warmup 10, milestones (150, 225)``; with warmup 0 this is
    ``MultiStepLR`` (the drop takes effect at 0-based epoch ``m``).
    """
    t = epoch + 1
    if warmup_epochs > 0 and t <= warmup_epochs:
        return base_lr * t / warmup_epochs
    return base_lr * gamma ** bisect_right(sorted(milestones), epoch)


def compact_reid_lr(epoch: int) -> float:
    """Compact-ReID paper eq.5 for 0-based ``epoch`` (t = epoch + 1 = 1..350)."""
    return warmup_step_lr(epoch, 3e-2, 10, (150, 225), 0.1)


def cosine_lr(epoch: int, lr_max: float, lr_min: float, period: int) -> float:
    """lr_min + (lr_max - lr_min) * (1 + cos(pi * e / T)) / 2."""
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + math.cos(math.pi * min(epoch, period) / period))


def cosine_cycles_lr(epoch: int, lr_max: float, lr_min: float, cycle_epochs: int, decay: float = 1.0) -> float:
    """Restarted cosine cycles, cycle c decays its peak: lr_min + (lr_max*decay^c - lr_min)(1+cos(pi e/T))/2."""
    cycle, e = divmod(epoch, cycle_epochs)
    return lr_min + 0.5 * (lr_max * decay**cycle - lr_min) * (1.0 + math.cos(math.pi * e / cycle_epochs))


def constant_lr(epoch: int, base_lr: float) -> float:
    return base_lr


def build_schedule(name: str, base_lr: float, epochs: int, *, warmup_epochs: int = 0,
                   milestones: Sequence[int] = (), gamma: float = 0.1, lr_min: float = 0.0) -> Schedule:
    """A schedule from recipe fields (``name``: warmup_step, step, cosine or constant)."""
    if name in ("warmup_step", "step"):
        return partial(warmup_step_lr, base_lr=base_lr, warmup_epochs=warmup_epochs if name == "warmup_step" else 0,
                       milestones=tuple(milestones), gamma=gamma)
    if name == "cosine":
        return partial(cosine_lr, lr_max=base_lr, lr_min=lr_min, period=max(epochs, 1))
    if name == "constant":
        return partial(constant_lr, base_lr=base_lr)
    raise ConfigError(f"schedule.name: unknown schedule {name!r}; expected warmup_step, step, cosine or constant")


def chain(first: Schedule, first_epochs: int, second: Schedule) -> Schedule:
    """``first`` for epochs < first_epochs, then ``second(epoch - first_epochs)`` (e.g. the SWAG cycles)."""

    def schedule(epoch: int) -> float:
        return first(epoch) if epoch < first_epochs else second(epoch - first_epochs)

    return schedule


def as_lambda(schedule: Schedule, base_lr: float) -> Callable[[int], float]:
    """The multiplicative factor ``LambdaLR`` expects."""
    if base_lr <= 0:
        raise ConfigError(f"optim.lr: expected a positive learning rate, got {base_lr}")
    return lambda epoch: schedule(epoch) / base_lr
