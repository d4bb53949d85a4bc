"""Starting a zoo model from an ONNX export (BatchNorm folded): exact import, BN calibration, training."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_path

sys.path.insert(0, str(Path(__file__).parent))
from reid_train_helpers import make_market, tiny_recipe_overrides  # noqa: E402

from mtmc.config import load_config  # noqa: E402
from mtmc.errors import DataError  # noqa: E402
from reid import build_model  # noqa: E402
from reid.engine import Trainer  # noqa: E402
from reid.onnx_import import _module_path, calibrate_unfolded_bn, import_onnx_weights  # noqa: E402
from reid.train_config import TrainRecipe  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
OSNET = ("weights", "osnet_x0_25_msmt17", "osnet_x0_25_msmt17.onnx")


def _onnx_features(path: Path, x: torch.Tensor) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


def test_module_path_from_exporter_names():
    assert _module_path("/conv1/conv/Conv_output_0") == "conv1.conv"
    assert _module_path("/conv2/conv2.0/conv2b/conv2b.1/conv2/Conv_output_0") == "conv2.0.conv2b.1.conv2"


def test_import_reproduces_the_onnx_model_and_calibration_keeps_it():
    path = shared_path(*OSNET)
    model = build_model("osnet_x0_25", num_classes=0).eval()
    import_onnx_weights(model, path, (256, 128))  # the file's static input size
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 256, 128, generator=gen) * 4 - 2
    reference = _onnx_features(path, x)
    with torch.no_grad():
        np.testing.assert_allclose(model(x).numpy(), reference, atol=1e-3 * np.abs(reference).max())
        calib = torch.rand(6, 3, 256, 128, generator=gen) * 4 - 2
        assert calibrate_unfolded_bn(model, [calib]) > 50
        np.testing.assert_allclose(model(x).numpy(), reference, atol=1e-3 * np.abs(reference).max())
        # Train-mode BN normalises by batch statistics: on the calibration batch they equal the running
        # ones, so a training step starts from the imported network, not from a rescaled one.
        model.train()
        model.fc[1].eval()  # the fc BatchNorm was exported unfolded with real statistics of its own
        train_out = model(calib).numpy()
        model.eval()
        np.testing.assert_allclose(train_out, model(calib).numpy(), atol=2e-2 * np.abs(train_out).max())


def test_import_refuses_another_architecture():
    path = shared_path(*OSNET)
    with pytest.raises(DataError, match="do not fit"):
        import_onnx_weights(build_model("osnet_x0_5", num_classes=0), path, (128, 64))


def test_training_starts_from_an_onnx_file(tmp_path: Path):
    path = shared_path(*OSNET)
    root = make_market(tmp_path / "market")
    overrides = tiny_recipe_overrides(root, **{"model.name": "osnet_x0_25", "model.weights": str(path),
                                               "data.input_size": "[64, 32]", "epochs": 1, "optim.lr": 0.001})
    trainer = Trainer(load_config(None, overrides, cls=TrainRecipe), tmp_path / "run")
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    reference = build_model("osnet_x0_25", num_classes=0).eval()
    import_onnx_weights(reference, path, (64, 32))
    assert torch.equal(before["conv2.0.conv2a.conv2.weight"], reference.state_dict()["conv2.0.conv2a.conv2.weight"])
    trainer.fit()
    after = trainer.model.state_dict()
    assert not torch.equal(before["conv5.conv.weight"], after["conv5.conv.weight"])
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point())
