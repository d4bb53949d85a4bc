"""DARTS ops, part-aware module, genotypes/cells and the Auto-ReID model (spec §1.7, §4)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from mtmc.errors import ConfigError, MtmcError
from reid.flops import count_macs
from reid.models.autoreid import (
    BASELINE,
    BASELINE_REID_SEARCH_SPACE,
    GENOTYPES,
    RETRIEVAL_REID_SEARCH_SPACE,
    Cell,
    DartsBackbone,
    Genotype,
)
from reid.models.blocks import count_inference_params
from reid.models.darts_ops import OPS, REID_PRIMITIVES, FactorizedReduce, PartAware, Zero, drop_path, make_op
from reid.registry import build_model, model_info

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [(10, 6), (7, 5)])  # H not divisible by 4; odd sizes
def test_op_shapes(name, stride, size):
    op = OPS[name](8, stride, False)
    x = torch.randn(2, 8, *size)
    h, w = size
    assert op(x).shape == (2, 8, -(-h // stride), -(-w // stride))


def test_reid_space_and_make_op():
    assert (
        set(REID_PRIMITIVES) <= set(OPS) and "part_aware" in REID_PRIMITIVES and REID_PRIMITIVES[0] == "none"
    )
    assert isinstance(make_op("skip_connect", 8, 1), nn.Identity)
    assert isinstance(make_op("skip_connect", 8, 2), FactorizedReduce)
    with pytest.raises(KeyError, match="unknown DARTS op"):
        make_op("conv_9x9", 8, 1)
    # affine=False (search phase) leaves BN without parameters.
    assert sum(p.numel() for p in make_op("sep_conv_3x3", 8, 1, affine=False).parameters()) == 2 * (
        9 * 8 + 64
    )


def test_zero_and_factorized_reduce():
    x = torch.randn(1, 4, 7, 5)
    assert Zero(2)(x).abs().sum() == 0 and Zero(2)(x).shape == (1, 4, 4, 3)
    fr = FactorizedReduce(4, 6)
    assert fr(x).shape == (1, 6, 4, 3)
    with pytest.raises(ValueError):
        FactorizedReduce(4, 5)


def test_part_aware_module():
    c = 16
    pa = PartAware(c, c, stride=1)
    assert sum(p.numel() for p in pa.parameters()) == 3 * c * c + 3 * c
    x = torch.randn(2, c, 6, 3)  # H=6: parts of unequal height
    assert pa(x).shape == (2, c, 6, 3)
    assert PartAware(c, 2 * c, stride=2)(x).shape == (2, 2 * c, 3, 2)
    # The enhanced tensor is constant within a part: changing pixels inside one part (keeping its mean)
    # only moves the output where the input moved or through that part's body vector.
    pa.eval()
    y = torch.zeros(1, c, 8, 4)
    y[:, :, :2] = 1.0  # top part differs from the rest
    out = pa(y)
    assert torch.allclose(out[:, :, 2], out[:, :, 3]) and torch.allclose(out[:, :, 4], out[:, :, 7])
    assert not torch.allclose(out[:, :, 0], out[:, :, 2])
    out.sum().backward()
    assert pa.linear.weight.grad.abs().sum() > 0


def test_drop_path():
    x = torch.ones(64, 2, 1, 1)
    assert torch.equal(drop_path(x, 0.0), x)
    dropped = drop_path(x, 0.5)
    kept = dropped[:, 0, 0, 0]
    assert set(kept.unique().tolist()) <= {0.0, 2.0} and 0 < (kept == 0).sum() < 64


def test_released_genotypes():
    for geno in GENOTYPES.values():
        geno.validate()
        assert len(geno.normal) == len(geno.reduce) == 8 and geno.normal_concat == (2, 3, 4, 5)
        assert Genotype.from_dict(geno.to_dict()) == geno
    assert ("part_aware", 1) in RETRIEVAL_REID_SEARCH_SPACE.reduce
    assert not any(op == "part_aware" for op, _ in BASELINE.normal + BASELINE.reduce)
    assert [op for op, _ in BASELINE_REID_SEARCH_SPACE.reduce].count("part_aware") == 2
    # Released files carry a weight per edge; it is accepted and dropped.
    d = RETRIEVAL_REID_SEARCH_SPACE.to_dict()
    d["normal"] = [[op, idx, 0.5] for op, idx in d["normal"]]
    assert Genotype.from_dict(d) == RETRIEVAL_REID_SEARCH_SPACE


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda d: d["normal"].__setitem__(0, ["conv_9x9", 0]), r"normal\[0\]: unknown op"),
        (lambda d: d["reduce"].__setitem__(2, ["max_pool_3x3", 3]), r"reduce\[2\]: input 3"),
        (lambda d: d["normal"].pop(), "2 edges per node"),
        (lambda d: d.__setitem__("reduce_concat", [2, 9]), "reduce_concat"),
        (lambda d: d.pop("normal"), "expected"),
    ],
)
def test_genotype_validation(edit, match):
    d = BASELINE.to_dict()
    edit(d)
    with pytest.raises(ConfigError, match=match):
        Genotype.from_dict(d)


def test_cells_and_backbone_reuse():
    x = torch.randn(2, 8, 12, 6)
    normal = Cell(RETRIEVAL_REID_SEARCH_SPACE, 8, 8, 4, reduction=False, reduction_prev=False)
    assert normal(x, x).shape == (2, 16, 12, 6)
    reduce = Cell(RETRIEVAL_REID_SEARCH_SPACE, 8, 16, 8, reduction=True, reduction_prev=False)
    assert reduce(x, torch.randn(2, 16, 12, 6)).shape == (2, 32, 6, 3)
    after = Cell(BASELINE, 8, 32, 8, reduction=False, reduction_prev=True)
    assert after(x, torch.randn(2, 32, 6, 3)).shape == (2, 32, 6, 3)
    assert [op.__class__.__name__ for op in reduce.ops][:2] == ["MaxPool2d", "PartAware"]

    calls = []

    def factory(cpp, cp, c, red, red_prev):
        calls.append((cpp, cp, c, red, red_prev))
        return Cell(BASELINE, cpp, cp, c, red, red_prev)

    net = DartsBackbone(factory, channels=8, layers=(1, 1, 1, 1), stem="darts_imagenet")
    assert [c[3] for c in calls] == [False, True, True, True] and calls[0][4] is True
    assert (
        net.eval()(torch.randn(1, 3, 64, 32)).shape == (1, net.out_channels, 1, 1) and net.out_channels == 256
    )
    with pytest.raises(ConfigError, match="stem"):
        DartsBackbone(factory, stem="vgg")


def test_autoreid_size_and_cost():
    assert model_info("autoreid").input_size == (384, 128)
    model = build_model("autoreid")
    infer = count_inference_params(model)
    full = build_model("autoreid", num_classes=751)
    total = sum(p.numel() for p in full.parameters())
    # Paper Table 1 (Retrieval + ReID space): 11.4M params with the 751-way head, 1.8G FLOPs at 384x128.
    assert 10.0e6 < total < 12.0e6 and total == pytest.approx(11.4e6, rel=0.02)
    assert total - infer == 2048 * 512 + 3 * 512 + 512 * 751 + 751  # embedding + BN + classifier
    macs = count_macs(model, (384, 128))
    assert 1.7e9 < macs < 2.0e9


def test_autoreid_forward_train_and_eval():
    torch.manual_seed(0)
    model = build_model("autoreid", num_classes=5)
    model.backbone.set_drop_path(0.2)
    out = model.train()(torch.randn(2, 3, 384, 128))
    assert len(out) == 1
    logits, f = out[0]
    assert logits.shape == (2, 5) and f.shape == (2, 2048)
    (logits.sum() + f.sum()).backward()
    model.eval()
    with torch.no_grad():
        emb = model(torch.randn(1, 3, 384, 128))
    assert emb.shape == (1, model.embedding_dim) == (1, 2048)


def test_autoreid_options():
    g = build_model("autoreid", genotype="baseline", eval_feature="g", channels=8).eval()
    assert g.embedding_dim == 512 and g.classifier is None and g.embedding is not None
    with torch.no_grad():
        assert g(torch.randn(1, 3, 128, 64)).shape == (1, 512)
    g.train()
    assert g(torch.randn(2, 3, 128, 64))[0][0] is None  # inference-only build: no logits
    assert build_model("autoreid", genotype=BASELINE.to_dict(), channels=8).genotype == BASELINE
    with pytest.raises(ConfigError, match="unknown genotype"):
        build_model("autoreid", genotype="nope")


def test_autoreid_genotype_from_a_json_file(tmp_path):
    path = tmp_path / "searched.json"
    path.write_text(json.dumps({"name": "darts-search", **BASELINE.to_dict(), "source": "a search"}))
    assert build_model("autoreid", genotype=str(path), channels=8).genotype == BASELINE
    path.write_text(json.dumps({"normal": [["max_pool_3x3", 0]]}))
    with pytest.raises(ConfigError, match="expected"):
        build_model("autoreid", genotype=str(path), channels=8)
    with pytest.raises(MtmcError, match="genotype file not found"):
        build_model("autoreid", genotype=str(tmp_path / "absent.json"))
    with pytest.raises(ConfigError, match="eval_feature"):
        build_model("autoreid", eval_feature="h")
