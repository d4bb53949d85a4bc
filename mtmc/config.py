"""Typed configuration: YAML files and ``key=value`` overrides loaded into dataclasses.

A config is built in layers: dataclass defaults, then each ``-c FILE`` in order,
then ``key.path=value`` overrides from the command line.  Unknown keys and wrong
types raise :class:`~mtmc.errors.ConfigError` naming the key path (and the file).
Sections that pick a component by name (``detector``, ``tracker``, ``association``)
carry a ``params`` mapping that is validated against that component's own
dataclass; changing ``name`` in a later layer drops the params of earlier layers.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from mtmc.errors import ConfigError

_SCIENTIFIC = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")

T = TypeVar("T")


# ----------------------------------------------------------------------------------------------
# Generic dataclass <-> dict conversion with validation
# ----------------------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key)
            except ConfigError as err:
                errors.append(err)
        candidates = [a for a in args if a is not type(None)]
        if len(candidates) == 1 and is_dataclass(candidates[0]):
            raise errors[0]  # an optional section: the inner error names the key inside it
        names = " or ".join(_type_name(a) for a in args)
        raise ConfigError(f"{key}: expected {names}, got {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: expected one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if is_dataclass(tp):
        return from_dict(tp, value, key)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected a list of {len(args)} items, got {len(value)}")
            return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        out = [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _SCIENTIFIC.fullmatch(value.strip()):
            return float(value)  # YAML 1.1 reads 3e-4 (no dot) as a string
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ConfigError(f"{key}: expected a path, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict | None, key_path: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; reject unknown keys and wrong types by key path."""
    prefix = f"{key_path}." if key_path else ""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{key_path or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if f.init}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"{prefix}{unknown[0]}: unknown key; expected one of: {', '.join(sorted(known))}"
        )
    kwargs = {name: _convert(value, hints[name], f"{prefix}{name}") for name, value in data.items()}
    try:
        obj = cls(**kwargs)
    except TypeError as err:  # a required field is missing
        raise ConfigError(f"{key_path or 'config'}: {err}") from None
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(key_path)
    return obj


def to_dict(obj: Any) -> Any:
    """Dataclass (nested) -> plain dict / list / scalars suitable for YAML."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


# ----------------------------------------------------------------------------------------------
# YAML files and overrides
# ----------------------------------------------------------------------------------------------


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; syntax errors are reported as ``file:line``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config file not found", path=path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {err.problem}", path=path, line=line) from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"invalid YAML: {err}", path=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of config sections at the top level", path=path)
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"tracker.params.max_age=30"`` -> (["tracker", "params", "max_age"], 30)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. tracker.name=bytetrack")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def merge(base: dict, update: dict) -> dict:
    """Deep-merge ``update`` into a copy of ``base``; a new ``name`` drops the old ``params``."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            current = out[key]
            if "name" in value and value["name"] != current.get("name") and "params" not in value:
                current = {k: v for k, v in current.items() if k != "params"}
            out[key] = merge(current, value)
        else:
            out[key] = value
    return out


def nested(keys: list[str], value: Any) -> dict:
    out: Any = value
    for key in reversed(keys):
        out = {key: out}
    return out


# ----------------------------------------------------------------------------------------------
# The pipeline config
# ----------------------------------------------------------------------------------------------


@dataclass
class ComponentConfig:
    """A stage chosen by name from a registry, with that component's own parameters."""

    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class DetectorConfig(ComponentConfig):
    name: str = "ultralytics"  # a real detector (yolov8n.pt); `simulated` needs ground truth (ablations)


@dataclass
class TrackerConfig(ComponentConfig):
    name: str = "bytetrack"


@dataclass
class ReidConfig:
    """Which ReID model embeds crops (``none`` disables appearance)."""

    model: str = "none"  # a name from reid.registry, or "onnx" for a foreign ONNX file
    weights: str | None = None  # checkpoint (.pth/.pth.tar/.pt) or .onnx file
    backend: Literal["auto", "torch", "onnx"] = "auto"
    device: str = "cpu"
    batch_size: int = 32
    flip: bool = False  # average embeddings of the crop and its mirror image
    half: bool = False  # reduced precision where the device supports it
    input_size: tuple[int, int] | None = None  # (height, width): foreign ONNX, or a zoo model trained smaller
    rgb: bool = True
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass
class AssociationConfig(ComponentConfig):
    name: str = "global"


