"""Market-1501 CMC / mAP (eval.reid_metrics): a hand-computed case and a per-query reference loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from eval.reid_metrics import pairwise_distance, rank_and_map
from mtmc.errors import DataError

# gallery:       g0        g1        g2        g3             g4        g5
G_PIDS = np.array([1, 2, 1, 0, 1, 3])  # pid 0 = distractor
G_CAMS = np.array([0, 0, 1, 1, 2, 1])


def test_hand_computed_case():
    q_pids = np.array([1, 2, 3, 1])
    q_cams = np.array([0, 1, 1, 1])
    dist = np.array(
        [
            # q0 (pid 1, cam 0): g0 is the same pid at the same camera -> removed.  Kept ranking:
            # g1 (neg), g2 (match, rank 2), g3 (distractor), g4 (match, rank 4), g5
            # -> first hit at rank 2; AP = (1/2 + 2/4) / 2 = 0.5
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            # q1 (pid 2, cam 1): g1 is pid 2 at camera 0 -> kept, ranked first -> AP = 1, hit at rank 1
            [0.5, 0.1, 0.2, 0.3, 0.4, 0.6],
            # q2 (pid 3, cam 1): its only gallery image g5 is at the same camera -> no valid match, skipped
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            # q3 (pid 1, cam 1): g2 removed (same pid, same camera).  Kept ranking:
            # g3 (0.2), g4 (0.3, match, rank 2), g5 (0.4), g1 (0.5), g0 (0.6, match, rank 5)
            # -> first hit at rank 2; AP = (1/2 + 2/5) / 2 = 0.45
            [0.6, 0.5, 0.1, 0.2, 0.3, 0.4],
        ]
    )
    cmc, mean_ap, n_valid = rank_and_map(dist, q_pids, G_PIDS, q_cams, G_CAMS, max_rank=5)
    assert n_valid == 3
    # rank-1: only q1 of the 3 valid queries; rank-2 onwards: all three
    np.testing.assert_allclose(cmc, [1 / 3, 1, 1, 1, 1])
    assert mean_ap == pytest.approx((0.5 + 1.0 + 0.45) / 3)


def test_no_valid_query_is_an_error():
    with pytest.raises(DataError, match="no query"):
        rank_and_map(np.ones((1, 6)), np.array([3]), G_PIDS, np.array([1]), G_CAMS)


def _reference(distmat, q_pids, g_pids, q_cams, g_cams, max_rank):
    """Straightforward per-query loop of the protocol, to check the vectorised version against."""
    cmcs, aps = [], []
    for i in range(len(q_pids)):
        order = np.argsort(distmat[i], kind="stable")
        keep = ~((g_pids[order] == q_pids[i]) & (g_cams[order] == q_cams[i]))
        matches = (g_pids[order] == q_pids[i])[keep]
        if not matches.any():
            continue
        cmc = np.zeros(max_rank)
        first = int(np.flatnonzero(matches)[0])
        if first < max_rank:
            cmc[first:] = 1
        cmcs.append(cmc)
        precision = [matches[: k + 1].sum() / (k + 1) for k in np.flatnonzero(matches)]
        aps.append(np.mean(precision))
    return np.mean(cmcs, axis=0), float(np.mean(aps)), len(aps)


@pytest.mark.parametrize("seed,dtype", [(0, np.float64), (1, np.float32)])
def test_matches_per_query_loop(seed, dtype, monkeypatch):
    rng = np.random.default_rng(seed)
    nq, ng = 80, 300
    q_pids, g_pids = rng.integers(0, 100, nq), rng.integers(0, 100, ng)
    q_cams, g_cams = rng.integers(0, 3, nq), rng.integers(0, 3, ng)
    dist = rng.random((nq, ng)).astype(dtype) - dtype(0.5)  # negative values too
    dist[:, ::7] = np.round(dist[:, ::7], 1)  # some ties: both sides break them by gallery order
    dist[:, 1::50] = -0.0  # -0.0 and 0.0 tie as well
    # small blocks so that the block loop itself is exercised
    monkeypatch.setattr("eval.reid_metrics._BLOCK_ELEMENTS", 7 * ng)
    cmc, mean_ap, n_valid = rank_and_map(dist, q_pids, g_pids, q_cams, g_cams, max_rank=20)
    ref_cmc, ref_ap, ref_n = _reference(dist, q_pids, g_pids, q_cams, g_cams, 20)
    assert n_valid == ref_n and n_valid < nq  # some queries have no valid match
    np.testing.assert_allclose(cmc, ref_cmc)
    assert mean_ap == pytest.approx(ref_ap)


@pytest.mark.parametrize("metric,scipy_name", [("euclidean", "euclidean"), ("sqeuclidean", "sqeuclidean"),
                                               ("cosine", "cosine")])
def test_pairwise_distance_numpy_and_torch(metric, scipy_name):
    rng = np.random.default_rng(3)
    q, g = rng.standard_normal((5, 16)), rng.standard_normal((7, 16))
    expected = cdist(q, g, scipy_name)
    np.testing.assert_allclose(pairwise_distance(q, g, metric), expected, atol=1e-9)
    out = pairwise_distance(torch.from_numpy(q), torch.from_numpy(g), metric)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-4)
    with pytest.raises(ValueError):
        pairwise_distance(q, g, "manhattan")
