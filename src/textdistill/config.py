"""Config dataclasses whose fields are the command line: each field carries its help text (and, where the flag
reads better than the field name, the flag), so the CLI is generated from the configs rather than listed by hand.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def option(default: Any = dataclasses.MISSING, help: str = "", *, flag: str | None = None, cli: bool = True,
           default_factory: Any = dataclasses.MISSING):
    """A dataclass field with CLI metadata: ``help``, an optional ``flag`` name (without dashes) and ``cli=False``
    for fields that are not flags (set by the program, e.g. the mask token taken from the teacher)."""
    metadata = {"help": help, "flag": flag, "cli": cli}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def field_type(cls, f: dataclasses.Field):
    """The resolved type of a dataclass field (annotations may be strings under ``from __future__``)."""
    hints = typing.get_type_hints(cls)
    return hints.get(f.name, f.type)


def base_type(tp):
    """``int | None`` -> int, ``tuple[int, ...]`` -> tuple, ``Optional[str]`` -> str."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return base_type(args[0]) if len(args) == 1 else str
    if origin is not None:
        return origin
    return tp


def is_nested(cls, f: dataclasses.Field) -> bool:
    tp = field_type(cls, f)
    return dataclasses.is_dataclass(tp)


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def from_dict(cls, data: dict):
    """Build ``cls`` from a dict written by ``to_dict`` (nested configs too); unknown keys are an error."""
    if data is None:
        return cls()
    kwargs = {}
    names = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in names:
            raise TypeError(f"{cls.__name__} has no field {key!r}")
        f = names[key]
        tp = field_type(cls, f)
        if dataclasses.is_dataclass(tp) and isinstance(value, dict):
            value = from_dict(tp, value)
        elif base_type(tp) is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)
