"""CDNet family and OSNet: parameter counts, MACs, output shapes, necks, genotypes (spec §2, §7)."""

from __future__ import annotations

import json

import pytest
import torch

from mtmc.errors import ConfigError
from reid import build_model, model_info
from reid.genotypes import CDS_CANDIDATES, load_genotype, save_genotype
from reid.models import build_from_genotype, count_inference_params
from reid.models.blocks import ChannelGate, Lite3x3

SMALL = (2, 3, 64, 32)  # shapes only: 1/16 of the 256x128 input keeps the tests fast (fmap2 is 4x2)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def within(value: float, target: float, tol: float = 0.005) -> bool:
    return abs(value - target) <= tol * target


@pytest.mark.parametrize(
    ("name", "target", "dim"),
    [
        ("cdnet", 1_796_600, 768),
        ("cnet", 1_436_240, 768),
        ("cdnet_v35", 1_608_344, 768),
        ("cdnet_std", 1_750_976, 768),
        ("osnet_x1_0", 2_169_508, 512),
    ],
)
def test_inference_param_counts(name, target, dim):
    model = build_model(name, num_classes=751)
    assert within(count_inference_params(model), target), count_inference_params(model)
    assert model.inference_param_count() == count_inference_params(model)
    assert count_inference_params(build_model(name)) == count_inference_params(model)
    assert model.embedding_dim == dim


def test_cdnet_train_total_and_block_formulas():
    # fcs 396,288 + two 751-way classifiers 770,526 on top of the inference count (spec §2.4)
    assert sum(p.numel() for p in build_model("cdnet", num_classes=751).parameters()) == 2_963_414
    c = 64
    assert sum(p.numel() for p in Lite3x3(c).parameters()) == c * c + 9 * c + 2 * c
    assert sum(p.numel() for p in ChannelGate(c, 4).parameters()) == 2 * c * (c // 4) + c // 4 + c


@pytest.mark.parametrize(("name", "target"), [("cdnet", 955e6), ("cnet", 821e6), ("osnet_x1_0", 978.9e6)])
def test_macs(name, target):
    from reid.flops import count_macs

    macs = count_macs(build_model(name), model_info(name).input_size)
    assert within(macs, target), macs


@pytest.mark.parametrize("name", ["cdnet", "cnet", "osnet_x0_25"])
def test_train_and_eval_outputs(name):
    model = build_model(name, num_classes=10)
    x = torch.randn(*SMALL)
    model.train()
    out = model(x)
    heads = 2 if name != "osnet_x0_25" else 1
    assert len(out) == heads
    for logits, feat in out:
        assert logits.shape == (2, 10)
        assert feat.ndim == 2 and feat.shape[0] == 2
    model.eval()
    with torch.no_grad():
        emb = model(x)
    assert emb.shape == (2, model.embedding_dim)
    if heads == 2:  # cat(global 512, local 2 x 128); the training features are its two halves
        assert [f.shape[1] for _, f in out] == [512, 256]


def test_fblneck_drops_fc_and_classifiers_at_inference():
    model = build_model("cdnet", num_classes=20)
    train_only = [n for n, _ in model.named_modules() if n.endswith(("fcs", "classifier"))]
    assert len(train_only) == 4  # global fcs + classifier, local fcs + classifier
    called = []
    for name, module in model.named_modules():
        if name in train_only:
            module.register_forward_hook(lambda m, i, o, name=name: called.append(name))
    model.eval()
    with torch.no_grad():
        model(torch.randn(*SMALL))
    assert called == []
    model.train()
    model(torch.randn(*SMALL))
    assert sorted(set(called)) == sorted(train_only)

    bare = build_model("cdnet")
    assert not [n for n, _ in bare.named_parameters() if "fcs" in n or "classifier" in n]
    assert sum(p.numel() for p in bare.parameters()) == count_inference_params(bare)
    assert "neck.local_neck.squeeze.weight" in dict(bare.named_parameters())  # the squeeze stays
    bare.train()
    assert bare(torch.randn(*SMALL)).shape == (2, 768)  # no classifier: embeddings even in train mode


@pytest.mark.parametrize(("partitions", "dim"), [(0, 512), (1, 640), (2, 768), (4, 1024)])
def test_partitions_set_embedding_dim(partitions, dim):
    model = build_from_genotype("cdnet", partitions=partitions).eval()
    assert model.embedding_dim == dim
    with torch.no_grad():
        assert model(torch.randn(*SMALL)).shape == (2, dim)


@pytest.mark.parametrize("neck", ["blneck", "fneck", "bnneck"])
def test_other_necks(neck):
    model = build_from_genotype("cdnet", num_classes=5, neck=neck)
    [[logits, feat]] = model(torch.randn(*SMALL))
    assert logits.shape == (2, 5) and feat.shape[1] == model.embedding_dim
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(*SMALL)).shape == (2, model.embedding_dim)


def _signature(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_genotype_json_builds_the_named_network(tmp_path):
    path = tmp_path / "geno.json"
    save_genotype(path, load_genotype("cdnet"))
    data = json.loads(path.read_text())
    assert data["space"] == "cds" and data["layers"][1] == [3, 7, 2]
    searched = build_from_genotype(path, num_classes=751)
    named = build_model("cdnet", num_classes=751)
    assert _signature(searched) == _signature(named)
    via_registry = build_model("cdnet_genotype", genotype={"space": "cds", "layers": data["layers"]})
    assert _signature(via_registry) == _signature(build_model("cdnet"))
    # a CS genotype (pairs) is a CDS genotype with r = 1 everywhere
    cnet = load_genotype("cnet")
    assert cnet.space == "cs" and cnet.num_blocks == 6 and load_genotype("cdnet").num_blocks == 9
    assert len(CDS_CANDIDATES) == 12


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"space": "xx", "layers": []}, "genotype.space"),
        ({"space": "cds", "layers": [[3, 5, 1]] * 5}, "genotype.layers"),
        ({"space": "cds", "layers": [[3, 5, 1]] * 5 + [[3, 4, 1]]}, "genotype.layers[5]"),
        ({"space": "cs", "layers": [[3, 5, 1]] * 6}, "genotype.layers[0]"),
        ({"space": "cds", "layers": [[3, 5, 0]] * 6}, "genotype.layers[0]"),
    ],
)
def test_bad_genotypes_are_refused(data, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        build_from_genotype(data)


def test_bad_genotype_file(tmp_path):
    from mtmc.errors import DataError

    bad = tmp_path / "g.json"
    bad.write_text('{"space": "cds",\n "layers": [}')
    with pytest.raises(DataError, match="g.json:2"):
        load_genotype(bad)
    with pytest.raises(ConfigError, match="unknown genotype"):
        load_genotype("no_such_genotype")


def test_osnet_uses_torchreid_key_names():
    keys = set(build_model("osnet_x0_25", num_classes=3).state_dict())
    for key in [
        "conv1.conv.weight",
        "conv2.0.conv1.conv.weight",
        "conv2.0.conv2a.conv1.weight",
        "conv2.0.conv2d.3.bn.running_mean",
        "conv2.0.gate.fc1.bias",
        "conv2.0.downsample.bn.weight",
        "conv2.2.0.conv.weight",
        "conv5.conv.weight",
        "fc.0.weight",
        "fc.1.running_var",
        "classifier.weight",
    ]:
        assert key in keys, key
