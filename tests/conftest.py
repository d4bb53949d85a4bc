"""Shared test fixtures: paths to ../shared, an offline ultralytics, small CPU torch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "mtmc-test-ultralytics"))


# The ground-truth-based detector as a config layer, for CLI runs on synthetic scenes (the default detector is
# ultralytics with yolov8n.pt, which the offline tests do not have).
SIMULATED = ["-c", str(ROOT / "configs" / "detectors" / "simulated.yaml")]


def shared_path(*parts: str) -> Path:
    """Path inside ../shared, or skip the test (with the reason) when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the research-licensed test data in ../shared is absent)")
    return path


@pytest.fixture
def shared() -> type:
    class _Shared:
        root = SHARED
        path = staticmethod(shared_path)

    return _Shared


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a test module: the 2 shared cores thrash with more (restored afterwards)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def synth_small_scene(out: Path, duration: float, people: int, seed: int) -> Path:
    """A small 320x240 ``mtmc synth`` scene (one render worker) for end-to-end tests."""
    from mtmc.cli.main import main

    assert main(["synth", str(out), "--duration", str(duration), "--people", str(people), "--size", "320x240",
                 "--quiet", "--workers", "1", f"seed={seed}"]) == 0
    return out


@pytest.fixture(scope="session")
def two_camera_scene(tmp_path_factory) -> Path:
    """A tiny synthetic 2-camera scene (2 s, 3 people, 320x240), made once per test session."""
    from mtmc.cli.main import main

    out = tmp_path_factory.mktemp("two_cameras") / "scene"
    assert main(["synth", str(out), "--cameras", "2", "--duration", "2", "--people", "3", "--size", "320x240",
                 "--quiet", "--workers", "1"]) == 0
    return out
