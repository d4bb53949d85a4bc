"""Train / val splits of a ReID training set for architecture search (spec §2.6, §4.4).

Both splits keep the relabelled pids of the full set, so one classifier serves both.

- ``disjoint_k``: per identity, ``min(k, n // 2)`` random images go to val, the rest to train
  (the spec's "clean disjoint 4-per-ID val split"); single-image identities stay in train.
- ``cdnet``: the reference ``split_train_and_val`` rule: identities with n < k get k val and k
  train images drawn with replacement; otherwise n mod k images (k when n is divisible by k) move
  to val, which is topped up to k with images that also stay in train (a small overlap).
- ``half``: per identity, ``n // 2`` random images go to val (Auto-ReID's 50 / 50 image split,
  stratified so both halves hold every identity with >= 2 images).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from reid.data import Record

SPLITS = ("disjoint_k", "cdnet", "half")


def split_train_val(
    records: Sequence[Record], mode: str, k: int = 4, seed: int = 0
) -> tuple[list[Record], list[Record]]:
    """Split ``records`` into (train, val) by ``mode`` (one of :data:`SPLITS`)."""
    if mode not in SPLITS:
        raise ValueError(f"unknown split {mode!r}; expected one of {', '.join(SPLITS)}")
    rng = np.random.default_rng(seed)
    by_pid: dict[int, list[Record]] = defaultdict(list)
    for rec in records:
        by_pid[rec.pid].append(rec)
    train: list[Record] = []
    val: list[Record] = []
    for pid in sorted(by_pid):
        recs = by_pid[pid]
        order = [recs[i] for i in rng.permutation(len(recs))]
        n = len(order)
        if mode == "cdnet":
            if n < k:
                val += [order[i] for i in rng.integers(0, n, k)]
                train += [order[i] for i in rng.integers(0, n, k)]
                continue
            n_val = n % k or k
            moved, kept = order[:n_val], order[n_val:]
            top_up = [kept[i] for i in rng.permutation(len(kept))[: k - n_val]]
            val += moved + top_up
            train += kept
            continue
        n_val = min(k, n // 2) if mode == "disjoint_k" else n // 2
        val += order[:n_val]
        train += order[n_val:]
    return train, val
