"""The ``textdistill`` command line: the app is assembled from the command modules; user errors print one line.

``build_app()`` assembles it anew, so families and strategies registered at run time (plugins, a test's toy)
get their ``distill`` flags; ``app`` is the one built at import.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from ..errors import TextdistillError
from .common import say


def _global_options(
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch threads for the teacher and training "
                                          "(default: torch's choice). On a small shared VM, 1 is often fastest."),
):
    if threads is not None:
        if threads < 1:
            raise TextdistillError("--threads must be at least 1")
        os.environ["OMP_NUM_THREADS"] = str(threads)
        import torch

        torch.set_num_threads(threads)


# command -> (module in textdistill.cli, the function, or a maker of the function: its flags come from registries)
COMMANDS = {
    "label": ("teachers", "label"), "distill": ("distill", "make_distill_command()"),
    "augment": ("distill", "augment_command"), "evaluate": ("predict", "evaluate"), "predict": ("predict", "predict"),
    "bench": ("predict", "bench"), "compress": ("compress", "compress"), "demo": ("predict", "demo"),
    "serve": ("serve", "make_serve_command()"), "export": ("export", "export"), "report": ("report", "report"),
    "auto": ("report", "make_auto_command()"), "kernels": ("kernels", "kernels"),
}
TEACHER_COMMANDS = {"finetune": "finetune", "report": "report", "check": "check"}


def build_app(only: str | None = None) -> typer.Typer:
    """The app; ``only`` (the command about to run) registers that command alone: a one-line ``predict`` should not
    import every other command's modules (nor read the plugins' entry points that ``distill``'s flags need)."""
    import importlib

    app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                      rich_markup_mode=None, help="Distill transformer text classifiers into fast CPU students.")
    command = _commands(app)
    app.callback()(_global_options)
    names = [only] if only in COMMANDS else list(COMMANDS)
    if only not in COMMANDS:
        from . import teachers

        teacher_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                                  help="Make, check and inspect teachers.")
        teacher_command = _commands(teacher_app)
        for name, function in TEACHER_COMMANDS.items():
            teacher_command(name)(getattr(teachers, function))
        app.add_typer(teacher_app, name="teacher")
    for name in names:
        module_name, attribute = COMMANDS[name]
        module = importlib.import_module(f".{module_name}", __package__)
        if attribute.endswith("()"):
            function = getattr(module, attribute[:-2])()
        else:
            function = getattr(module, attribute)
        command(name)(function)
    return app


def _commands(app: typer.Typer):
    """``app.command`` with the plain grouped --help layout (``flags.GroupedHelp``)."""
    from .flags import GroupedHelp

    return lambda name: app.command(name, cls=GroupedHelp)


def __getattr__(name):
    if name == "app":  # `from textdistill.cli.app import app` (tests, embedding): built on first use
        return build_app()
    raise AttributeError(name)


def _command_name(argv: list[str]) -> str | None:
    """The subcommand in ``argv`` (after global options such as ``--threads N``); None for help or no command."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--threads":
            i += 2
            continue
        if arg.startswith("-"):
            return None  # --help, --threads=N, ...: build everything
        return arg
    return None


def _run(app: typer.Typer, argv: list[str]) -> None:
    """Run the app; a usage error (a missing or unknown option, a bad value) is one line naming the command's
    --help, not click's box."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="textdistill", standalone_mode=False)
        if isinstance(code, int) and code:  # an Exit (130 for a Ctrl-C that ended the command)
            sys.exit(code)
    except typer.Abort:
        raise KeyboardInterrupt from None
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click's UsageError (typer vendors click and does not export it)
        if not any(cls.__name__ == "UsageError" for cls in type(exc).__mro__):
            raise
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "textdistill"
        say(f"error: {exc.format_message()} (see: {where} --help)")
        sys.exit(getattr(exc, "exit_code", 2))


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    say(f"warning: {str(message).strip().splitlines()[0]}")


def main() -> None:
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.showwarning = _one_line_warning  # warnings are one line too, never a source excerpt
    try:
        _run(build_app(only=_command_name(sys.argv[1:])), sys.argv[1:])
    except TextdistillError as exc:
        code = getattr(exc, "exit_code", 2)
        say(f"{'interrupted' if code == 130 else 'error'}: {exc}")
        sys.exit(code)
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except ModuleNotFoundError as exc:
        extra = "train" if exc.name in ("torch", "transformers", "tokenizers") else "cli"
        say(f"error: {exc.name} is not installed; this command needs: pip install 'textdistill[{extra}]'")
        sys.exit(2)
    except (OSError, MemoryError) as exc:  # disk full, permission denied, out of memory: still one line
        say(f"error: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
