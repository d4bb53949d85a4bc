"""ReID weight files: our format round trip, torchreid-style foreign files, refusing wrong architectures."""

from __future__ import annotations

import pytest
import torch

from mtmc.errors import DataError, MtmcError
from reid import build_model
from reid.weights import build_from_weights, load_weights, read_weights, save_weights

X = torch.randn(2, 3, 64, 32, generator=torch.Generator().manual_seed(0))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _embed(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(X)


def _randomise_bn(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial running stats, so a forgotten buffer would change the outputs."""
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model


def test_round_trip_identical_outputs(tmp_path, capsys):
    model = _randomise_bn(build_model("cdnet", num_classes=7))
    path = tmp_path / "cdnet.pth"
    save_weights(path, model, "cdnet", extra={"epoch": 3})
    saved = read_weights(path)
    assert saved["arch"] == "cdnet" and saved["num_classes"] == 7 and saved["extra"] == {"epoch": 3}
    assert saved["genotype"]["layers"][0] == [3, 5, 1]

    fresh = build_model("cdnet")
    report = load_weights(fresh, path, arch="cdnet")
    assert report.dropped and not report.missing and not report.unexpected
    assert torch.equal(_embed(fresh), _embed(model))
    line = capsys.readouterr().err.strip()
    assert (
        "\n" not in line and "loaded" in line and "dropped 18 classifier/fc tensors" in line
    )  # 2 x (fc: 7 tensors, classifier: 2)

    rebuilt, arch = build_from_weights(path)
    assert arch == "cdnet" and torch.equal(_embed(rebuilt), _embed(model))


def test_searched_genotype_rebuilds_from_the_file(tmp_path):
    genotype = {"space": "cds", "layers": [[3, 5, 1], [3, 5, 1], [3, 7, 1], [5, 7, 1], [3, 5, 1], [3, 9, 1]]}
    model = _randomise_bn(build_model("cdnet_genotype", genotype=genotype, partitions=1))
    save_weights(tmp_path / "searched.pth", model, "cdnet_genotype")
    rebuilt, _ = build_from_weights(tmp_path / "searched.pth")
    assert rebuilt.embedding_dim == 640
    assert torch.equal(_embed(rebuilt), _embed(model))


def test_torchreid_style_file_loads(tmp_path):
    source = _randomise_bn(build_model("osnet_x0_25", num_classes=1041))
    state = {f"module.{k}": v for k, v in source.state_dict().items()}  # DataParallel prefixes
    path = tmp_path / "osnet_x0_25_msmt17.pth.tar"
    torch.save({"state_dict": state, "epoch": 180, "rank1": 0.7, "optimizer": {}}, path)
    target = build_model("osnet_x0_25")
    report = load_weights(target, path, arch="osnet_x0_25")
    assert report.dropped == ["classifier.weight", "classifier.bias"]
    assert torch.equal(_embed(target), _embed(source))

    torch.save({"model": source.state_dict()}, tmp_path / "boxmot.pt")  # and BoxMOT's "model" key
    assert not load_weights(build_model("osnet_x0_25"), tmp_path / "boxmot.pt").missing
    torch.save(source.state_dict(), tmp_path / "raw.pth")  # and a raw state dict
    assert load_weights(build_model("osnet_x0_25"), tmp_path / "raw.pth").loaded > 0


def test_partial_match_reports_missing_keys(tmp_path, capsys):
    source = build_model("osnet_x0_25")
    state = source.state_dict()
    dropped = [k for k in state if k.startswith("conv5.")]
    torch.save({k: v for k, v in state.items() if k not in dropped}, tmp_path / "partial.pth")
    report = load_weights(build_model("osnet_x0_25"), tmp_path / "partial.pth")
    assert sorted(report.missing) == sorted(k for k in dropped if not k.endswith("num_batches_tracked"))
    assert "missing" in capsys.readouterr().err


def test_wrong_architecture_is_refused(tmp_path):
    torch.save(build_model("osnet_x0_25").state_dict(), tmp_path / "osnet.pth")
    with pytest.raises(MtmcError, match="do not fit cdnet"):
        load_weights(build_model("cdnet"), tmp_path / "osnet.pth", arch="cdnet")
    # same names, other widths: every shape differs
    with pytest.raises(MtmcError, match="shape mismatches"):
        load_weights(build_model("osnet_x0_5"), tmp_path / "osnet.pth", arch="osnet_x0_5")
    save_weights(tmp_path / "cnet.pth", build_model("cnet"), "cnet")
    with pytest.raises(MtmcError, match="hold a 'cnet' model, not 'cdnet'"):
        load_weights(build_model("cdnet"), tmp_path / "cnet.pth", arch="cdnet")
    with pytest.raises(MtmcError):  # a CDNet file asked to be an OSNet
        build_from_weights(tmp_path / "cnet.pth", arch="osnet_x0_25")


def test_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_weights(build_model("osnet_x0_25"), tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="junk.pth: cannot read"):
        load_weights(build_model("osnet_x0_25"), tmp_path / "junk.pth")
    torch.save({"epoch": 3}, tmp_path / "empty.pth")
    with pytest.raises(DataError, match="no state dict"):
        load_weights(build_model("osnet_x0_25"), tmp_path / "empty.pth")
