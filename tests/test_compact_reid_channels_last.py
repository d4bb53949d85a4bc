"""Compact-ReID's opt-in channels-last training (issue 14) computes what the NCHW path does.

``train_channels_last`` trains in NHWC (oneDNN's faster layout on CPU) with an NHWC channel-shuffle kernel.
Same loss, gradients, running statistics and embeddings as the NCHW model with the same weights are
required (in float64: in float32 the kernels' other summation order moves the loss by ~1e-3).
"""

from __future__ import annotations

import copy
import hashlib

import pytest
import torch

from reid.losses import compact_reid_loss
from reid.models.shuffle import channel_shuffle, concat_shuffle
from reid.registry import build_model


def _pair(name: str, **kwargs) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(model built with ``kwargs``, the same weights on the reference path)."""
    torch.manual_seed(0)
    model = build_model(name, num_classes=4, **kwargs)
    with torch.no_grad():  # move the BNs off their 1/0 init so that every affine parameter matters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    reference = copy.deepcopy(model)
    reference.train_channels_last = False  # NCHW throughout, stack-based shuffles
    return model, reference


def _batch(h: int = 160, w: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(4, 3, h, w, generator=gen), torch.arange(2).repeat_interleave(2)


def _train_step(model: torch.nn.Module, x: torch.Tensor, pids: torch.Tensor) -> tuple[float, dict]:
    model.train()
    loss, _ = compact_reid_loss()(model(x), pids)
    model.zero_grad(set_to_none=True)
    loss.backward()
    return float(loss.detach()), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


def _assert_close_tensors(a: dict, b: dict, rtol: float, atol: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        scale = float(b[key].abs().max()) if b[key].is_floating_point() else 0.0
        assert torch.allclose(a[key].double(), b[key].double(), rtol=rtol, atol=atol * max(scale, 1.0)), key


def _check_same_step(model, reference, x, pids, loss_tol: float, rtol: float, atol: float) -> None:
    loss, grads = _train_step(model, x, pids)
    ref_loss, ref_grads = _train_step(reference, x, pids)
    assert loss == pytest.approx(ref_loss, abs=loss_tol)
    _assert_close_tensors(grads, ref_grads, rtol=rtol, atol=atol)
    # The same running statistics, num_batches_tracked included.
    _assert_close_tensors(dict(model.named_buffers()), dict(reference.named_buffers()), rtol=rtol, atol=atol)
    # Eval mode (running statistics, grid_sample crops): the same embeddings.
    with torch.no_grad():
        emb, ref_emb = model.eval()(x), reference.eval()(x)
    assert emb.shape == (len(x), model.embedding_dim)
    assert torch.allclose(emb, ref_emb, atol=atol)


def test_channels_last_training_is_the_same_arithmetic():
    """``train_channels_last`` (NHWC global branch) computes the same function: checked in float64, where
    the different summation order of the NHWC kernels cannot hide a real difference (in float32 it moves
    the loss of this untrained net by ~1e-3; see compact_reid)."""
    model, reference = _pair("compact_reid_1x", train_channels_last=True)
    x, pids = _batch(64, 32)
    model, reference, x = model.double(), reference.double(), x.double()
    _check_same_step(model, reference, x, pids, loss_tol=1e-9, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_channels_last_shuffle_equals_cat_then_shuffle(dtype):
    torch.manual_seed(0)
    a, b = (torch.randn(2, 6, 5, 3, dtype=dtype).contiguous(memory_format=torch.channels_last) for _ in range(2))
    a = a.requires_grad_()
    b = b.requires_grad_()
    out = concat_shuffle(a, b, nhwc=True)
    ref = channel_shuffle(torch.cat([a, b], dim=1), 2)
    assert out.is_contiguous(memory_format=torch.channels_last) and torch.equal(out, ref)
    weight = torch.randn_like(ref)
    grads = torch.autograd.grad((out * weight).sum(), (a, b))
    ref_grads = torch.autograd.grad((ref * weight).sum(), (a, b))
    for g, r in zip(grads, ref_grads):
        assert g.is_contiguous(memory_format=torch.channels_last) and torch.equal(g, r)
    assert concat_shuffle(a.contiguous(), b.contiguous(), nhwc=True).is_contiguous()  # NCHW stays NCHW


@pytest.mark.parametrize("name,entries,numel,digest", [
    ("compact_reid_1x", 838, 2952589, "b4ad8bb0c78f38b3"),
    ("hacnn", 535, 2946647, "fbd84293bc81a844"),
])
def test_state_dict_layout_unchanged(name, entries, numel, digest):
    """Old checkpoints load: keys and shapes as computed before the option (num_classes=4)."""
    state = build_model(name, num_classes=4).state_dict()
    layout = ";".join(f"{k}:{tuple(v.shape)}" for k, v in state.items())
    assert (len(state), sum(v.numel() for v in state.values())) == (entries, numel)
    assert hashlib.sha1(layout.encode()).hexdigest()[:16] == digest


@pytest.mark.parametrize("name", ["compact_reid_1x", "hacnn"])
def test_eval_model_still_folds_every_batch_norm(name):
    """The option leaves inference traceable: optimize_for_inference folds all BNs."""
    from reid.models.blocks import optimize_for_inference

    model = build_model(name).eval()
    fused = optimize_for_inference(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        assert torch.allclose(fused(x), model(x), atol=1e-5)
