"""``textdistill kernels``: compile the prediction kernels for this machine ahead of time (``featurizers/aot.py``)."""

from __future__ import annotations

import typer

from .common import say


def kernels(
    action: str = typer.Argument("status", help="build: compile them now (needs numba and a C compiler; ~10 s); "
                                 "status: say whether this machine has them."),
):
    """Compile the prediction kernels ahead of time: a predicting process then starts without numba (faster, and
    ~100 MB less memory). `make install` runs `textdistill kernels build`."""
    from ..errors import ConfigError
    from ..featurizers import aot

    if action == "status":
        path = aot.built_module()
        say(f"built: {path}" if path else f"not built for this machine (expected in {aot.build_dir()}); run "
                                          f"`textdistill kernels build`")
        return
    if action != "build":
        raise ConfigError(f"kernels: the action is build or status, not {action!r}")
    try:
        import numba  # noqa: F401
    except ImportError:
        raise ConfigError("building the kernels needs numba (pip install numba)") from None
    try:
        aot.build(log=say)
    except Exception as exc:  # no C compiler, a numba that cannot compile ahead of time: the JIT kernels serve
        raise ConfigError(f"could not compile the kernels ahead of time ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                          f"predicting uses numba's JIT kernels instead") from None
