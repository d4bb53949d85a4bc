"""Person ReID retrieval metrics: CMC rank-k and mAP under the Market-1501 protocol.

For each query the gallery is ranked by ascending distance; gallery entries with the query's pid *and*
camera are removed (same person from another camera is a true match, other people at the same camera
stay as negatives); queries left without any true match are skipped.  AP is the non-interpolated mean
of the precision at each true match's rank.  Junk images (pid -1) must be dropped by the loader;
distractors (pid 0) never match a real query and count as negatives.

Everything is vectorised over a block of queries (one argsort per block, boolean masks and cumulative
sums), so a 3,000 x 16,000 distance matrix takes seconds; blocks keep memory bounded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtmc.errors import DataError
from mtmc.vectors import l2_normalize

_BLOCK_ELEMENTS = 1 << 23  # ~8M distances per block: a few int64 / bool work arrays stay < ~150 MB


def pairwise_distance(qf: Any, gf: Any, metric: str = "euclidean") -> Any:
    """(Nq, Ng) distances between query and gallery features, as numpy or torch like the input.

    ``metric``: ``euclidean``, ``sqeuclidean`` or ``cosine`` (1 - cosine similarity).
    """
    if metric not in ("euclidean", "sqeuclidean", "cosine"):
        raise ValueError(f"metric: expected 'euclidean', 'sqeuclidean' or 'cosine', got {metric!r}")
    if _is_torch(qf) or _is_torch(gf):
        return _torch_distance(qf, gf, metric)
    q = np.asarray(qf, dtype=np.float32 if np.asarray(qf).dtype == np.float32 else np.float64)
    g = np.asarray(gf, dtype=q.dtype)
    if metric == "cosine":
        return 1.0 - l2_normalize(q) @ l2_normalize(g).T
    # |q|^2 + |g|^2 - 2 q.g; clamp tiny negatives from rounding before the square root
    d2 = (q * q).sum(1)[:, None] + (g * g).sum(1)[None, :] - 2.0 * (q @ g.T)
    np.maximum(d2, 0.0, out=d2)
    return np.sqrt(d2) if metric == "euclidean" else d2


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _torch_distance(qf: Any, gf: Any, metric: str) -> Any:
    import torch

    q = torch.as_tensor(qf).float()
    g = torch.as_tensor(gf).float().to(q.device)
    if metric == "cosine":
        return 1.0 - torch.nn.functional.normalize(q, dim=1) @ torch.nn.functional.normalize(g, dim=1).T
    d2 = (q * q).sum(1, keepdim=True) + (g * g).sum(1)[None, :] - 2.0 * (q @ g.T)
    d2 = d2.clamp_(min=0.0)
    return d2.sqrt() if metric == "euclidean" else d2


def rank_and_map(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_cams: np.ndarray,
    g_cams: np.ndarray,
    max_rank: int = 50,
) -> tuple[np.ndarray, float, int]:
    """Market-1501 CMC and mAP.

    Returns ``(cmc, mAP, num_valid_queries)``: ``cmc[k]`` is the fraction (in [0, 1]) of valid queries
    with a true match within the top ``k + 1``; ``mAP`` in [0, 1].  Raises ``DataError`` when no query
    has a valid match (the metrics are undefined), ``ValueError`` on inconsistent shapes.
    """
    distmat = _to_numpy(distmat)
    q_pids, g_pids, q_cams, g_cams = (np.asarray(_to_numpy(a)).ravel() for a in (q_pids, g_pids, q_cams, g_cams))
    if distmat.ndim != 2 or distmat.shape != (len(q_pids), len(g_pids)) or len(q_cams) != len(q_pids) or len(
        g_cams
    ) != len(g_pids):
        raise ValueError(
            f"distmat {distmat.shape} does not match {len(q_pids)} query / {len(g_pids)} gallery labels"
        )
    if np.isnan(distmat).any():
        raise ValueError("distmat contains NaN distances")
    if max_rank < 1:
        raise ValueError(f"max_rank: expected >= 1, got {max_rank}")
    num_q, num_g = distmat.shape
    first_hit = np.zeros(num_q, dtype=np.int64)  # rank (0-based, in the filtered list) of the first match
    ap = np.zeros(num_q, dtype=np.float64)
    valid = np.zeros(num_q, dtype=bool)
    block = max(1, _BLOCK_ELEMENTS // max(num_g, 1))
    for start in range(0, num_q, block):
        sl = slice(start, min(start + block, num_q))
        first_hit[sl], ap[sl], valid[sl] = _rank_block(distmat[sl], q_pids[sl], g_pids, q_cams[sl], g_cams)
    num_valid = int(valid.sum())
    if num_valid == 0:
        raise DataError("no query has a true match in the gallery (after same-camera removal)")
    ranks = first_hit[valid]
    counts = np.bincount(ranks[ranks < max_rank], minlength=max_rank)
    cmc = np.cumsum(counts)[:max_rank] / num_valid
    return cmc.astype(np.float64), float(ap[valid].mean()), num_valid


def _to_numpy(x: Any) -> np.ndarray:
    if _is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _rank_block(dist, q_pids, g_pids, q_cams, g_cams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first-hit rank, AP, has-a-match) of a block of queries.

    The masks are dense but the per-match arithmetic is sparse: true matches and removed entries are a
    tiny fraction of the gallery, so their positions (np.nonzero, row-major) are all that is summed.
    """
    nb, ng = dist.shape
    order = _stable_argsort(dist)  # ties keep gallery order
    same_pid = g_pids[order] == q_pids[:, None]
    junk = same_pid & (g_cams[order] == q_cams[:, None])  # same person, same camera: removed
    m_row, m_col = np.nonzero(same_pid & ~junk)  # true matches, row by row, in ranked order
    j_row, j_col = np.nonzero(junk)
    # rank of each match in the filtered list = its position minus the removed entries ranked before it
    j_key = j_row.astype(np.int64) * ng + j_col
    m_key = m_row.astype(np.int64) * ng + m_col
    removed_before = np.searchsorted(j_key, m_key) - np.searchsorted(j_key, m_row.astype(np.int64) * ng)
    kept_rank = m_col + 1 - removed_before  # 1-based
    num_rel = np.bincount(m_row, minlength=nb)
    row_start = np.concatenate([[0], np.cumsum(num_rel)[:-1]])
    hit_number = np.arange(len(m_row)) - row_start[m_row] + 1  # 1st, 2nd, ... match of its query
    precision_sum = np.bincount(m_row, weights=hit_number / kept_rank, minlength=nb)
    valid = num_rel > 0
    ap = np.divide(precision_sum, num_rel, out=np.zeros(nb), where=valid)
    first_hit = np.zeros(nb, dtype=np.int64)
    first_hit[valid] = kept_rank[row_start[valid]] - 1
    return first_hit, ap, valid


def _stable_argsort(dist: np.ndarray) -> np.ndarray:
    """Row-wise stable argsort.  float32 rows take a faster route: each distance's order-preserving
    32-bit pattern and its column index packed into one uint64 key, value-sorted (SIMD sort), index
    read back from the low bits - identical to ``np.argsort(kind="stable")``, ~1.5-2x faster."""
    if dist.dtype != np.float32 or dist.shape[1] >= 1 << 32:
        return np.argsort(dist, axis=1, kind="stable")
    bits = (dist + np.float32(0.0)).view(np.uint32)  # + 0.0 turns -0.0 into +0.0 (they must tie)
    key = np.where(bits & np.uint32(0x80000000), ~bits, bits | np.uint32(0x80000000)).astype(np.uint64)
    key <<= np.uint64(32)
    key |= np.arange(dist.shape[1], dtype=np.uint64)
    key.sort(axis=1)
    return (key & np.uint64(0xFFFFFFFF)).astype(np.intp)
