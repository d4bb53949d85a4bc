"""Knowledge distillation (``loss.distill``): the terms against hand-computed values, the teacher's
preprocessing, short training runs with a torch and an ONNX teacher, bad configs."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from reid_train_helpers import TINY, TinyReid, make_market, register_tiny, tiny_recipe_overrides  # noqa: E402

from mtmc.config import load_config  # noqa: E402
from mtmc.errors import ConfigError, DataError  # noqa: E402
from reid.distill import DistillLoss, Teacher, cosine_distill, relation_distill  # noqa: E402
from reid.embedder import _Preprocessor  # noqa: E402
from reid.engine import Trainer  # noqa: E402
from reid.registry import ModelInfo  # noqa: E402
from reid.train_config import TrainRecipe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OSNET = ROOT.parent / "shared" / "weights" / "osnet_x0_25_msmt17" / "osnet_x0_25_msmt17.onnx"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Path:
    register_tiny()
    return make_market(tmp_path_factory.mktemp("distill") / "market")


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory) -> Path:
    """A TinyReid weights file (48-d, the student's size: no projection)."""
    from reid.weights import save_weights

    register_tiny()
    torch.manual_seed(7)
    path = tmp_path_factory.mktemp("teacher") / "teacher.pth"
    save_weights(path, TinyReid(0), arch=TINY)
    return path


def recipe(root: Path, **extra) -> TrainRecipe:
    return load_config(None, tiny_recipe_overrides(root, **{"epochs": 1, **extra}), cls=TrainRecipe)


# --------------------------------------------------------------------------------------------
# the terms, by hand


def test_cosine_distill_hand_value():
    # row 0: orthogonal, 1 - 0 = 1; row 1: cos((3,4), (4,3)) = 24/25, 1 - 0.96 = 0.04; mean 0.52
    s = torch.tensor([[1.0, 0.0], [3.0, 4.0]])
    t = torch.tensor([[0.0, 2.0], [4.0, 3.0]])
    assert cosine_distill(s, t).item() == pytest.approx(0.52, abs=1e-6)


def test_relation_distill_hand_value():
    # student pairs: cos(s0,s1) = 0, cos(s0,s2) = cos(s1,s2) = 1/sqrt2
    # teacher (3-d, other dimension): t0 = t1 -> 1, t2 orthogonal to both -> 0, 0
    # squared differences 1, 1/2, 1/2 (each pair twice in the ordered mean): 2/3
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    t = torch.tensor([[1.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    assert relation_distill(s, t).item() == pytest.approx(2.0 / 3.0, abs=1e-6)
    assert relation_distill(s[:1], t[:1]).item() == 0.0  # one image: no pairs


class _FixedTeacher:
    def __init__(self, out: torch.Tensor):
        self.out, self.dim = out, out.shape[1]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.out


def test_distill_loss_weights_and_sums_the_terms_on_normalised_branches():
    # two branches (1-d and 1-d after normalisation: +-1), teacher 2-d: equal dims, no projection
    f_g = torch.tensor([[2.0], [-3.0]])
    f_l = torch.tensor([[5.0], [4.0]])
    outputs = [(torch.zeros(2, 3), f_g), (torch.zeros(2, 3), f_l)]  # student embedding [[1,1],[-1,1]]
    teacher = _FixedTeacher(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    loss = DistillLoss(teacher, "both", 0.5, student_dim=2)
    assert loss.projection is None
    total, parts = loss(outputs, torch.zeros(2, 3, 4, 4))
    cos = (1 - 1 / math.sqrt(2)) * 2 / 2  # both rows at 45 degrees
    rel = (0.0 - 0.0) ** 2  # student rows orthogonal, teacher rows orthogonal
    assert parts["distill_cos"] == pytest.approx(cos, abs=1e-6)
    assert parts["distill_rel"] == pytest.approx(rel, abs=1e-6)
    assert total.item() == pytest.approx(0.5 * (cos + rel), abs=1e-6)
    with pytest.raises(ValueError, match="embedding_dim"):
        DistillLoss(teacher, "cosine", 1.0, student_dim=3)(outputs, torch.zeros(2, 3, 4, 4))


def test_projection_only_for_cosine_with_other_dims():
    teacher = _FixedTeacher(torch.zeros(2, 5))
    assert DistillLoss(teacher, "cosine", 1.0, 3).projection.weight.shape == (5, 3)
    assert DistillLoss(teacher, "relation", 1.0, 3).projection is None
    assert DistillLoss(teacher, "cosine", 1.0, 5).projection is None
    with pytest.raises(ConfigError, match="loss.distill.kind"):
        DistillLoss(teacher, "l2", 1.0, 3)


def test_teacher_sees_the_batch_as_its_own_preprocessing_would():
    """Student RGB / ImageNet normalisation -> a BGR teacher with other mean/std, same size."""

    class Recorder:
        dim = 1

        def __init__(self):
            self.preprocess = _Preprocessor((6, 4), rgb=False, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))

        def embed_preprocessed(self, batch: np.ndarray) -> np.ndarray:
            self.batch = batch
            return np.zeros((len(batch), 1), np.float32)

    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (6, 4, 3), dtype=np.uint8)
    student = ModelInfo("s", lambda **k: None, (6, 4))
    rgb01 = torch.from_numpy(bgr[..., ::-1].copy()).permute(2, 0, 1).float() / 255.0
    normalised = (rgb01 - torch.tensor(student.mean).view(3, 1, 1)) / torch.tensor(student.std).view(3, 1, 1)
    recorder = Recorder()
    Teacher(recorder, student)(normalised.unsqueeze(0))
    np.testing.assert_allclose(recorder.batch, recorder.preprocess([bgr]), atol=1e-4)
    Teacher(recorder, ModelInfo("s", lambda **k: None, (3, 2)))(torch.zeros(2, 3, 3, 2))
    assert recorder.batch.shape == (2, 3, 6, 4)  # resized to the teacher's input


# --------------------------------------------------------------------------------------------
# training runs


def test_without_distill_the_batches_and_loss_are_those_of_a_plain_run(market, tiny_teacher):
    plain = Trainer(recipe(market), "unused", log=lambda s: None)
    a, pa, _ = next(iter(plain.loader))  # each Trainer seeds the global RNG: draw before building the next
    distilled = Trainer(recipe(market, **{"loss.distill.teacher": TINY, "loss.distill.weights": str(tiny_teacher)}),
                        "unused", log=lambda s: None)
    b, pb, _ = next(iter(distilled.loader))
    assert plain.distill is None and distilled.distill is not None
    assert torch.equal(a, b) and torch.equal(pa, pb)  # the teacher leaves the augmentation stream alone
    for m in (plain.model, distilled.model):
        m.train()
    base, parts = plain.criterion(plain.model(a), pa)
    same, _ = distilled.criterion(distilled.model(b), pb)
    assert torch.equal(base, same) and "distill_cos" not in parts
    term, extra = distilled.distill(distilled.model(b), b)
    assert term.item() == pytest.approx(extra["distill_cos"]) and extra["distill_cos"] > 0


def test_training_with_a_torch_teacher_logs_the_terms(market, tiny_teacher, tmp_path):
    overrides = {"loss.distill.teacher": TINY, "loss.distill.weights": str(tiny_teacher),
                 "loss.distill.kind": "both", "loss.distill.weight": 2.0}
    run = Trainer(recipe(market, **overrides), tmp_path / "run", log=lambda s: None)
    history = run.fit()
    row = history[0]
    assert row["distill_cos"] > 0 and row["distill_rel"] > 0
    assert row["loss"] == pytest.approx(row["id"] + row["triplet"] + 2.0 * (row["distill_cos"] + row["distill_rel"]),
                                        rel=1e-4)
    assert all(not p.requires_grad or p.grad is None for p in run.distill.teacher.embedder.model.parameters())


def test_training_with_an_onnx_teacher_of_another_size_and_dim(market, tmp_path):
    from reid.checkpoint import load_checkpoint
    from reid.export import export_onnx

    torch.manual_seed(3)
    info = ModelInfo("tiny_bgr", lambda **k: None, (40, 20), rgb=False)
    path = export_onnx(TinyReid(0, width=4), tmp_path / "teacher.onnx", info)  # 24-d teacher, 48-d student
    run = Trainer(recipe(market, **{"loss.distill.teacher": str(path)}), tmp_path / "run", log=lambda s: None)
    assert run.distill.teacher.size == (40, 20) and run.distill.teacher.swap
    assert run.distill.projection.weight.shape == (24, 48)
    before = run.distill.projection.weight.detach().clone()
    history = run.fit()
    assert history[0]["distill_cos"] > 0
    assert not torch.equal(before, run.distill.projection.weight)  # the projection trains with the student
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.pth")["distill"]["projection.weight"]
    assert torch.equal(saved, run.distill.projection.weight.detach().cpu())


def test_resume_with_distillation_is_exact(market, tmp_path):
    from reid.export import export_onnx

    torch.manual_seed(4)
    path = export_onnx(TinyReid(0, width=4), tmp_path / "t.onnx", ModelInfo("t", lambda **k: None, (32, 16)))
    extra = {"loss.distill.teacher": str(path), "loss.distill.kind": "both", "epochs": 2}
    straight = Trainer(recipe(market, **extra), tmp_path / "straight", log=lambda s: None)
    straight.fit()
    Trainer(recipe(market, **{**extra, "epochs": 1}), tmp_path / "split", log=lambda s: None).fit()
    resumed = Trainer(recipe(market, **extra), tmp_path / "split", log=lambda s: None)
    resumed.fit(resume=True)
    assert torch.equal(straight.distill.projection.weight, resumed.distill.projection.weight)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    with pytest.raises(DataError, match="other parameters than this recipe trains"):  # projection vs none
        Trainer(recipe(market, epochs=3), tmp_path / "split", log=lambda s: None).fit(resume=True)


@pytest.mark.slow
def test_ddp_keeps_the_projection_in_sync(market, tmp_path):
    import os
    import re
    import subprocess

    from reid.export import export_onnx

    torch.manual_seed(5)
    path = export_onnx(TinyReid(0, width=4), tmp_path / "t.onnx", ModelInfo("t", lambda **k: None, (32, 16)))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests" / "reid_ddp_worker.py"), str(market), str(tmp_path / "ddp"), str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for what in ("checksum", "projection"):
        sums = dict(re.findall(rf"rank (\d+) {what} (-?\d+\.\d{{6}})", proc.stdout))
        assert len(sums) == 2 and len(set(sums.values())) == 1, (what, proc.stdout)


@pytest.mark.skipif(not OSNET.is_file(), reason="../shared/weights OSNet ONNX not present")
def test_shared_osnet_teacher_recipe(market):
    r = load_config([ROOT / "configs" / "reid" / "cdnet_synth.yaml",
                     ROOT / "configs" / "reid" / "distill_osnet_msmt17.yaml"],
                    [f"data.root={market}", f"loss.distill.teacher={OSNET}"], cls=TrainRecipe)
    from reid.distill import build_teacher

    teacher = build_teacher(r.loss.distill, torch.device("cpu"), 4)
    assert teacher.dim == 512 and (teacher.preprocess.height, teacher.preprocess.width) == (256, 128)


# --------------------------------------------------------------------------------------------
# bad configs


def test_bad_distill_configs(market, tiny_teacher, tmp_path):
    with pytest.raises(ConfigError, match=r"loss\.distill\.kind: expected one of 'cosine', 'relation', 'both'"):
        recipe(market, **{"loss.distill.teacher": TINY, "loss.distill.kind": "l2"})
    with pytest.raises(ConfigError, match=r"loss\.distill\.teacher: expected an \.onnx file"):
        recipe(market, **{"loss.distill.weight": 1.0})
    with pytest.raises(ConfigError, match=r"loss\.distill\.weight: expected > 0"):
        recipe(market, **{"loss.distill.teacher": TINY, "loss.distill.weight": 0})
    cases = {
        str(tmp_path / "missing.onnx"): r"missing\.onnx: loss\.distill\.teacher: file not found; expected an \.onnx",
        "no_such_model": r"loss\.distill\.teacher: unknown model 'no_such_model'; expected an \.onnx file",
    }
    for teacher, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            Trainer(recipe(market, **{"loss.distill.teacher": teacher}), tmp_path / "x", log=lambda s: None)
    with pytest.raises(ConfigError, match=r"loss\.distill\.weights: teacher 'tiny_test_reid' needs its weights"):
        Trainer(recipe(market, **{"loss.distill.teacher": TINY}), tmp_path / "x", log=lambda s: None)
    with pytest.raises(ConfigError, match=r"gone\.pth: loss\.distill\.weights: file not found"):
        Trainer(recipe(market, **{"loss.distill.teacher": TINY, "loss.distill.weights": str(tmp_path / "gone.pth")}),
                tmp_path / "x", log=lambda s: None)
