"""ReID losses against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from reid.losses import (
    BatchHardTriplet,
    BranchLoss,
    CrossEntropyLabelSmooth,
    WeightedSoftTriplet,
    euclidean_dist,
    fblneck_loss,
    retrieval_loss,
)

# four 1-D points: ids 0,0,1,1 at 0, 1, 3, 7  -> easy hand-computed distances
X = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
Y = torch.tensor([0, 0, 1, 1])


def test_euclidean_dist():
    d = euclidean_dist(X, X)
    assert d[0, 3].item() == pytest.approx(7.0)
    assert d[1, 2].item() == pytest.approx(2.0)
    assert d[2, 2].item() == pytest.approx(1e-6)  # clamp(1e-12).sqrt()


def test_label_smoothing_ce_hand_value():
    logits = torch.tensor([[2.0, 0.0, 0.0]])
    target = torch.tensor([0])
    logp = [2 - math.log(math.exp(2) + 2), -math.log(math.exp(2) + 2), -math.log(math.exp(2) + 2)]
    eps = 0.1
    q = [1 - eps + eps / 3, eps / 3, eps / 3]
    expected = -sum(qi * li for qi, li in zip(q, logp))
    assert CrossEntropyLabelSmooth(eps)(logits, target).item() == pytest.approx(expected, rel=1e-6)
    plain = CrossEntropyLabelSmooth(0.0)(logits, target).item()
    assert plain == pytest.approx(F.cross_entropy(logits, target).item(), rel=1e-6)
    assert plain == pytest.approx(-logp[0], rel=1e-6)


def test_batch_hard_triplet_hand_value():
    # anchor 0: hardest pos 1, hardest neg 3 -> relu(1-3+0.3)=0
    # anchor 1: pos 1, neg 2 -> relu(1-2+0.3)=0 ; anchor 2: pos 4, neg 2 -> 2.3 ; anchor 3: pos 4, neg 6 -> 0
    loss = BatchHardTriplet(0.3)(X, Y).item()
    assert loss == pytest.approx(2.3 / 4, rel=1e-5)
    soft = BatchHardTriplet(0.0)(X, Y).item()
    expected = sum(math.log1p(math.exp(v)) for v in (1 - 3, 1 - 2, 4 - 2, 4 - 6)) / 4
    assert soft == pytest.approx(expected, rel=1e-5)


def _weighted_hand(points: list[float], ids: list[int]) -> float:
    total, n = 0.0, 0
    for a, (pa, ia) in enumerate(zip(points, ids)):
        pos = [abs(pa - p) for j, (p, i) in enumerate(zip(points, ids)) if i == ia and j != a]
        neg = [abs(pa - p) for p, i in zip(points, ids) if i != ia]
        if not pos or not neg:
            continue
        wp = [math.exp(d) for d in pos]
        wn = [math.exp(-d) for d in neg]
        d_pos = sum(w * d for w, d in zip(wp, pos)) / sum(wp)
        d_neg = sum(w * d for w, d in zip(wn, neg)) / sum(wn)
        total += math.log1p(math.exp(d_pos - d_neg))
        n += 1
    return total / n


def test_weighted_soft_triplet_hand_value():
    got = WeightedSoftTriplet()(X, Y).item()
    assert got == pytest.approx(_weighted_hand([0, 1, 3, 7], [0, 0, 1, 1]), rel=1e-5)
    # three positives per id: the weighting matters
    pts, ids = [0.0, 1.0, 2.5, 4.0, 5.0, 9.0], [0, 0, 0, 1, 1, 1]
    got = WeightedSoftTriplet()(torch.tensor(pts)[:, None], torch.tensor(ids)).item()
    assert got == pytest.approx(_weighted_hand(pts, ids), rel=1e-5)


def test_weighted_soft_triplet_excludes_anchor():
    # with K=2 each anchor has exactly one positive: D+ = d(a, p) exactly. Were the anchor itself
    # counted (d=~0), D+ would be a weighted mix of d(a,p) and 0 and the loss would be smaller.
    pts, ids = [0.0, 2.0, 5.0, 6.0], [0, 0, 1, 1]
    got = WeightedSoftTriplet()(torch.tensor(pts)[:, None], torch.tensor(ids)).item()
    # anchor 0: D+ = 2; negatives 5, 6 weighted by exp(-5), exp(-6)
    def d_neg(ds):
        w = [math.exp(-d) for d in ds]
        return sum(a * b for a, b in zip(w, ds)) / sum(w)

    per_anchor = [
        math.log1p(math.exp(2 - d_neg([5, 6]))),
        math.log1p(math.exp(2 - d_neg([3, 4]))),
        math.log1p(math.exp(1 - d_neg([5, 3]))),
        math.log1p(math.exp(1 - d_neg([6, 4]))),
    ]
    assert got == pytest.approx(sum(per_anchor) / 4, rel=1e-5)
    with_anchor_d_pos = (2 * math.exp(2) + 1e-6) / (math.exp(2) + 1)
    assert with_anchor_d_pos < 2 - 0.1  # the bug would change the value noticeably


def test_branch_sum_fblneck_and_retrieval():
    torch.manual_seed(0)
    targets = torch.tensor([0, 0, 1, 1])
    g = (torch.randn(4, 3), torch.randn(4, 5))
    loc = (torch.randn(4, 3), torch.randn(4, 6))
    ce, tri = CrossEntropyLabelSmooth(0.0), BatchHardTriplet(0.3)
    expected = ce(g[0], targets) + tri(g[1], targets) + ce(loc[0], targets) + tri(loc[1], targets)
    total, parts = fblneck_loss()([g, loc], targets)
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert parts["id"] + parts["triplet"] == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError):
        fblneck_loss()([g], targets)
    total, _ = retrieval_loss(0.5)(g, targets)  # a bare (logits, feat) pair is one branch
    assert total.item() == pytest.approx(0.5 * tri(g[1], targets).item() + 0.5 * ce(g[0], targets).item(), rel=1e-6)
    total, _ = BranchLoss(id_weight=2.0, triplet="none")([g, loc], targets)
    assert total.item() == pytest.approx(2 * (ce(g[0], targets) + ce(loc[0], targets)).item(), rel=1e-6)


def test_losses_backpropagate():
    feats = torch.randn(8, 4, requires_grad=True)
    targets = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    for loss in (BatchHardTriplet(0.3), BatchHardTriplet(0.0), WeightedSoftTriplet()):
        feats.grad = None
        loss(feats, targets).backward()
        assert torch.isfinite(feats.grad).all()
