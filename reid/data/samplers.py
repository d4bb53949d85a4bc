"""PK sampling: batches of P identities x K images (BoT ``RandomIdentitySampler`` semantics).

The samplers are *batch* samplers with their own ``torch.Generator``; its state is part of
a training checkpoint, so a resumed run draws exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

import torch

from mtmc.errors import DataError


class PKBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Yield batches of ``p`` distinct pids with ``k`` images each; one pass = one epoch.

    Per epoch: each pid's images are shuffled (drawn with replacement up to ``k`` when it has
    fewer) and cut into chunks of ``k`` (the remainder dropped); while ``p`` pids still have
    chunks, ``p`` of them are drawn uniformly and one chunk of each is emitted.
    """

    def __init__(self, pids: Sequence[int], p: int, k: int, seed: int = 0):
        if p < 1 or k < 1:
            raise DataError(f"PK sampler: p and k must be >= 1, got p={p}, k={k}")
        self.p, self.k = p, k
        self.index: dict[int, list[int]] = defaultdict(list)
        for i, pid in enumerate(pids):
            self.index[int(pid)].append(i)
        self.pids = sorted(self.index)
        if len(self.pids) < p:
            raise DataError(f"PK sampler: the training set has {len(self.pids)} identities, fewer than P={p}")
        self.generator = torch.Generator().manual_seed(seed)

    def _chunks(self) -> dict[int, list[list[int]]]:
        g, k = self.generator, self.k
        chunks = {}
        for pid in self.pids:
            idx = self.index[pid]
            if len(idx) < k:
                order = torch.randint(len(idx), (k,), generator=g).tolist()
            else:
                order = torch.randperm(len(idx), generator=g).tolist()
            shuffled = [idx[j] for j in order]
            chunks[pid] = [shuffled[i : i + k] for i in range(0, len(shuffled) - k + 1, k)]
        return chunks

    def epoch_batches(self) -> list[list[int]]:
        """Draw the next epoch's batches (advances the generator)."""
        chunks = self._chunks()
        available = [pid for pid in self.pids if chunks[pid]]
        batches = []
        while len(available) >= self.p:
            picks = torch.randperm(len(available), generator=self.generator)[: self.p].tolist()
            chosen = [available[i] for i in picks]
            batches.append([i for pid in chosen for i in chunks[pid].pop(0)])
            available = [pid for pid in available if chunks[pid]]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.epoch_batches()

    def __len__(self) -> int:
        # upper bound (exact unless identities run out of chunks unevenly)
        return sum(max(len(v), self.k) // self.k for v in self.index.values()) // self.p

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


class DistributedPKBatchSampler(PKBatchSampler):
    """Every rank draws the same epoch of PK batches (same seed) and keeps a disjoint slice.

    Batches ``rank, rank + world, ...`` go to ``rank``; the tail is trimmed so every rank runs
    the same number of steps (DDP needs equal step counts).
    """

    def __init__(self, pids: Sequence[int], p: int, k: int, seed: int = 0, rank: int = 0, world_size: int = 1):
        super().__init__(pids, p, k, seed)
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.rank, self.world_size = rank, world_size

    def epoch_batches(self) -> list[list[int]]:
        batches = super().epoch_batches()
        usable = len(batches) - len(batches) % self.world_size
        return batches[self.rank : usable : self.world_size]

    def __len__(self) -> int:
        return super().__len__() // self.world_size
