"""Command-line flags generated from config dataclasses: every field (nested configs flattened) becomes one
``--flag`` whose help is the field's, so adding a field, a student family or a teacher strategy adds its flags
without touching the CLI. Fields of the same name in several configs (``--hidden-dim`` of every family) share one
flag; the value goes to whichever config is in use.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import typer

from ..config import base_type, field_type, is_nested
from ..errors import ConfigError


@dataclass
class Flag:
    param: str  # the Python parameter name typer passes the value under
    flag: str  # "--hidden-dim"
    kind: type  # int, float, str, bool or tuple
    help: str
    owners: list = field(default_factory=list)  # (config class, dotted field path)


def _walk(cls, prefix: str = ""):
    for f in dataclasses.fields(cls):
        meta = f.metadata or {}
        if is_nested(cls, f):
            yield from _walk(field_type(cls, f), f"{prefix}{f.name}.")
            continue
        if meta.get("cli", True) is False:
            continue
        yield f, meta, f"{prefix}{f.name}", field_type(cls, f)


def collect(configs: list[type], taken: set[str] = frozenset()) -> dict[str, Flag]:
    """Flags of the given config classes by parameter name; ``taken`` are names the command already defines."""
    flags: dict[str, Flag] = {}
    for cls in configs:
        for f, meta, path, tp in _walk(cls):
            name = (meta.get("flag") or f.name).replace("-", "_")
            if name in taken:
                raise TypeError(f"{cls.__name__}.{f.name}: flag --{name} clashes with a fixed option")
            kind = base_type(tp)
            if kind not in (int, float, str, bool, tuple):
                kind = str
            if name in flags:
                entry = flags[name]
                if entry.kind is not kind:
                    entry.kind = str
                entry.owners.append((cls, path))
            else:
                flags[name] = Flag(name, "--" + name.replace("_", "-"), kind, meta.get("help") or "", [(cls, path)])
    return flags


def with_flags(func: Callable, flags: dict[str, Flag]) -> Callable:
    """``func`` (taking ``**kwargs`` after its own parameters) with the flags appended to its signature."""
    import typing

    signature = inspect.signature(func)
    hints = typing.get_type_hints(func)  # real types: the wrapper lives in another module than func
    params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
              if p.kind is not inspect.Parameter.VAR_KEYWORD]
    for spec in flags.values():
        if spec.kind is bool:
            default = typer.Option(None, f"{spec.flag}/--no-{spec.flag[2:]}", help=spec.help, show_default=False)
            annotation = Optional[bool]
        else:
            annotation = Optional[spec.kind if spec.kind in (int, float) else str]
            default = typer.Option(None, spec.flag, help=spec.help, show_default=False)
        params.append(inspect.Parameter(spec.param, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=annotation))

    def wrapper(**kwargs):
        return func(**kwargs)

    wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
    wrapper.__signature__ = signature.replace(parameters=params)
    return wrapper


def _convert(value: Any, tp, flag: str):
    kind = base_type(tp)
    if kind is tuple:
        if isinstance(value, (tuple, list)):
            return tuple(value)
        try:
            return tuple(int(v) for v in str(value).split(",") if v.strip())
        except ValueError:
            raise ConfigError(f"{flag} must be comma-separated integers, not {value!r}") from None
    if kind in (int, float) and isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            raise ConfigError(f"{flag} must be a number, not {value!r}") from None
    return value


def build(cls, values: dict[str, Any], flags: dict[str, Flag], what: str):
    """An instance of config ``cls`` with every given flag that belongs to it; ``values`` = {param: value or None}.

    Returns (config, used params). A given flag that belongs to no field of ``cls`` is left for the caller (it may
    belong to another config of the same command).
    """
    used: set[str] = set()

    def make(c, prefix: str, base=None):
        """``c`` with the given flags applied over ``base`` (the parent's default for a nested config: a family may
        default its nested config differently from the nested class, e.g. the DAN's min_count)."""
        kwargs = {}
        for f in dataclasses.fields(c):
            path = f"{prefix}{f.name}"
            if is_nested(c, f):
                default = (f.default_factory() if f.default_factory is not dataclasses.MISSING else
                           None if f.default is dataclasses.MISSING else f.default)
                kwargs[f.name] = make(field_type(c, f), f"{path}.", default)
                continue
            for param, spec in flags.items():
                if values.get(param) is not None and any(o is cls and p == path for o, p in spec.owners):
                    kwargs[f.name] = _convert(values[param], field_type(c, f), spec.flag)
                    used.add(param)
        return dataclasses.replace(base, **kwargs) if base is not None else c(**kwargs)

    try:
        return make(cls, ""), used
    except TypeError as exc:  # pragma: no cover - a config that rejects a value type
        raise ConfigError(f"{what}: {exc}") from None


def given(values: dict[str, Any], flags: dict[str, Flag]) -> set[str]:
    """The generated flags the user set."""
    return {p for p in flags if values.get(p) is not None}
