"""Embedders: preprocessing, box cutting, torch vs ONNX agreement, config wiring, a foreign ONNX model."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
import torch
from conftest import shared_path

from mtmc.config import ReidConfig
from mtmc.embedders import build_embedder
from mtmc.errors import ConfigError, DataError
from reid import build_model, model_info
from reid.embedder import OnnxEmbedder, TorchEmbedder, crop_boxes
from reid.export import export_onnx
from reid.registry import ModelInfo

RNG = np.random.default_rng(0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _crops(n: int) -> list[np.ndarray]:
    return [
        RNG.integers(0, 256, (int(RNG.integers(40, 200)), int(RNG.integers(20, 90)), 3), np.uint8)
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """cdnet and osnet_x0_25 (random init, non-trivial BN stats) with their ONNX exports."""
    out = {}
    for name in ("cdnet", "osnet_x0_25"):
        torch.manual_seed(0)
        model = build_model(name).eval()
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_var.uniform_(0.5, 1.5)
        path = export_onnx(model, tmp_path_factory.mktemp("onnx") / f"{name}.onnx", model_info(name))
        out[name] = (model, path)
    return out


@pytest.mark.parametrize("name", ["cdnet", "osnet_x0_25"])
def test_torch_and_onnx_agree(exported, name):
    import onnxruntime as ort

    model, path = exported[name]
    x = torch.randn(3, 3, 256, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(x).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"images": x.numpy()})[0]  # batch 3: the batch axis is dynamic
    assert out.shape == ref.shape == (3, model.embedding_dim)
    # random-init raw features reach ~1e4: compare relative to their scale
    assert np.abs(out - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max()), np.abs(out - ref).max()

    crops = _crops(5)
    a = TorchEmbedder(model, info=model_info(name), batch_size=2).embed_crops(crops)
    onnx = OnnxEmbedder(path, batch_size=4)  # preprocessing read from the file's metadata
    assert onnx.dim == model.embedding_dim and onnx.preprocess.height == 256
    b = onnx.embed_crops(crops)
    assert np.allclose(a, b, atol=1e-4)
    assert np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-5)


def test_preprocessing_matches_the_definition():
    emb = TorchEmbedder("osnet_x0_25")
    crop = np.zeros((30, 10, 3), np.uint8)
    crop[..., 0], crop[..., 1], crop[..., 2] = 10, 128, 250  # B, G, R
    batch = emb.preprocess([crop, crop])
    assert batch.shape == (2, 3, 256, 128) and batch.dtype == np.float32
    mean, std = np.array(model_info("osnet_x0_25").mean), np.array(model_info("osnet_x0_25").std)
    expected_rgb = (np.array([250, 128, 10]) / 255 - mean) / std  # channel 0 is red: RGB model
    assert np.allclose(batch[1, :, 100, 60], expected_rgb, atol=1e-5)


def test_embed_cuts_clipped_boxes_and_zeroes_empty_ones():
    from mtmc.boxes import from_tlwh

    image = RNG.integers(0, 256, (240, 320, 3), np.uint8)
    boxes = from_tlwh(
        np.array(
            [
                [10, 20, 40, 100],  # inside
                [300, -30, 60, 100],  # partly outside: clipped to x 300..320, y 0..70
                [500, 10, 40, 80],  # entirely outside
                [50, 50, 0, 30],  # zero width
                [np.nan, 0, 10, 10],  # nan
            ]
        )
    )
    crops, valid = crop_boxes(image, boxes)
    assert valid.tolist() == [True, True, False, False, False]
    assert crops[1].shape == (70, 20, 3)
    emb = TorchEmbedder("osnet_x0_25", batch_size=4)
    out = emb.embed(image, boxes)
    assert out.shape == (5, 512) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out[:2], axis=1), 1, atol=1e-5)
    assert not out[2:].any()
    assert np.allclose(out[:2], emb.embed_crops([image[20:120, 10:50], image[0:70, 300:320]]), atol=1e-6)
    assert emb.embed(image, from_tlwh(np.zeros((0, 4)))).shape == (0, 512)


def test_flip_and_half_on_cpu():
    symmetric = np.zeros((128, 64, 3), np.uint8)
    symmetric[:, 16:48] = 200
    plain = TorchEmbedder("osnet_x0_25")
    flipped = TorchEmbedder(plain.model, info=plain.info, flip=True, half=True)  # half: ignored on CPU
    assert not flipped.half
    assert np.allclose(plain.embed_crops([symmetric]), flipped.embed_crops([symmetric]), atol=1e-5)
    crop = _crops(1)
    batch = torch.from_numpy(plain.preprocess(crop))
    with torch.no_grad():
        both = plain.model(batch) + plain.model(torch.flip(batch, dims=[3]))
    expected = torch.nn.functional.normalize(both, dim=1).numpy()
    assert np.allclose(flipped.embed_crops(crop), expected, atol=1e-6)
    assert not np.allclose(plain.embed_crops(crop), expected, atol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript exporter
def test_fixed_batch_onnx_runs_in_padded_chunks(tmp_path):
    class Mean(torch.nn.Module):
        embedding_dim = 3

        def forward(self, x):
            return x.mean(dim=(2, 3))

    info = ModelInfo("mean", Mean, (32, 16))
    path = tmp_path / "fixed.onnx"
    with torch.no_grad():
        torch.onnx.export(
            Mean(),
            (torch.zeros(4, 3, 32, 16),),
            str(path),
            dynamo=False,
            input_names=["x"],
            output_names=["y"],
            opset_version=17,
        )
    emb = OnnxEmbedder(path, info.input_size, batch_size=32)
    assert emb.fixed_batch == 4 and emb.batch_size == 4 and emb.dim == 3
    crops = _crops(6)
    expected = np.stack([cv2.resize(c, (16, 32))[..., ::-1].reshape(-1, 3).mean(0) for c in crops])
    expected = (expected / 255 - np.array(model_info("osnet_x0_25").mean)) / np.array(
        model_info("osnet_x0_25").std
    )
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(emb.embed_crops(crops), expected, atol=1e-4)


def test_build_embedder_from_config(exported, tmp_path):
    assert build_embedder(ReidConfig()) is None
    torch_emb = build_embedder(ReidConfig(model="osnet_x0_25"))
    assert isinstance(torch_emb, TorchEmbedder) and torch_emb.dim == 512
    _, path = exported["osnet_x0_25"]
    onnx_emb = build_embedder(ReidConfig(model="osnet_x0_25", weights=str(path), batch_size=8))
    assert isinstance(onnx_emb, OnnxEmbedder) and onnx_emb.batch_size == 8
    with pytest.raises(ConfigError, match="reid.backend"):
        build_embedder(ReidConfig(model="osnet_x0_25", weights=str(path), backend="torch"))
    with pytest.raises(ConfigError, match="reid.backend"):
        build_embedder(ReidConfig(model="osnet_x0_25", backend="onnx"))
    with pytest.raises(DataError, match="not found"):
        build_embedder(ReidConfig(model="osnet_x0_25", weights=str(tmp_path / "missing.pth")))
    with pytest.raises(ConfigError, match="unknown ReID model"):
        build_embedder(ReidConfig(model="no_such_model"))
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    with pytest.raises(DataError, match="bad.onnx: cannot load ONNX model"):
        build_embedder(ReidConfig(model="onnx", weights=str(tmp_path / "bad.onnx"), input_size=(256, 128)))


def _market_split(root, split):
    files = sorted((root / split).glob("*.jpg"))
    ids = [re.match(r"([-\d]+)_c(\d)", f.name) for f in files]
    pids = np.array([int(m[1]) for m in ids])
    cams = np.array([int(m[2]) - 1 for m in ids])
    keep = pids != -1  # junk
    return [cv2.imread(str(f)) for f, k in zip(files, keep) if k], pids[keep], cams[keep]


def test_foreign_osnet_onnx_ranks_tud_crops():
    """torchreid OSNet x0.25 (MSMT17) exported by someone else: 18 TUD identities, Market protocol."""
    from eval.reid_metrics import rank_and_map

    weights = shared_path("weights", "osnet_x0_25_msmt17", "osnet_x0_25_msmt17.onnx")
    root = shared_path("data", "reid_tud_market_format")
    cfg = ReidConfig(model="onnx", weights=str(weights), input_size=(256, 128), batch_size=64)
    emb = build_embedder(cfg)
    assert emb.dim == 512
    q_imgs, q_pids, q_cams = _market_split(root, "query")
    g_imgs, g_pids, g_cams = _market_split(root, "bounding_box_test")
    qf, gf = emb.embed_crops(q_imgs), emb.embed_crops(g_imgs)
    distmat = ((qf[:, None, :] - gf[None, :, :]) ** 2).sum(-1)
    cmc, mean_ap, valid = rank_and_map(distmat, q_pids, g_pids, q_cams, g_cams)
    print(f"foreign OSNet x0.25 ONNX on TUD crops: rank-1 {cmc[0]:.3f}, mAP {mean_ap:.3f}, {valid} queries")
    assert valid >= 30
    assert cmc[0] >= 0.6 and mean_ap >= 0.5  # measured 0.800 / 0.722; chance level is ~0.1


def test_reid_eval_runs_an_onnx_export_on_an_evaluation_only_folder(tmp_path):
    """`mtmc reid eval` on a Market folder without bounding_box_train, weights given as the ONNX export:
    the same mAP as onnxruntime's embeddings (L2-normalised, Euclidean)."""
    import json

    from eval.reid_metrics import rank_and_map
    from mtmc.cli.main import main

    weights = shared_path("weights", "osnet_x0_25_msmt17", "osnet_x0_25_msmt17.onnx")
    root = shared_path("data", "reid_tud_market_format")
    out = tmp_path / "eval.json"
    assert main(["reid", "eval", "--model", "osnet_x0_25", "--weights", str(weights), "--data", str(root),
                 "--workers", "0", "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    emb = build_embedder(ReidConfig(model="osnet_x0_25", weights=str(weights), batch_size=64))
    (q_imgs, q_pids, q_cams), (g_imgs, g_pids, g_cams) = (_market_split(root, s) for s in ("query", "bounding_box_test"))
    qf, gf = (f / np.linalg.norm(f, axis=1, keepdims=True) for f in (emb.embed_crops(q_imgs), emb.embed_crops(g_imgs)))
    cmc, mean_ap, _ = rank_and_map(((qf[:, None] - gf[None]) ** 2).sum(-1), q_pids, g_pids, q_cams, g_cams)
    assert got["mAP"] == pytest.approx(100 * mean_ap, abs=0.5) and got["rank1"] == pytest.approx(100 * cmc[0], abs=3)


def test_bench_smoke():
    """The bench machinery end to end on the smallest model (timings themselves are not asserted)."""
    from reid.bench import markdown_report, run_bench

    threads = torch.get_num_threads()
    rows, peak = run_bench(["osnet_x0_25"], [1, 2], ["torch", "onnx"], threads=1, rounds=1)
    torch.set_num_threads(threads)
    assert peak > 0 and len(rows) == 4
    assert all(r.crops_per_s > 0 and r.macs == 82_314_880 and r.params == 201_864 for r in rows)
    report = markdown_report(rows, peak, 1, "mtmc reid bench --models osnet_x0_25")
    assert "| osnet_x0_25 | 201,864 | 82.3M | onnx |" in report and "within 2x" in report
