"""ReID training parts: datasets, PK sampler, transforms, schedules, SWAG."""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from reid_train_helpers import make_market  # noqa: E402

from mtmc.errors import DataError  # noqa: E402
from reid.data import DistributedPKBatchSampler, PKBatchSampler, RandomErasing, build_transforms, load_dataset  # noqa: E402
from reid.schedules import as_lambda, compact_reid_lr, cosine_cycles_lr, cosine_lr, warmup_step_lr  # noqa: E402
from reid.swag import SWAG, swa_model  # noqa: E402

# ---------------------------------------------------------------------------------------------- data


def test_market_layout(tmp_path):
    data = load_dataset(make_market(tmp_path / "m"))
    assert data.num_classes == 6 and len(data.train) == 24  # junk dropped
    assert sorted({r.pid for r in data.train}) == list(range(6))  # relabelled
    assert data.train_pids == [1, 2, 3, 4, 5, 6]
    assert any(r.pid == 0 for r in data.gallery)  # distractor kept
    assert all(r.pid != -1 for r in data.gallery + data.query)
    assert {r.camera for r in data.train} == {0, 1}


def test_market_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_dataset(tmp_path / "missing")
    root = tmp_path / "empty"
    (root / "bounding_box_train").mkdir(parents=True)
    with pytest.raises(DataError, match="no training images"):
        load_dataset(root)
    root = make_market(tmp_path / "bad")
    (root / "bounding_box_train" / "person_seven.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"person_seven.jpg: file name does not follow"):
        load_dataset(root)


def test_an_evaluation_only_market_folder_loads_for_evaluation_only(tmp_path):
    import shutil

    root = make_market(tmp_path / "m")
    shutil.rmtree(root / "bounding_box_train")
    data = load_dataset(root, require_train=False)  # auto-detected as Market: query + bounding_box_test
    assert data.has_eval and not data.train and len(data.query) and len(data.gallery)
    with pytest.raises(DataError, match="bounding_box_train: missing dataset folder"):
        load_dataset(root)  # training needs its identities


def test_msmt17_lists(tmp_path):
    src = make_market(tmp_path / "m")
    root = tmp_path / "msmt"
    (root / "train" / "0001").mkdir(parents=True)
    (root / "test" / "0100").mkdir(parents=True)
    img = next((src / "bounding_box_train").glob("0001_*")).read_bytes()
    for name in ("0001_000_01_0303morning_0015_0.jpg", "0001_001_03_0303morning_0016_0.jpg"):
        (root / "train" / "0001" / name).write_bytes(img)
    for name in ("0100_000_02_x_0.jpg", "0100_001_05_x_0.jpg"):
        (root / "test" / "0100" / name).write_bytes(img)
    (root / "list_train.txt").write_text("0001/0001_000_01_0303morning_0015_0.jpg 1\n"
                                         "0001/0001_001_03_0303morning_0016_0.jpg 1\n")
    (root / "list_query.txt").write_text("0100/0100_000_02_x_0.jpg 100\n")
    (root / "list_gallery.txt").write_text("0100/0100_001_05_x_0.jpg 100\n")
    data = load_dataset(root)
    assert data.num_classes == 1 and [r.camera for r in data.train] == [0, 2]
    assert data.query[0].camera == 1 and data.gallery[0].pid == 100
    (root / "list_query.txt").write_text("0100/0100_000_02_x_0.jpg 100\nbroken-line\n")
    with pytest.raises(DataError, match=r"list_query.txt:2: expected"):
        load_dataset(root)
    (root / "list_query.txt").write_text("0100/nothere.jpg 100\n")
    with pytest.raises(DataError, match=r"list_query.txt:1: image .* not found"):
        load_dataset(root)


def test_folder_per_identity(tmp_path):
    src = make_market(tmp_path / "m")
    img = next((src / "bounding_box_train").glob("0001_*")).read_bytes()
    for split, pids in (("train", (5, 9)), ("query", (20,)), ("gallery", (20, 21))):
        for pid in pids:
            (tmp_path / "f" / split / str(pid)).mkdir(parents=True)
            for i in range(2):
                (tmp_path / "f" / split / str(pid) / f"img{i}.jpg").write_bytes(img)
    data = load_dataset(tmp_path / "f")
    assert data.num_classes == 2 and data.has_eval
    cams = [r.camera for r in data.train + data.query + data.gallery]
    assert len(set(cams)) == len(cams)  # unknown cameras: one pseudo camera per image


# ---------------------------------------------------------------------------------------------- sampler


def test_pk_sampler_batches():
    pids = [i // 5 for i in range(50)] + [10, 11]  # 10 ids x 5 images, 2 ids with a single image
    sampler = PKBatchSampler(pids, p=4, k=3, seed=1)
    batches = list(sampler)
    assert batches and len(batches) <= len(sampler)
    for batch in batches:
        assert len(batch) == 12
        counts = Counter(pids[i] for i in batch)
        assert len(counts) == 4 and set(counts.values()) == {3}
    # resuming the generator state reproduces the next epoch exactly
    state = sampler.state_dict()
    nxt = list(sampler)
    other = PKBatchSampler(pids, p=4, k=3, seed=99)
    other.load_state_dict(state)
    assert list(other) == nxt
    with pytest.raises(DataError, match="fewer than P"):
        PKBatchSampler([0, 0, 1, 1], p=3, k=2)


def test_distributed_pk_sampler_disjoint_slices():
    pids = [i // 4 for i in range(80)]
    full = PKBatchSampler(pids, 4, 4, seed=3).epoch_batches()
    parts = [DistributedPKBatchSampler(pids, 4, 4, seed=3, rank=r, world_size=2).epoch_batches() for r in (0, 1)]
    assert len(parts[0]) == len(parts[1]) == len(full) // 2
    assert parts[0] == full[0::2][: len(parts[0])] and parts[1] == full[1::2][: len(parts[1])]


# ---------------------------------------------------------------------------------------------- transforms


def test_transforms_shapes_and_erasing():
    from PIL import Image

    img = Image.new("RGB", (30, 70), (200, 10, 10))
    tf = build_transforms((64, 32), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), train=True, erase_p=0.0)
    assert tf(img).shape == (3, 64, 32)
    bgr = build_transforms((64, 32), (0.0,) * 3, (1.0,) * 3, rgb=False, train=False)(img)
    assert bgr[2].mean() > bgr[0].mean()  # red is the last channel in BGR
    torch.manual_seed(0)
    erased = RandomErasing(p=1.0, value=(9.0, 9.0, 9.0))(torch.zeros(3, 64, 32))
    frac = (erased[0] == 9.0).float().mean().item()
    assert 0.01 < frac <= 0.45 and torch.equal(erased[0], erased[1])


# ---------------------------------------------------------------------------------------------- schedules


def test_compact_reid_eq5():
    lr = [compact_reid_lr(t - 1) for t in (1, 10, 11, 150, 151, 225, 226, 350)]
    assert lr == pytest.approx([3e-3, 3e-2, 3e-2, 3e-2, 3e-3, 3e-3, 3e-4, 3e-4])


def test_step_and_cosine():
    assert warmup_step_lr(149, 0.065, 0, (150, 225, 300)) == pytest.approx(0.065)
    assert warmup_step_lr(150, 0.065, 0, (150, 225, 300)) == pytest.approx(0.0065)
    assert warmup_step_lr(349, 0.065, 0, (150, 225, 300)) == pytest.approx(6.5e-5)
    assert cosine_lr(0, 0.1, 0.001, 200) == pytest.approx(0.1)
    assert cosine_lr(100, 0.1, 0.001, 200) == pytest.approx(0.0505)
    assert cosine_lr(200, 0.1, 0.001, 200) == pytest.approx(0.001)


def test_cosine_cycles_with_decay():
    lr_max, lr_min, T, decay = 3e-3, 3e-5, 35, 0.7
    for c in range(15):
        start = cosine_cycles_lr(c * T, lr_max, lr_min, T, decay)
        assert start == pytest.approx(lr_max * decay**c)  # each cycle restarts at its decayed peak
        end = cosine_cycles_lr(c * T + T - 1, lr_max, lr_min, T, decay)
        expected = lr_min + 0.5 * (lr_max * decay**c - lr_min) * (1 + math.cos(math.pi * (T - 1) / T))
        assert end == pytest.approx(expected)
        # from cycle 13 on the decayed peak (3e-3 * 0.7^13) falls below lr_min: the formula inverts
        assert (end < start) == (lr_max * decay**c > lr_min)
    assert cosine_cycles_lr(35 + 17, lr_max, lr_min, T, 0.7) < cosine_cycles_lr(17, lr_max, lr_min, T, 0.7)


def test_lambda_lr_follows_schedule():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=3e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, as_lambda(compact_reid_lr, 3e-2))
    seen = []
    for _ in range(12):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen[0] == pytest.approx(3e-3) and seen[4] == pytest.approx(1.5e-2) and seen[11] == pytest.approx(3e-2)


# ---------------------------------------------------------------------------------------------- SWAG


def _bn_net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_swa_mean_is_average_of_collected_weights():
    torch.manual_seed(0)
    net = _bn_net()
    swag = SWAG(net)
    snapshots = []
    for _ in range(4):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        snapshots.append({k: v.clone() for k, v in net.named_parameters()})
        swag.collect(net)
    assert swag.n == 4
    for name in swag.names:
        stack = torch.stack([s[name] for s in snapshots])
        assert torch.allclose(swag.mean[name], stack.mean(0), atol=1e-6)
        assert torch.allclose(swag.variance()[name], stack.var(0, unbiased=False).clamp(min=1e-30), atol=1e-5)
    # load the mean and refresh BN on an images-only loader
    data = [torch.randn(8, 3) + 5.0 for _ in range(3)]
    swa_model(net, swag, data)
    assert torch.allclose(dict(net.named_parameters())["0.weight"], swag.mean["0.weight"])
    assert net[1].running_mean.abs().sum() > 0 and int(net[1].num_batches_tracked) == 3
    # sampling: mean + sqrt(scale) sigma z stays near the mean; state round-trips
    swag.sample(net, scale=0.5, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(dict(net.named_parameters())["0.weight"], swag.mean["0.weight"])
    clone = SWAG(_bn_net())
    clone.load_state_dict(swag.state_dict())
    assert clone.n == 4 and torch.equal(clone.sq_mean["2.bias"], swag.sq_mean["2.bias"])


def test_bma_is_the_mean_of_normalised_embeddings_of_s_sampled_models():
    import copy

    from reid.swag import bma_embeddings

    torch.manual_seed(0)
    net = _bn_net()
    swag = SWAG(net)
    for _ in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        swag.collect(net)
    bn_data = [torch.randn(8, 3) for _ in range(2)]
    probe = torch.randn(5, 3)

    def embed(model):
        model.eval()
        with torch.no_grad():
            out = model(probe)
        model.train()
        return out

    samples, scale = 3, 0.5
    got = bma_embeddings(net, swag, bn_data, embed, samples=samples, scale=scale, seed=7)
    # by hand: the same normal draws, theta = mean + sqrt(scale * var) z per parameter, BN refreshed per model
    generator = torch.Generator().manual_seed(7)
    var = {n: swag.sq_mean[n] - swag.mean[n] ** 2 for n in swag.names}
    total = torch.zeros(5, 2)
    for _ in range(samples):
        model = copy.deepcopy(net)
        with torch.no_grad():
            for name, p in model.named_parameters():
                z = torch.randn(p.shape, generator=generator)
                p.copy_(swag.mean[name] + (scale * var[name].clamp(min=1e-30)).sqrt() * z)
        model[1].reset_running_stats()
        model[1].momentum = None  # cumulative average = what update_bn computes in one pass
        model.train()
        with torch.no_grad():
            for x in bn_data:
                model(x)
        e = embed(model)
        total += e / e.norm(dim=1, keepdim=True)
    assert torch.allclose(got, total / samples, atol=1e-5)
    # not the SWA mean's embeddings, and the model is left holding the SWA mean
    mean_model = embed(net)
    assert not torch.allclose(got, mean_model / mean_model.norm(dim=1, keepdim=True), atol=1e-3)
    assert torch.equal(dict(net.named_parameters())["0.weight"], swag.mean["0.weight"])
