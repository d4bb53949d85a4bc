"""CDNet-family genotypes: the six (k1, k2, r) choices of the macro-architecture (spec §2.1-2.2).

JSON format (written by ``save_genotype`` and by the architecture search)::

    {"name": "cdnet", "space": "cds", "layers": [[3, 5, 1], [3, 7, 2], ...6 entries],
     "source": "free text", ...any extra keys (kept in ``Genotype.extra``)}

``space`` is ``"cs"`` (Combined Space: ``[k1, k2]`` per layer, one CBlock each) or ``"cds"``
(Combined Depth Space: ``[k1, k2, r]``, r CBlocks in series).  Kernels are odd and >= 3
(Lite-k = k//2 Lite3x3); r >= 1.  The JSON files next to this module are the built-in ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtmc.atomic import write_json
from mtmc.errors import ConfigError, read_json_file

GENOTYPE_DIR = Path(__file__).resolve().parent
NUM_LAYERS = 6
SPACES = ("cs", "cds")

# Candidate order as the search's alpha is indexed (spec §2.5; the code's 12-entry CDS list).
CS_CANDIDATES: tuple[tuple[int, int], ...] = ((3, 5), (3, 7), (5, 7), (3, 9), (5, 9), (7, 9))
CDS_CANDIDATES: tuple[tuple[int, int, int], ...] = (
    (3, 5, 1), (3, 7, 1), (5, 7, 1), (3, 5, 2), (3, 7, 2), (5, 7, 2),
    (3, 9, 1), (5, 9, 1), (7, 9, 1), (3, 9, 2), (5, 9, 2), (7, 9, 2),
)  # fmt: skip


@dataclass(frozen=True)
class Genotype:
    """Six ``(k1, k2, r)`` layer choices; ``r = 1`` everywhere for the ``cs`` space."""

    layers: tuple[tuple[int, int, int], ...]
    space: str = "cds"
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def num_blocks(self) -> int:
        return sum(r for _, _, r in self.layers)

    def to_dict(self) -> dict[str, Any]:
        layers = [[k1, k2] if self.space == "cs" else [k1, k2, r] for k1, k2, r in self.layers]
        out: dict[str, Any] = {"name": self.name, "space": self.space, "layers": layers}
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return out


def genotype_from_dict(data: Any, where: str = "genotype") -> Genotype:
    """Validate a genotype mapping; errors name the offending key (``where`` prefixes it)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping with 'space' and 'layers', got {type(data).__name__}")
    space = data.get("space", "cds")
    if space not in SPACES:
        raise ConfigError(f"{where}.space: expected one of {', '.join(SPACES)}, got {space!r}")
    layers = data.get("layers")
    if not isinstance(layers, list) or len(layers) != NUM_LAYERS:
        raise ConfigError(f"{where}.layers: expected a list of {NUM_LAYERS} layer choices, got {layers!r}")
    width = 2 if space == "cs" else 3
    parsed = []
    for i, layer in enumerate(layers):
        key = f"{where}.layers[{i}]"
        if not isinstance(layer, (list, tuple)) or len(layer) != width:
            raise ConfigError(f"{key}: expected {width} integers for space {space!r}, got {layer!r}")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in layer):
            raise ConfigError(f"{key}: expected integers, got {layer!r}")
        k1, k2 = layer[0], layer[1]
        r = layer[2] if width == 3 else 1
        for k in (k1, k2):
            if k < 3 or k % 2 == 0:
                raise ConfigError(f"{key}: kernel sizes must be odd and >= 3, got {k}")
        if r < 1:
            raise ConfigError(f"{key}: depth r must be >= 1, got {r}")
        parsed.append((k1, k2, r))
    extra = {k: v for k, v in data.items() if k not in ("name", "space", "layers")}
    return Genotype(tuple(parsed), space, str(data.get("name", "")), extra)


def load_genotype(source: str | Path | dict | Genotype) -> Genotype:
    """A Genotype from a built-in name (``"cdnet"``), a JSON file path, a mapping, or a Genotype."""
    if isinstance(source, Genotype):
        return source
    if isinstance(source, dict):
        return genotype_from_dict(source)
    path = Path(source)
    if not path.suffix and not path.exists():
        builtin = GENOTYPE_DIR / f"{source}.json"
        if not builtin.exists():
            names = ", ".join(builtin_genotypes())
            raise ConfigError(f"unknown genotype {str(source)!r}; expected a JSON file or one of: {names}")
        path = builtin
    data = read_json_file(path, "genotype file")
    return genotype_from_dict(data, where=str(path))


def save_genotype(path: str | Path, genotype: Genotype | dict) -> None:
    """Write ``genotype`` as JSON (atomically), in the format ``load_genotype`` reads."""
    write_json(path, load_genotype(genotype).to_dict())


def builtin_genotypes() -> list[str]:
    return sorted(p.stem for p in GENOTYPE_DIR.glob("*.json"))
