"""ReID training engine: exact resume, mid-epoch kill, SWAG stage, DDP (gloo), CLI, recipes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from reid_train_helpers import TINY, make_market, register_tiny, tiny_recipe_overrides  # noqa: E402

from mtmc.cli.main import main  # noqa: E402
from mtmc.config import load_config  # noqa: E402
from mtmc.errors import ConfigError, DataError  # noqa: E402
from reid.checkpoint import load_checkpoint  # noqa: E402
from reid.engine import Trainer  # noqa: E402
from reid.train_config import TrainRecipe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Path:
    register_tiny()
    return make_market(tmp_path_factory.mktemp("reid") / "market")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def recipe(root: Path, **extra) -> TrainRecipe:
    return load_config(None, tiny_recipe_overrides(root, **extra), cls=TrainRecipe)


class Kill(Exception):
    pass


def kill_at(epoch: int, step: int):
    def hook(e: int, s: int) -> None:
        if (e, s) == (epoch, step):
            raise Kill

    return hook


def assert_same_state(a: Trainer, b: Trainer) -> None:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    oa, ob = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    for key in oa:
        assert torch.equal(oa[key]["momentum_buffer"], ob[key]["momentum_buffer"])
    assert a.sampler.generator.get_state().equal(b.sampler.generator.get_state())


def test_resume_is_bit_identical(market, tmp_path):
    straight = Trainer(recipe(market), tmp_path / "straight", log=lambda s: None)
    straight.fit()
    # "kill" at the first step of epoch 2, i.e. right after epoch 1's checkpoint
    first = Trainer(recipe(market), tmp_path / "stopped", batch_hook=kill_at(1, 0), log=lambda s: None)
    with pytest.raises(Kill):
        first.fit()
    assert load_checkpoint(tmp_path / "stopped" / "checkpoint.pth")["epoch"] == 1
    resumed = Trainer(recipe(market), tmp_path / "stopped", log=lambda s: None)
    history = resumed.fit(resume=True)
    assert [row["epoch"] for row in history] == [1, 2]
    assert_same_state(straight, resumed)
    assert history[-1]["loss"] == straight.history[-1]["loss"]
    # mid-epoch kill: the partial epoch is lost and redone exactly
    mid = Trainer(recipe(market), tmp_path / "mid", batch_hook=kill_at(1, 2), log=lambda s: None)
    with pytest.raises(Kill):
        mid.fit()
    again = Trainer(recipe(market), tmp_path / "mid", log=lambda s: None)
    again.fit(resume=True)
    assert_same_state(straight, again)
    # outputs
    out = tmp_path / "straight"
    for name in ("checkpoint.pth", "model.pth", "metrics.csv", "metrics.json", "config.yaml", "losses.png",
                 "eval.png", "cmc.png"):
        assert (out / name).is_file(), name
    header, *rows = (out / "metrics.csv").read_text().splitlines()
    assert header.startswith("epoch,loss,id,triplet") and "rank1" in header and "mAP" in header
    assert len(rows) == 2
    lrs = [row["lr"] for row in straight.history]
    assert lrs == pytest.approx([0.05, 0.005])  # step at epoch 1


def test_resume_without_checkpoint_is_an_error(market, tmp_path):
    with pytest.raises(DataError, match="no checkpoint"):
        Trainer(recipe(market), tmp_path / "none", log=lambda s: None).fit(resume=True)


def test_swag_stage(market, tmp_path):
    r = recipe(market, epochs=1, **{"swag.enabled": "true", "swag.cycles": 2, "swag.cycle_epochs": 1,
                                    "swag.inference": "bma", "swag.bma_samples": 2, "eval.every": 0})
    trainer = Trainer(r, tmp_path / "swag", log=lambda s: None)
    history = trainer.fit()
    assert len(history) == 3 and trainer.swag.n == 2
    assert [row.get("swag_n") for row in history] == [None, 1, 2]
    assert history[1]["lr"] == pytest.approx(3e-3) and history[2]["lr"] == pytest.approx(3e-3 * 0.7)
    assert (tmp_path / "swag" / "swa_model.pth").is_file()
    import json

    metrics = json.loads((tmp_path / "swag" / "swag_metrics.json").read_text())
    assert {"swa_mean", "swag_bma"} <= set(metrics) and 0 <= metrics["swag_bma"]["mAP"] <= 100
    swa = torch.load(tmp_path / "swag" / "swa_model.pth")["state_dict"]
    assert torch.allclose(swa["body.0.weight"], trainer.swag.mean["body.0.weight"])


@pytest.mark.slow  # three python processes importing torch: ~15-35 s on 2 busy cores
def test_ddp_two_processes_gloo(market, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests" / "reid_ddp_worker.py"), str(market), str(tmp_path / "ddp")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Two processes share one stdout: their lines may run together, so match the numbers, not lines.
    sums = dict(re.findall(r"rank (\d+) checksum (-?\d+\.\d{6})", proc.stdout))
    assert len(sums) == 2 and len(set(sums.values())) == 1, proc.stdout  # replicas stayed in sync
    state = load_checkpoint(tmp_path / "ddp" / "checkpoint.pth")
    assert state["epoch"] == 1 and len(state["rng"]) == 2  # every rank's RNG state is saved


def test_cli_train_and_eval(market, tmp_path, capsys, monkeypatch):
    import mtmc.cli.main as cli_main

    monkeypatch.setattr(cli_main, "VERBS", {"reid": "mtmc.cli.reid"})  # other verbs may not exist yet
    out = tmp_path / "cli"
    code = main(["reid", "train", "-c", str(ROOT / "configs" / "reid" / "tiny_synth.yaml"), "-o", str(out),
                 f"model.name={TINY}", f"data.root={market}", "epochs=1", "data.input_size=[32,16]"])
    assert code == 0
    text = capsys.readouterr().out
    assert "rank-1" in text and (out / "model.pth").is_file()
    png = tmp_path / "ranks.png"
    code = main(["reid", "eval", "--model", TINY, "--weights", str(out / "checkpoint.pth"), "--data", str(market),
                 "--workers", "0", "--save-ranks", str(png)])
    assert code == 0
    text = capsys.readouterr().out
    assert "rank-1" in text and "mAP" in text and png.stat().st_size > 1000
    # user errors: one line, exit 2
    assert main(["reid", "train", "-c", str(ROOT / "configs" / "reid" / "tiny_synth.yaml"), "-o", str(out),
                 f"model.name={TINY}", f"data.root={tmp_path / 'nowhere'}"]) == 2
    assert "dataset folder not found" in capsys.readouterr().err
    assert main(["reid", "eval", "--model", TINY, "--weights", str(tmp_path / "x.pth"), "--data",
                 str(market)]) == 2


TRAIN_RECIPES = sorted(p for p in (ROOT / "configs" / "reid").glob("*.yaml") if not p.name.startswith("search_"))


@pytest.mark.parametrize("path", TRAIN_RECIPES, ids=lambda p: p.name)
def test_recipes_load(path):
    from reid.registry import model_names

    r = load_config([path], ["data.root=/elsewhere"], cls=TrainRecipe)
    assert r.data.root == "/elsewhere"
    if r.model.name not in model_names():
        pytest.skip(f"model {r.model.name} not registered yet")


def test_recipe_values():
    r = load_config([ROOT / "configs" / "reid" / "compact_reid_1x_market.yaml"], ["swag.enabled=true"],
                    cls=TrainRecipe)
    assert (r.data.p, r.data.k, r.epochs, r.total_epochs) == (8, 4, 350, 350 + 15 * 35)
    from reid.engine import build_lr_schedule

    lr = build_lr_schedule(r)
    assert lr(0) == pytest.approx(3e-3) and lr(150) == pytest.approx(3e-3) and lr(226) == pytest.approx(3e-4)
    assert lr(350) == pytest.approx(3e-3) and lr(385) == pytest.approx(2.1e-3)
    with pytest.raises(ConfigError, match="optim.lr"):
        load_config([ROOT / "configs" / "reid" / "cdnet_market.yaml"], ["optim.lr=fast"], cls=TrainRecipe)


def test_resume_with_another_schedule_uses_it_from_the_next_epoch(market, tmp_path):
    """A continuation (e.g. a SWAG stage added to a finished run) trains at the new recipe's lr at once."""
    Trainer(recipe(market, epochs=1), tmp_path / "run", log=lambda s: None).fit()
    more = recipe(market, epochs=1, **{"swag.enabled": "true", "swag.cycles": 1, "swag.cycle_epochs": 1,
                                      "swag.lr_max": 0.002})
    history = Trainer(more, tmp_path / "run", log=lambda s: None).fit(resume=True)
    assert history[-1]["epoch"] == 2 and history[-1]["lr"] == pytest.approx(0.002)


def test_head_lr_factor_scales_only_the_classifiers_also_after_resume(market, tmp_path):
    run = Trainer(recipe(market, epochs=1, **{"optim.head_lr_factor": 10}), tmp_path / "run", log=lambda s: None)
    backbone, heads = run.optimizer.param_groups
    names = {id(p): n for n, p in run.model.named_parameters()}
    assert all("classifier" in names[id(p)] for p in heads["params"]) and len(heads["params"]) == 2
    assert heads["lr"] == pytest.approx(10 * backbone["lr"])
    run.fit()
    resumed = Trainer(recipe(market, epochs=2, **{"optim.head_lr_factor": 10}), tmp_path / "run", log=lambda s: None)
    resumed.load_state(load_checkpoint(tmp_path / "run" / "checkpoint.pth"))
    backbone, heads = resumed.optimizer.param_groups
    assert backbone["lr"] == pytest.approx(0.005) and heads["lr"] == pytest.approx(0.05)  # step at epoch 1
    with pytest.raises(ConfigError, match="head_lr_factor"):
        Trainer(recipe(market, **{"optim.head_lr_factor": 0}), tmp_path / "bad", log=lambda s: None)
