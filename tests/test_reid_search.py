"""Architecture search: straight-through top-k, supernets, DARTS derivation, splits, end-to-end runs, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from reid_train_helpers import make_market
from torch import nn

from mtmc.cli.main import main
from mtmc.config import load_config
from reid.data import Record
from reid.genotypes import CDS_CANDIDATES, load_genotype
from reid.models.autoreid import Genotype as CellGenotype
from reid.models.blocks import DownSample, StdStem
from reid.models.cdnet import CDBlock
from reid.models.darts_ops import REID_PRIMITIVES
from reid.models.necks import FBLNeck
from reid.registry import build_model
from reid.search import (
    DartsSupernet,
    MBlock,
    Searcher,
    SearchRecipe,
    TopKSupernet,
    build_supernet,
    derive_edges,
    search,
    space_candidates,
    split_train_val,
    straight_through_topk,
)
from reid.train_config import TrainRecipe

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "reid" / "search_tiny_synth.yaml"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Path:
    return make_market(tmp_path_factory.mktemp("search") / "market", train_ids=6, per_id=6)


def tiny_recipe(root: Path, *overrides: str) -> SearchRecipe:
    return load_config([TINY], [f"data.root={root}", *overrides], cls=SearchRecipe)


# ----------------------------------------------------------------------------------------------
# straight-through top-k
# ----------------------------------------------------------------------------------------------


def test_straight_through_forward_is_exact_binary_mask():
    torch.manual_seed(0)
    alpha = torch.randn(6, 12, requires_grad=True)
    weights, idx = straight_through_topk(alpha, 2)
    mask = torch.zeros(6, 12).scatter_(1, idx, 1.0)
    assert torch.equal(weights.detach(), mask)  # exactly 0 / 1, not merely close
    assert torch.equal(idx, torch.softmax(alpha, 1).topk(2, dim=1).indices)
    assert weights.requires_grad
    with pytest.raises(ValueError):
        straight_through_topk(alpha, 13)


@pytest.mark.parametrize("quirk", [False, True])
def test_topk_gradients_paper_and_reference_quirk(quirk):
    torch.manual_seed(1)
    block = MBlock(8, 16, space_candidates("cs"), quirk=quirk)
    alpha = (1e-3 * torch.randn(6)).requires_grad_()
    weights, idx = straight_through_topk(alpha, 2)
    weights.retain_grad()
    x = torch.randn(2, 8, 6, 4)
    out = block(x, weights, idx)
    expected = sum(block.blocks[j](x) for j in idx.tolist())  # forward: the plain sum of the top-k
    torch.testing.assert_close(out, expected)
    coef = torch.randn_like(out)
    (out * coef).sum().backward()
    g = weights.grad
    selected = torch.zeros(6, dtype=torch.bool)
    selected[idx] = True
    assert (g[selected] != 0).all()
    assert (alpha.grad[selected] != 0).all()
    if quirk:  # reference code: each non-selected weight gets sum(dL/dF)
        torch.testing.assert_close(g[~selected], coef.sum().expand(4))
    else:  # paper eq.8: only the top-k branches carry a gradient onto p
        assert (g[~selected] == 0).all()
    # then through the softmax Jacobian: dL/dalpha_m = p_m (g_m - sum_i p_i g_i)
    p = torch.softmax(alpha.detach(), 0)
    torch.testing.assert_close(alpha.grad, p * (g - (p * g).sum()))


def test_only_topk_branches_run():
    torch.manual_seed(2)
    net = TopKSupernet("cds", num_classes=5, top_k=3, planes=(8, 16, 24, 32), fc_dim=16)
    calls: dict[tuple[int, int], int] = {}
    mblocks = [m for m in net.cells if isinstance(m, MBlock)]
    for i, m in enumerate(mblocks):
        for j, b in enumerate(m.blocks):
            b.register_forward_hook(lambda *_, key=(i, j): calls.__setitem__(key, calls.get(key, 0) + 1))
    with torch.no_grad():
        net.alpha.normal_()
    out = net(torch.randn(4, 3, 64, 32))
    _, idx = straight_through_topk(net.alpha, 3)
    assert sorted(calls) == sorted((i, j) for i in range(6) for j in idx[i].tolist())
    assert set(calls.values()) == {1}
    # training contract: [[logits, f]]; eval: f
    assert len(out) == 1 and out[0][0].shape == (4, 5) and out[0][1].shape == (4, 32)
    assert net.eval()(torch.randn(2, 3, 64, 32)).shape == (2, 32)
    assert all(p is not net.alpha for p in net.weight_parameters())
    assert net.alpha.shape == (6, 12) and torch.all(TopKSupernet("cs", planes=(8, 16, 24, 32)).alpha == 1e-3)


# ----------------------------------------------------------------------------------------------
# DARTS
# ----------------------------------------------------------------------------------------------


def test_darts_supernet_structure():
    net = DartsSupernet(num_classes=4, channels=4, layers=(1, 1, 1, 1), embedding_dim=8)
    assert net.alpha_normal.shape == (14, 7) and net.alpha_reduce.shape == (14, 7)
    cells = net.backbone.cells
    assert [c.reduction for c in cells] == [False, True, True, True]
    assert all(len(c.edges) == 14 and all(len(e.ops) == 7 for e in c.edges) for c in cells)
    bns = [m for c in cells for m in c.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(bn.affine for bn in bns)  # search-phase BN
    out = net(torch.randn(4, 3, 64, 32))
    assert out[0][0].shape == (4, 4) and out[0][1].shape == (4, net.embedding_dim)
    out[0][0].sum().backward()
    assert net.alpha_normal.grad.abs().sum() > 0 and net.alpha_reduce.grad.abs().sum() > 0


def test_derive_edges_keeps_top2_inputs_and_ignores_none():
    prims = REID_PRIMITIVES
    w = torch.full((14, 7), 0.1)
    none, sep, pool, part = prims.index("none"), prims.index("sep_conv_3x3"), prims.index("max_pool_3x3"), \
        prims.index("part_aware")
    w[:, none] = 0.9  # 'none' never wins
    w[0, sep] = 0.5  # node 0: inputs 0 and 1
    w[1, part] = 0.4
    w[2, pool] = 0.3  # node 1 (rows 2-4): inputs 0 and 2
    w[4, sep] = 0.6
    geno = derive_edges(w, prims)
    assert geno[:4] == (("sep_conv_3x3", 0), ("part_aware", 1), ("max_pool_3x3", 0), ("sep_conv_3x3", 2))
    assert len(geno) == 8 and all(op != "none" for op, _ in geno)
    assert all(0 <= idx < 2 + k // 2 for k, (_, idx) in enumerate(geno))


# ----------------------------------------------------------------------------------------------
# splits
# ----------------------------------------------------------------------------------------------


def _records(counts: dict[int, int]) -> list[Record]:
    return [Record(Path(f"{pid}_{i}.jpg"), pid, 0) for pid, n in counts.items() for i in range(n)]


def test_splits():
    recs = _records({0: 9, 1: 5, 2: 2, 3: 1, 4: 8})
    train, val = split_train_val(recs, "disjoint_k", k=4)
    assert not {r.path for r in train} & {r.path for r in val}
    assert sorted(train + val, key=lambda r: str(r.path)) == sorted(recs, key=lambda r: str(r.path))
    assert [sum(r.pid == p for r in val) for p in range(5)] == [4, 2, 1, 0, 4]
    train, val = split_train_val(recs, "half", seed=3)
    assert [sum(r.pid == p for r in val) for p in range(5)] == [4, 2, 1, 0, 4]
    train, val = split_train_val(recs, "cdnet", k=4)
    assert [sum(r.pid == p for r in val) for p in range(5)] == [4] * 5  # n mod 4 moved, topped up to 4
    assert [sum(r.pid == p for r in train) for p in range(5)] == [8, 4, 4, 4, 4]


SEARCH_RECIPES = sorted((REPO / "configs" / "reid").glob("search_*.yaml"))


@pytest.mark.parametrize("path", SEARCH_RECIPES, ids=lambda p: p.name)
def test_search_recipes_load_and_build(path):
    """Every shipped search recipe parses (unknown keys fail) and builds its supernet."""
    r = load_config([path], ["data.root=/elsewhere"], cls=SearchRecipe)
    assert r.data.root == "/elsewhere"
    assert isinstance(build_supernet(r, num_classes=4), TopKSupernet | DartsSupernet)


# ----------------------------------------------------------------------------------------------
# end to end
# ----------------------------------------------------------------------------------------------


def _hand_built_cdnet(layers) -> nn.Module:
    g = layers
    return nn.ModuleList([
        StdStem(64), CDBlock(64, 256, *g[0]), CDBlock(256, 256, *g[1]), DownSample(256),
        CDBlock(256, 384, *g[2]), CDBlock(384, 384, *g[3]), DownSample(384),
        CDBlock(384, 512, *g[4]), CDBlock(512, 512, *g[5]), FBLNeck(0, 512, 384),
    ])


def test_cds_search_end_to_end(market, tmp_path):
    out = tmp_path / "cds"
    geno_path = search(tiny_recipe(market), out, log=lambda _: None)
    assert geno_path == out / "genotype.json"
    data = json.loads(geno_path.read_text())
    assert data["space"] == "cds" and len(data["layers"]) == 6
    ckpt = torch.load(out / "checkpoint.pth", weights_only=False)
    best = ckpt["model"]["alpha"].argmax(1).tolist()
    assert [tuple(layer) for layer in data["layers"]] == [CDS_CANDIDATES[j] for j in best]
    history = json.loads((out / "alpha_history.json").read_text())
    assert len(history) == 1 and len(history[0]["alpha"]) == 6 and len(history[0]["alpha"][0]) == 12
    assert (out / "search_log.csv").read_text().count("\n") == 2
    model = build_model("cdnet_genotype", genotype=str(geno_path))
    hand = _hand_built_cdnet(load_genotype(geno_path).layers)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in hand.parameters())
    # the recipe layer makes `mtmc reid train` build the searched network
    base = REPO / "configs" / "reid" / "cdnet_market.yaml"
    recipe = load_config([base, out / "train_model.yaml"], cls=TrainRecipe)
    assert recipe.model.name == "cdnet_genotype"
    trained = build_model(recipe.model.name, num_classes=0, **recipe.model.params)
    assert trained.genotype.layers == model.genotype.layers


def test_search_resume_matches_uninterrupted_run(market, tmp_path):
    recipe = tiny_recipe(market, "method=topk-cs", "epochs=2", "max_steps_per_epoch=2")
    search(recipe, tmp_path / "full", log=lambda _: None)

    class Stop(Exception):
        pass

    interrupted = Searcher(recipe, tmp_path / "resumed", log=lambda _: None)
    original = interrupted.train_epoch

    def stop_after_first(epoch):
        if epoch == 1:
            raise Stop
        return original(epoch)

    interrupted.train_epoch = stop_after_first
    with pytest.raises(Stop):
        interrupted.fit()
    Searcher(recipe, tmp_path / "resumed", log=lambda _: None).fit(resume=True)
    full = torch.load(tmp_path / "full" / "checkpoint.pth", weights_only=False)
    resumed = torch.load(tmp_path / "resumed" / "checkpoint.pth", weights_only=False)
    assert resumed["epoch"] == 2 and len(resumed["history"]) == 2
    assert torch.equal(full["model"]["alpha"], resumed["model"]["alpha"])
    assert full["history"][1]["loss_w"] == resumed["history"][1]["loss_w"]


def test_darts_search_end_to_end(market, tmp_path):
    out = tmp_path / "darts"
    geno_path = search(tiny_recipe(market, "method=darts-autoreid"), out, log=lambda _: None)
    data = json.loads(geno_path.read_text())
    geno = CellGenotype.from_dict(data)
    assert len(geno.normal) == 8 and len(geno.reduce) == 8
    assert all(op != "none" for op, _ in geno.normal + geno.reduce)
    model = build_model("autoreid", num_classes=0, genotype=data, channels=8, layers=(1, 1, 1, 1)).eval()
    with torch.no_grad():
        emb = model(torch.randn(2, 3, 64, 32))
    assert emb.shape == (2, model.embedding_dim)
    base = REPO / "configs" / "reid" / "autoreid_market.yaml"
    recipe = load_config([base, out / "train_model.yaml"], cls=TrainRecipe)
    params = dict(recipe.model.params, channels=8, layers=(1, 1, 1, 1))
    assert build_model(recipe.model.name, num_classes=3, **params).genotype == geno


def test_cli_search_smoke(market, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["reid", "search", "-c", str(TINY), "-o", str(out), f"data.root={market}", "method=topk-cs"]) == 0
    text = capsys.readouterr().out
    assert f"genotype: {out / 'genotype.json'}" in text
    assert load_genotype(out / "genotype.json").space == "cs"
    # resuming a finished run does no more epochs and keeps the genotype
    assert main(["reid", "search", "-c", str(TINY), "-o", str(out), f"data.root={market}", "method=topk-cs",
                 "--resume"]) == 0
    assert main(["reid", "search", "-c", str(TINY), "-o", str(out), "method=nas"]) == 2
    assert "method" in capsys.readouterr().err
    assert main(["reid", "search", "-c", str(TINY), "-o", str(tmp_path / "x"), f"data.root={market}",
                 "--resume"]) == 2


@pytest.mark.parametrize(("space", "expected"), [("cds", 19.5e6), ("cs", 7.8e6)])
def test_supernet_sizes_match_spec(space, expected):
    net = TopKSupernet(space, num_classes=751)  # spec §2.5: CDS ≈ 19.5M, CS ≈ 7.8M (751 classes)
    assert sum(p.numel() for p in net.weight_parameters()) == pytest.approx(expected, rel=5e-3)


@pytest.mark.parametrize("method,params", [
    ("topk-cds", ["model.params.planes=[8,16,24,32]"]),
    ("darts-autoreid", ["model.params.channels=4", "model.params.layers=[1,1,1,1]"]),
])
def test_search_genotype_train_export_track_chain(market, tmp_path, method, params):
    """What a user types: search -> genotype.json -> train with its recipe layer -> ONNX -> mtmc track."""
    from conftest import SIMULATED, synth_small_scene

    search_dir, train_dir, onnx_path = tmp_path / "search", tmp_path / "train", tmp_path / "searched.onnx"
    assert main(["reid", "search", "-c", str(TINY), "-o", str(search_dir), f"data.root={market}",
                 f"method={method}"]) == 0
    layer = search_dir / "train_model.yaml"
    assert str((search_dir / "genotype.json").resolve()) in layer.read_text()  # the recipe points at the JSON
    assert main(["reid", "train", "-c", str(REPO / "configs" / "reid" / "tiny_synth.yaml"), "-c", str(layer),
                 "-o", str(train_dir), f"data.root={market}", "epochs=1", "data.input_size=[32,16]",
                 *params]) == 0
    name = "autoreid" if method == "darts-autoreid" else "cdnet_genotype"
    assert main(["reid", "export", "--model", name, "--weights", str(train_dir / "model.pth"),
                 "--out", str(onnx_path), "--input-size", "32", "16"]) == 0
    scene = synth_small_scene(tmp_path / "scene", duration=2, people=2, seed=3)
    run = tmp_path / "run"
    assert main(["track", str(scene), *SIMULATED, "-o", str(run), "--quiet", "tracker.name=bytetrack",
                 f"reid.model={name}", "reid.backend=onnx", f"reid.weights={onnx_path}",
                 "reid.input_size=[32,16]"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["embedded_crops"] > 0
