"""Command-line flags generated from config dataclasses (``textdistill.config.collect_flags``): every field becomes
one ``--flag`` whose help is the field's, followed by its default as the dataclass says (per family where families
share the flag), so the help can never show a default that does not apply.
"""

from __future__ import annotations

import inspect
from typing import Callable, Optional

import typer

from ..config import Flag, build_config, collect_flags

__all__ = ["Flag", "collect", "build", "with_flags", "help_with_default", "owner_names", "GroupedHelp"]

collect = collect_flags


def build(cls, values: dict, flags: dict[str, Flag], what: str = ""):
    """(an instance of config ``cls`` with the given flags that belong to it, the flags it used)."""
    return build_config(cls, values, flags)


def owner_names() -> dict[type, str]:
    """Config class -> the name it is known by in --help (a family, a strategy, a task type)."""
    from ..students import FAMILIES
    from ..tasks import TASKS
    from ..training.strategies import STRATEGIES

    names = {}
    for registry in (FAMILIES, STRATEGIES, TASKS):
        for name, cls in registry.items():
            config_class = getattr(cls, "config_class", None)
            if config_class is not None:
                names.setdefault(config_class, name)
    return names


def _shown(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def help_with_default(spec: Flag, names: dict[type, str] | None = None) -> str:
    """The flag's help followed by its default(s): one value, or one per owner ("dan 128, bilstm 200"); none is
    shown for a default of None (the help says what happens then)."""
    names = owner_names() if names is None else names
    defaults = [(names.get(cls, ""), spec.default_of(cls)) for cls, _ in spec.owners]
    shown = [(who, v) for who, v in defaults if v is not None]
    if not shown:
        return spec.help
    values = {_shown(v) for _, v in shown}
    if len(values) == 1 and len(shown) == len(defaults):
        text = _shown(shown[0][1])
    else:
        text = ", ".join(f"{who} {_shown(v)}" if who else _shown(v) for who, v in shown)
    return f"{spec.help} Default: {text}.".strip()


def _panel(spec: Flag, names: dict[type, str]) -> str | None:
    families = {names.get(cls) for cls, _ in spec.owners}
    if len(spec.owners) > 1 and spec.panel.startswith("Student"):
        return "Student (several families)" if len(families) > 1 else spec.panel
    return spec.panel or None


def with_flags(func: Callable, flags: dict[str, Flag]) -> Callable:
    """``func`` (taking ``**kwargs`` after its own parameters) with the flags appended to its signature."""
    import typing

    names = owner_names()
    signature = inspect.signature(func)
    hints = typing.get_type_hints(func)  # real types: the wrapper lives in another module than func
    params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
              if p.kind is not inspect.Parameter.VAR_KEYWORD]
    for spec in flags.values():
        text, panel = help_with_default(spec, names), _panel(spec, names)
        if spec.kind is bool:
            default = typer.Option(None, f"{spec.flag}/--no-{spec.flag[2:]}", help=text, show_default=False,
                                   rich_help_panel=panel)
            annotation = Optional[bool]
        else:
            annotation = Optional[spec.kind if spec.kind in (int, float) else str]
            default = typer.Option(None, spec.flag, help=text, show_default=False, rich_help_panel=panel)
        params.append(inspect.Parameter(spec.param, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=annotation))

    def wrapper(**kwargs):
        return func(**kwargs)

    wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
    wrapper.__signature__ = signature.replace(parameters=params)
    return wrapper


class GroupedHelp(typer.core.TyperCommand):
    """A command whose --help is plain text in groups (Data, Teachers, Training, Student: dan, ...): one line per
    option where it fits, its description wrapped beside it. ``distill`` has over a hundred options; boxes around
    them at 80 columns left a 20-character description column."""

    def format_help(self, ctx, formatter) -> None:
        return super(typer.core.TyperCommand, self).format_help(ctx, formatter)  # skip the boxes

    def format_options(self, ctx, formatter) -> None:
        groups: dict[str, list] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                groups.setdefault(getattr(param, "rich_help_panel", None) or "Options", []).append(record)
        for name, rows in groups.items():
            with formatter.section(name):
                formatter.write_dl(rows, col_max=34)
