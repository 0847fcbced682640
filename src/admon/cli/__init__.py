"""The ``admon`` command line (Typer + Rich).

Each command group lives in its own module of this package and is added here;
errors from the :mod:`admon.errors` hierarchy become one red line and exit code 2.
"""

from __future__ import annotations

import importlib
import sys

import typer

from admon.cli.tables import cli_console
from admon.errors import AdmonError

app = typer.Typer(
    name="admon",
    help="Anomaly detection on monitoring data: read, train, detect, export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = cli_console(stderr=True)

# Modules of this package that add commands to `app` through `register(app)`.
COMMAND_MODULES = [
    "admon.cli.data",
    "admon.cli.service",
    "admon.cli.labels_queue",
    "admon.cli.forecast",
    "admon.cli.models",
    "admon.cli.benchmark",
    "admon.cli.corpus",
    "admon.cli.registry",
    "admon.cli.entity_threshold",
    "admon.cli.runs",
    "admon.cli.incidents",
    "admon.cli.pretrain",
]


def build_app() -> typer.Typer:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def main() -> None:
    """Entry point of the ``admon`` script."""
    build_app()
    try:
        app(standalone_mode=False)
    except AdmonError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        # typer vendors its own click: its usage errors derive from typer.TyperException, not click's
        if isinstance(exc, click.ClickException | typer.TyperException) and hasattr(exc, "show"):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
