"""Name -> component registries, so every stage is chosen by name in the config.

Each entry is a factory plus the dataclass that types its parameters::

    TRACKERS = Registry("tracker")

    @TRACKERS.register("sort", params=SortParams)
    class Sort: ...

    tracker = TRACKERS.build("sort", {"max_age": 1}, frame_rate=30)

The factory is called as ``factory(params_instance, **context)``.  Parameters are
validated with :func:`mtmc.config.from_dict`, so an unknown key or a wrong type is
reported with its full key path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mtmc.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    factory: Callable[..., Any]
    params: type | None


class Registry(Generic[T]):
    """A named collection of component factories of one kind (detector, tracker, ...)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, params: type | None = None) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = Entry(factory, params)
            return factory

        return decorator

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def entry(self, name: str, key_path: str = "name") -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"{key_path}: unknown {self.kind} {name!r}; expected one of: {', '.join(self.names())}"
            ) from None

    def parse_params(self, name: str, raw: dict | Any | None, key_path: str = "params") -> Any:
        """Validate ``raw`` against the entry's params dataclass (instances pass through)."""
        from mtmc.config import from_dict

        entry = self.entry(name)
        if entry.params is None:
            if raw:
                raise ConfigError(f"{key_path}: {self.kind} {name!r} takes no parameters")
            return None
        if isinstance(raw, entry.params):
            return raw
        return from_dict(entry.params, raw or {}, key_path)

    def build(self, name: str, params: dict | Any | None = None, **context: Any) -> T:
        """Build component ``name`` with validated ``params`` and extra ``context`` keywords."""
        entry = self.entry(name)
        parsed = self.parse_params(name, params)
        return entry.factory(parsed, **context) if entry.params is not None else entry.factory(**context)
