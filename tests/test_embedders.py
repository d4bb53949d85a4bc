"""The embedder registry (torch / onnx / oracle) and the stage contracts the pipeline reads."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mtmc.config import ReidConfig, load_config
from mtmc.detectors import DETECTORS
from mtmc.embedders import EMBEDDERS, backend_name, build_embedder
from mtmc.errors import ConfigError
from mtmc.vectors import l2_normalize


@pytest.mark.parametrize("cfg, backend", [
    (ReidConfig(), None),
    (ReidConfig(model="oracle"), "oracle"),
    (ReidConfig(model="osnet_x0_25"), "torch"),
    (ReidConfig(model="osnet_x0_25", weights="m.pth"), "torch"),
    (ReidConfig(model="osnet_x0_25", weights="m.ONNX"), "onnx"),
    (ReidConfig(model="onnx", weights="foreign.onnx"), "onnx"),
    (ReidConfig(model="osnet_x0_25", weights="m.pth", backend="onnx"), "onnx"),  # refused by the onnx factory
])
def test_backend_is_read_off_the_config(cfg, backend):
    assert backend_name(cfg) == backend


def test_registry_names_every_backend():
    assert EMBEDDERS.names() == ["onnx", "oracle", "torch"]


def test_oracle_comes_from_the_registry_and_needs_no_pixels(tmp_path):
    from mtmc.cli.main import main
    from mtmc.io.scene import open_input
    from mtmc.pipeline import Pipeline

    root = tmp_path / "scene"
    assert main(["synth", str(root), "--duration", "1", "--cameras", "2", "--people", "2", "--size", "160x120",
                 "--fps", "10", "--quiet", "--workers", "1"]) == 0
    scene = open_input(root)
    oracle = build_embedder(ReidConfig(model="oracle"), scene)
    assert type(oracle).__name__ == "OracleEmbedder" and oracle.needs_pixels is False
    with pytest.raises(ConfigError, match="oracle"):
        build_embedder(ReidConfig(model="oracle"))  # nothing to take the identities from

    pipeline = Pipeline(load_config([], ["detector.name=simulated", "reid.model=oracle", "tracker.name=botsort"]), scene)
    assert pipeline.needs_pixels is False  # simulated detector + oracle: frames are never decoded
    assert [t.uses_embeddings for t in pipeline.stage.trackers] == [True, True]
    result = pipeline.run()
    assert result.embedded_crops > 0 and result.frames == 10


def _returned_class(factory) -> type:
    """The class a registry factory is annotated to return (looked up by name in its module)."""
    return getattr(sys.modules[factory.__module__], factory.__annotations__["return"])


@pytest.mark.parametrize("name", DETECTORS.names())
def test_every_detector_declares_needs_pixels(name):
    cls = _returned_class(DETECTORS.entry(name).factory)
    assert isinstance(cls.needs_pixels, bool)


def test_every_embedder_declares_needs_pixels():
    from mtmc.association.oracle import OracleEmbedder
    from reid.embedder import onnx_embedder, torch_embedder

    assert _returned_class(torch_embedder).needs_pixels is True
    assert _returned_class(onnx_embedder).needs_pixels is True
    assert OracleEmbedder.needs_pixels is False


def test_l2_normalize_keeps_dtype_and_zero_rows():
    x = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
    out = l2_normalize(x)
    assert out.dtype == np.float32 and np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert l2_normalize(np.array([0, 2])).tolist() == [0.0, 1.0]  # integers become float64
