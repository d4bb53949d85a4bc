"""Config loading: layers, overrides, validation by key path, resolved config round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtmc.config import PipelineConfig, dump_config, load_config
from mtmc.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_and_overrides():
    cfg = load_config([], ["tracker.name=sort", "tracker.params.max_age=3", "reid.flip=true"])
    assert isinstance(cfg, PipelineConfig)
    assert cfg.tracker.name == "sort" and cfg.tracker.params["max_age"] == 3
    assert cfg.tracker.params["min_hits"] == 3  # defaults filled in by the tracker's own dataclass
    assert cfg.reid.flip is True


def test_changing_the_name_drops_params_of_earlier_layers(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text("tracker:\n  name: sort\n  params:\n    max_age: 5\n")
    cfg = load_config([f], ["tracker.name=bytetrack"])
    assert cfg.tracker.name == "bytetrack" and "max_age" not in cfg.tracker.params


@pytest.mark.parametrize(
    "override, message",
    [
        ("tracker.params.bogus=1", "tracker.params.bogus: unknown key"),
        ("tracker.params.min_hits=abc", "tracker.params.min_hits: expected an integer"),
        ("reid.flip=3", "reid.flip: expected true or false"),
        ("nosuch.key=1", "nosuch: unknown key"),
        ("tracker.name=nosuch", "tracker.name: unknown tracker 'nosuch'"),
        ("reid.backend=gpu", "reid.backend: expected one of"),
    ],
)
def test_bad_values_name_the_key_path(override, message):
    with pytest.raises(ConfigError) as err:
        load_config([], ["tracker.name=sort", override])
    assert message in str(err.value)


def test_yaml_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tracker:\n  name: sort\n   params: [\n")
    with pytest.raises(ConfigError) as err:
        load_config([bad])
    assert str(bad) in str(err.value) and ":" in str(err.value)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("output:\n  videos: maybe\n")
    with pytest.raises(ConfigError, match=r"wrong.yaml: output.videos: expected true or false"):
        load_config([wrong])


def test_scientific_notation_without_a_dot_is_a_number(tmp_path):
    # YAML 1.1 reads "3e-4" as a string; users write it that way on the command line and in files.
    cfg = load_config(None, ["association.params.entry.reid_threshold=6e-1"])
    assert cfg.association.params["entry"]["reid_threshold"] == pytest.approx(0.6)
    with pytest.raises(ConfigError, match="expected a number"):
        load_config(None, ["association.params.entry.reid_threshold=e-1"])


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config([ROOT / "configs" / "lab.yaml"], ["tracker.name=ocsort"])
    out = tmp_path / "config.yaml"
    out.write_text(dump_config(cfg))
    again = load_config([out])
    assert again == cfg


def test_shipped_configs_load():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        load_config([path])
    for path in sorted((ROOT / "configs" / "trackers").glob("*.yaml")):
        load_config([path])
