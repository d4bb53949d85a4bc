"""HA-CNN and Compact-ReID: spec §3 sizes, forward contracts, attention/STN, Shuffle units, GeM."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from mtmc.config import load_config
from reid.engine import build_loss, build_optimizer
from reid.flops import count_macs
from reid.models.attention import REGIONS, HardAttn, crop_region, crop_regions, region_affine, region_grid
from reid.models.blocks import count_inference_params
from reid.models.hacnn import HarmoniousNet
from reid.models.pooling import GeM
from reid.models.shuffle import ShuffleA, ShuffleB, ShuffleStage, channel_shuffle, concat_shuffle
from reid.registry import build_model, model_info
from reid.train_config import TrainRecipe

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", ["hacnn", "compact_reid_1x", "compact_reid_2x"])
def test_registered_with_160x64_input(name):
    assert model_info(name).input_size == (160, 64)


def test_hacnn_params_match_torchreid():
    model = build_model("hacnn")
    assert count_inference_params(model) == 2_929_112
    branch = sum(p.numel() for n, p in model.named_parameters() if n.startswith(("local_convs", "fc_local")))
    assert branch == 1_314_240  # local branch; the rest is the global branch
    full = build_model("hacnn", num_classes=751)
    assert (
        sum(p.numel() for p in full.parameters()) == 2_929_112 + 770_526
    )  # two 751-way classifiers with bias


def test_compact_reid_params_match_spec():
    one = build_model("compact_reid_1x")
    gem = 2  # one trainable exponent per branch, not in the spec's count
    assert count_inference_params(one) == 2_912_216 + gem
    assert abs(count_inference_params(one) - 2_912_216) / 2_912_216 < 0.005
    assert sum(p.numel() for p in one.local_convs.parameters()) == 203_616
    full = build_model("compact_reid_1x", num_classes=751)
    assert sum(p.numel() for p in full.parameters()) == 3_681_240 + gem  # bias-free classifiers
    assert full.classifier_global.bias is None and full.classifier_local.bias is None
    two = build_model("compact_reid_2x")
    assert count_inference_params(two) == 5_262_039 + gem


def test_macs_match_spec():
    assert count_macs(build_model("hacnn"), (160, 64)) / 1e9 == pytest.approx(0.54, rel=0.02)
    assert count_macs(build_model("compact_reid_1x"), (160, 64)) / 1e9 == pytest.approx(0.683, rel=0.02)


@pytest.mark.parametrize("name,dims", [("hacnn", (512, 512)), ("compact_reid_1x", (512, 512))])
def test_train_and_eval_outputs(name, dims):
    torch.manual_seed(0)
    model = build_model(name, num_classes=7)
    x = torch.randn(2, 3, 160, 64)
    model.train()
    out = model(x)
    assert len(out) == 2
    for (logits, feat), d in zip(out, dims):
        assert logits.shape == (2, 7) and feat.shape == (2, d)
    # The STN is differentiable: the region regressor (hard attention) gets gradients from the local loss.
    out[1][0].sum().backward()
    assert model.ha[0].hard_attn.fc.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        emb = model(x)
    assert emb.shape == (2, sum(dims)) == (2, model.embedding_dim)
    # Each half is L2-normalised, so the embedding norm is sqrt(2).
    assert torch.allclose(emb[:, : dims[0]].norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.allclose(emb.norm(dim=1), torch.full((2,), math.sqrt(2)), atol=1e-5)


def test_compact_reid_2x_embedding_and_inference_only_build():
    model = build_model("compact_reid_2x").eval()
    assert model.embedding_dim == 1660
    with torch.no_grad():
        assert model(torch.randn(1, 3, 160, 64)).shape == (1, 1660)
    model.train()
    (logits, feat), (logits_l, feat_l) = model(torch.randn(2, 3, 160, 64))
    assert logits is None and logits_l is None  # num_classes=0: no classifiers
    assert feat.shape == (2, 960) and feat_l.shape == (2, 700)
    assert not any("classifier" in n for n, _ in model.named_parameters())


def test_compact_reid_classifies_normalised_feature():
    torch.manual_seed(0)
    model = build_model("compact_reid_1x", num_classes=5).train()
    x = torch.randn(2, 3, 160, 64)
    (logits, f_t), _ = model(x)
    expected = model.classifier_global(torch.nn.functional.normalize(f_t, dim=1))
    assert torch.allclose(logits, expected, atol=1e-6)
    assert not torch.allclose(f_t.norm(dim=1), torch.ones(2))  # triplet feature is f, not f/|f|
    flagged = build_model("compact_reid_1x", num_classes=5, triplet_on_normalized=True).train()
    (_, f_n), _ = flagged(x)
    assert torch.allclose(f_n.norm(dim=1), torch.ones(2), atol=1e-5)


def _striped_map(h: int = 16, w: int = 8) -> torch.Tensor:
    """A (1, 1, h, w) map whose r-th horizontal quarter holds the value r."""
    rows = torch.arange(h).div(h // REGIONS, rounding_mode="floor").float()
    return rows.view(1, 1, h, 1).expand(1, 1, h, w).contiguous()


def test_hard_attention_init_gives_four_horizontal_stripes():
    attn = HardAttn(32)
    theta = attn(torch.randn(3, 32, 5, 4))
    assert theta.shape == (3, REGIONS, 2)
    assert torch.allclose(theta[..., 0], torch.zeros(3, REGIONS))  # full width, centred
    assert torch.allclose(theta[0, :, 1], torch.tensor([-0.75, -0.25, 0.25, 0.75]), atol=1e-6)
    source = _striped_map(16, 8)
    for r in range(REGIONS):
        region = crop_region(source, theta[:1, r], (16, 8))
        # Bilinear sampling blends the neighbouring stripe (or the zero padding) only in the 2 edge rows.
        middle = region[..., 2:14, :]
        assert torch.allclose(middle, torch.full_like(middle, float(r)), atol=1e-5), r


def test_region_grid_equals_affine_grid():
    t = torch.randn(3, 2).tanh()
    expected = torch.nn.functional.affine_grid(region_affine(t), [3, 1, 7, 5], align_corners=False)
    assert torch.allclose(region_grid(t, 7, 5), expected, atol=1e-6)


def test_hard_attention_torchreid_init_is_tanh_of_centres():
    theta = HardAttn(16, exact_stripes=False)(torch.randn(1, 16, 4, 4))
    expected = torch.tanh(torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    assert torch.allclose(theta[0, :, 1], expected, atol=1e-6)


def test_hacnn_skeleton_rejects_wrong_stage_count():
    with pytest.raises(ValueError, match="3 stages"):
        HarmoniousNet(nn.Identity(), [nn.Identity()], [16], [nn.Identity()], 8, 8)


def test_gem_pooling():
    x = torch.rand(2, 6, 5, 3) + 0.01
    assert torch.allclose(GeM(p=1.0)(x), x.mean(dim=(2, 3)), atol=1e-6)
    big = GeM(p=60.0)(x)
    amax = x.amax(dim=(2, 3))
    assert torch.all(big <= amax + 1e-5) and torch.allclose(big, amax, rtol=0.06)
    gem = GeM()
    assert gem.p.numel() == 1 and gem.p.item() == 3.0
    per = GeM(channels=6)
    assert per.p.shape == (6,) and per(x).shape == (2, 6)
    with torch.no_grad():
        per.p[0] = 1.0
    assert torch.allclose(per(x)[:, 0], x[:, 0].mean(dim=(1, 2)), atol=1e-6)
    per(x).sum().backward()
    assert per.p.grad is not None and per.p.grad.shape == (6,)
    with pytest.raises(ValueError):
        GeM(p=0)


def test_channel_shuffle_interleaves_groups():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    with pytest.raises(ValueError):
        channel_shuffle(torch.zeros(1, 5, 1, 1), 2)


def test_shuffle_units():
    x = torch.randn(2, 32, 10, 7)
    a = ShuffleA(32)
    h = 16
    assert a(x).shape == x.shape
    assert sum(p.numel() for p in a.parameters()) == 2 * h * h + 15 * h
    b2 = ShuffleB(32, 64, 2)
    assert b2(x).shape == (2, 64, 5, 4)
    b1 = ShuffleB(32, 128, 1)
    assert b1(x).shape == (2, 128, 10, 7)
    # Stride-1 Shuffle-B convolves branch 1 too (no pass-through half).
    assert sum(p.numel() for p in b1.branch1.parameters()) == 9 * 32 + 2 * 32 + 32 * 64 + 2 * 64
    stage = ShuffleStage(32, 128, 3)
    assert len(stage) == 5 and stage(x).shape == (2, 128, 5, 4)
    with pytest.raises(ValueError):
        ShuffleA(7)
    with pytest.raises(ValueError):
        ShuffleB(8, 16, 3)


@pytest.mark.parametrize("shape,size", [((3, 5, 12, 8), (5, 6)), ((2, 4, 7, 5), (4, 7)), ((2, 3, 6, 4), (1, 1))])
def test_crop_regions_equals_grid_sample_values_and_gradients(shape, size):
    """The training path (two matmuls) is the reference grid_sample + resize, gradients included."""
    torch.manual_seed(0)
    source = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    # Translations up to +-1 push part of a region outside the map (zero padding).
    theta = torch.empty(shape[0], REGIONS, 2, dtype=torch.float64).uniform_(-1, 1).requires_grad_()
    ref = torch.stack([crop_region(source, theta[:, r], size) for r in range(REGIONS)], dim=1)
    fast = crop_regions(source, theta, size)
    assert fast.shape == (shape[0], REGIONS, shape[1], *size)
    assert torch.allclose(fast, ref, atol=1e-12)
    weight = torch.randn_like(ref)
    grads_ref = torch.autograd.grad((ref * weight).sum(), (source, theta))
    grads_fast = torch.autograd.grad((fast * weight).sum(), (source, theta))
    for a, b in zip(grads_fast, grads_ref):
        assert torch.allclose(a, b, atol=1e-10)


def test_training_and_inference_crops_agree():
    torch.manual_seed(0)
    model = build_model("compact_reid_1x")
    source, theta = torch.randn(2, 32, 80, 32), torch.randn(2, REGIONS, 2).tanh()
    train = model.train()._crop(source, theta, (24, 28))
    infer = model.eval()._crop(source, theta, (24, 28))
    for a, b in zip(train, infer, strict=True):
        assert a.shape == (2, 32, 24, 28) and torch.allclose(a, b, atol=1e-5)


def test_concat_shuffle_is_cat_then_shuffle():
    a, b = torch.randn(2, 6, 3, 2), torch.randn(2, 6, 3, 2)
    assert torch.equal(concat_shuffle(a, b), channel_shuffle(torch.cat([a, b], dim=1), 2))


def _recipe_steps_then_eval(overrides: list[str], steps: int = 3) -> tuple[torch.Tensor, float]:
    """A few optimiser steps of the synthetic Compact-ReID recipe (tiny inputs), then an eval forward."""
    config = Path(__file__).resolve().parents[1] / "configs" / "reid" / "compact_reid_1x_synth.yaml"
    recipe = load_config([config], overrides, cls=TrainRecipe)
    torch.manual_seed(0)
    model = build_model(recipe.model.name, num_classes=4).train()
    optimizer, criterion = build_optimizer(recipe, model), build_loss(recipe.loss)
    x, pids = torch.randn(8, 3, 64, 32), torch.arange(2).repeat_interleave(4)
    for _ in range(steps):
        loss, _ = criterion(model(x + 0.1 * torch.randn_like(x)), pids)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    peaks: list[float] = []
    hooks = [s.register_forward_hook(lambda m, i, o: peaks.append(o.abs().max().item())) for s in model.stages]
    with torch.no_grad():
        embedding = model.eval()(x)
    for h in hooks:
        h.remove()
    return embedding, max(peaks)


def test_compact_reid_synth_recipe_keeps_eval_activations_bounded():
    """Regression: with SGD 0.03 the first steps blow the conv weights up ~100x (BN hides it in training),
    stale BN running stats then drive eval activations to inf and the embeddings to NaN."""
    embedding, peak = _recipe_steps_then_eval([])
    assert torch.isfinite(embedding).all()
    assert peak < 1e3, peak


def test_logit_scale_multiplies_the_classifier_logits_only():
    torch.manual_seed(0)
    plain = build_model("compact_reid_1x", num_classes=5).train()
    scaled = build_model("compact_reid_1x", num_classes=5, logit_scale=16.0).train()
    scaled.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 64, 32)
    torch.manual_seed(1)
    a = plain(x)
    torch.manual_seed(1)
    b = scaled(x)
    for (la, fa), (lb, fb) in zip(a, b):
        assert torch.allclose(lb, 16.0 * la, atol=1e-6) and torch.allclose(fa, fb)
