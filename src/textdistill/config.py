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


# -- flat options <-> config dataclasses (the `distill` flags and the Python API's keyword arguments) ----------------
@dataclasses.dataclass
class Flag:
    """One flat option: its name (the keyword argument; ``--name-with-dashes`` on the command line), its type, its
    help text and the config fields it sets (several configs may share a name: the value goes to the one in use)."""

    param: str
    flag: str
    kind: type  # int, float, str, bool or tuple
    help: str
    owners: list = dataclasses.field(default_factory=list)  # (config class, dotted field path)
    panel: str = ""  # the group it is shown under in --help

    def default_of(self, cls) -> Any:
        """The default value of this option in config class ``cls`` (nested defaults followed)."""
        path = next(p for c, p in self.owners if c is cls).split(".")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        f = fields[path[0]]
        value = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        for part in path[1:]:
            value = getattr(value, part)
        return None if value is dataclasses.MISSING else value


def walk_fields(cls, prefix: str = ""):
    """(field, metadata, dotted path, type) of every option field of ``cls``, nested configs flattened."""
    for f in dataclasses.fields(cls):
        meta = f.metadata or {}
        if is_nested(cls, f):
            yield from walk_fields(field_type(cls, f), f"{prefix}{f.name}.")
            continue
        if meta.get("cli", True) is False:
            continue
        yield f, meta, f"{prefix}{f.name}", field_type(cls, f)


def collect_flags(configs: list[type], taken: set[str] = frozenset(), panels: dict | None = None) -> dict[str, Flag]:
    """The options of the given config classes by name; ``taken`` are names defined elsewhere (an error to reuse);
    ``panels`` maps a config class to the --help group its options are shown under."""
    flags: dict[str, Flag] = {}
    for cls in configs:
        for f, meta, path, tp in walk_fields(cls):
            name = (meta.get("flag") or f.name).replace("-", "_")
            if name in taken:
                raise TypeError(f"{cls.__name__}.{f.name}: option --{name} clashes with a fixed option")
            kind = base_type(tp)
            if kind not in (int, float, str, bool, tuple):
                kind = str
            if name in flags:
                entry = flags[name]
                if entry.kind is not kind:
                    entry.kind = str
                entry.owners.append((cls, path))
            else:
                panel = (panels or {}).get(cls, "")
                flags[name] = Flag(name, "--" + name.replace("_", "-"), kind, meta.get("help") or "", [(cls, path)],
                                   panel)
    return flags


def convert_value(value: Any, tp, flag: str):
    """A flag's value (a string from the command line, or any value from Python) as the field's type."""
    from .errors import ConfigError

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
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def build_config(cls, values: dict[str, Any], flags: dict[str, Flag], base=None):
    """(an instance of ``cls`` with every given option that belongs to it, the options it used).

    ``values`` = {option: value or None}; an option that belongs to no field of ``cls`` is left for the caller (it may
    belong to another config). ``base``: an instance whose values the options replace (default: ``cls()``)."""
    from .errors import ConfigError

    used: set[str] = set()

    def make(c, prefix: str, current):
        """``c`` with the given options over ``current`` (None: the class's defaults; a nested config starts from its
        parent's default, which a family may set differently from the nested class, e.g. the DAN's min_count)."""
        kwargs = {}
        defaults = current if current is not None else None
        for f in dataclasses.fields(c):
            path = f"{prefix}{f.name}"
            if is_nested(c, f):
                inner = getattr(defaults, f.name) if defaults is not None else (
                    f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
                built = make(field_type(c, f), f"{path}.", inner)
                if built is not inner:
                    kwargs[f.name] = built
                continue
            for param, spec in flags.items():
                if values.get(param) is not None and any(o is cls and p == path for o, p in spec.owners):
                    kwargs[f.name] = convert_value(values[param], field_type(c, f), spec.flag)
                    used.add(param)
        if current is None:
            return c(**kwargs)
        return dataclasses.replace(current, **kwargs) if kwargs else current

    try:
        return make(cls, "", base), used
    except TypeError as exc:  # a config that rejects a value type
        raise ConfigError(f"{cls.__name__}: {exc}") from None


def changed_options(config, flags: dict[str, Flag]) -> dict[str, Any]:
    """The options whose value in ``config`` (an instance) differs from its class's default: what a config object
    passed to the Python API says, as the flat options the command line would have given."""
    cls = type(config)
    base = cls()
    out = {}
    for param, spec in flags.items():
        for owner, path in spec.owners:
            if owner is not cls:
                continue
            value, default = config, base
            for part in path.split("."):
                value, default = getattr(value, part), getattr(default, part)
            if value != default:
                out[param] = value
    return out
