"""``textdistill serve``: saved students over HTTP (flags generated from ``ServeConfig``)."""

from __future__ import annotations

from typing import List

import typer

from . import flags as cli_flags
from .common import say


def make_serve_command():
    from ..serving.http import ServeConfig

    flags = cli_flags.collect([ServeConfig], taken={"models"})

    def serve(
        models: List[str] = typer.Argument(..., help="Saved student directories; name=DIR names one (default: the "
                                           "directory's name). The first answers requests that name no model."),
        **values,
    ):
        """Serve students over HTTP: POST /v1/predict, GET /v1/models, GET /health; OpenAPI docs at /docs."""
        from ..serving.http import serve as run

        config, _ = cli_flags.build(ServeConfig, values, flags, "serve")
        run(models, config, log=say)

    return cli_flags.with_flags(serve, flags)
