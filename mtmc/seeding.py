"""Reproducible random initialisation of networks built without weights (plumbing tests, speed runs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

RANDOM_INIT_SEED = 0


@contextmanager
def seeded_torch(seed: int = RANDOM_INIT_SEED) -> Iterator[None]:
    """Torch's CPU generator seeded inside the block and restored after it.

    A random-init model built inside is the same network in every process (each Ray worker builds its own)
    and in every run, instead of depending on whatever used the generator before."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
