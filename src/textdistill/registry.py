"""Named registries: student families and teacher strategies register here once, by name.

The CLI, the pipeline and ``Student.from_pretrained`` read these registries, so a new family or strategy is one
file with one decorator; nothing else lists them. Other packages can add their own through an entry point
(``[project.entry-points."textdistill.students"]`` / ``"textdistill.strategies"``): the module named there is
imported the first time the registry is read, and registers itself like a built-in one.
"""

from __future__ import annotations

from typing import Callable, Iterator

from .errors import ConfigError


class Registry:
    """name -> object, with a one-line error listing the known names for an unknown one."""

    def __init__(self, kind: str, entry_point_group: str | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._items: dict[str, object] = {}
        self._plugins_loaded = entry_point_group is None

    def register(self, obj=None, *, name: str | None = None) -> Callable:
        """Decorator: ``@REG.register`` (the name is ``obj.name``) or ``@REG.register(name="x")``."""

        def add(target):
            key = name or getattr(target, "name", None)
            if not key or not isinstance(key, str):
                raise TypeError(f"a registered {self.kind} needs a string `name`")
            self._items[key] = target
            return target

        return add(obj) if obj is not None else add

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.entry_point_group):
            try:
                ep.load()
            except Exception as exc:  # a broken plugin must not break the built-ins
                import warnings

                warnings.warn(f"could not load {self.kind} plugin {ep.name!r} ({exc})", RuntimeWarning, stacklevel=2)

    def get(self, name: str):
        self._load_plugins()
        if name not in self._items:
            raise ConfigError(f"unknown {self.kind} {name!r} (choose from: {', '.join(self.names())})")
        return self._items[name]

    def __contains__(self, name: str) -> bool:
        self._load_plugins()
        return name in self._items

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, object]]:
        self._load_plugins()
        return iter(sorted(self._items.items()))

    def unregister(self, name: str) -> None:
        """Remove an entry (tests register toys and clean up after themselves)."""
        self._items.pop(name, None)