@dataclass
class OutputConfig:
    videos: bool = False  # annotated per-camera videos
    map: bool = False  # top-down ground-plane map (PNG + video)
    trail_seconds: float = 1.0
    interpolate_seconds: float = 0.0  # fill track gaps up to this long by interpolation (offline)


@dataclass
class EvalConfig:
    iou_threshold: float = 0.5
    hota: bool = True  # through trackeval when it is installed


@dataclass
class RuntimeConfig:
    """Where the per-camera work runs (:mod:`mtmc.runtime`); results are the same either way."""

    executor: Literal["local", "ray"] = "local"  # ray: per-camera-group workers (pip install "mtmc[ray]")
    address: str | None = None  # Ray cluster: "auto" (after `ray start --head`), "ray://host:10001"; none: start one
    num_workers: int = 0  # Ray workers per scene (0: one per camera, as the CPUs allow); --batch: jobs at once (0: CPUs)
    cpus_per_worker: float = 1.0  # CPUs Ray reserves for each worker (and each --batch job)
    gpus_per_worker: float = 0.0
    max_in_flight: int = 4  # time steps a worker may run ahead of the associator (bounds memory)

    def validate(self, key_path: str = "") -> None:
        prefix = f"{key_path}." if key_path else ""
        if self.num_workers < 0:
            raise ConfigError(f"{prefix}num_workers: expected 0 (automatic) or more, got {self.num_workers}")
        if self.max_in_flight < 1:
            raise ConfigError(f"{prefix}max_in_flight: expected a positive integer, got {self.max_in_flight}")
        if self.cpus_per_worker <= 0:
            raise ConfigError(f"{prefix}cpus_per_worker: expected a positive number, got {self.cpus_per_worker}")
        if self.gpus_per_worker < 0:
            raise ConfigError(f"{prefix}gpus_per_worker: expected 0 or more, got {self.gpus_per_worker}")


@dataclass
class PipelineConfig:
    """Everything ``mtmc track`` needs, section by section."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    reid: ReidConfig = field(default_factory=ReidConfig)
    association: AssociationConfig = field(default_factory=AssociationConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)


def _component_registries() -> dict[str, Any]:
    """Registries that validate the ``params`` of named sections (imported lazily)."""
    from mtmc.association import ASSOCIATORS
    from mtmc.detectors import DETECTORS
    from trackers import TRACKERS

    return {"detector": DETECTORS, "tracker": TRACKERS, "association": ASSOCIATORS}


def resolve_components(cfg: PipelineConfig) -> PipelineConfig:
    """Validate every named section's params and fill in their defaults."""
    for section, registry in _component_registries().items():
        comp: ComponentConfig = getattr(cfg, section)
        registry.entry(comp.name, f"{section}.name")
        params = registry.parse_params(comp.name, comp.params, f"{section}.params")
        comp.params = to_dict(params) if params is not None else {}
    return cfg


def load_config(
    files: list[str | Path] | None = None, overrides: list[str] | None = None, cls: type[T] = PipelineConfig
) -> T:
    """Build a config from defaults, YAML ``files`` (in order) and ``key=value`` ``overrides``."""
    data: dict = {}
    for path in files or []:
        layer = load_yaml(path)
        try:
            from_dict(cls, merge(data, layer))  # report errors against the file that caused them
        except ConfigError as err:
            raise ConfigError(err.message, path=path) from None
        data = merge(data, layer)
    for text in overrides or []:
        keys, value = parse_override(text)
        data = merge(data, nested(keys, value))
    cfg = from_dict(cls, data)
    if cls is PipelineConfig:
        resolve_components(cfg)  # type: ignore[arg-type]
    return cfg


def dump_config(cfg: Any) -> str:
    """The fully resolved config as YAML text (re-loadable with :func:`load_config`)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
