"""The ``pq`` command: one entry point for every part of the platform.

Sub-commands live in modules named for what they drive (``stack_commands``, ``demo_commands``,
``pql_commands``...). Errors that a user can act on are printed as one line, never a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import typer

from platform_core.errors import UserFacingError
from services.cli.api_commands import connect, query_app, refresh
from services.cli.data_commands import data_app
from services.cli.demo_commands import demo_data
from services.cli.graph_commands import graph_app
from services.cli.keys_commands import keys_app
from services.cli.materialize_commands import materialize_app
from services.cli.pql_commands import pql_app
from services.cli.quickstart_commands import quickstart
from services.cli.stack_commands import down, status, up
from services.cli.training_table_commands import training_table_app

app = typer.Typer(
    name="pq",
    help="Predictive queries over relational data: PQL in, trained GNNs and predictions out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(up)
app.command()(down)
app.command()(status)
app.command("demo-data")(demo_data)
app.command()(quickstart)
app.command()(connect)
app.command()(refresh)
app.add_typer(query_app, name="query")
app.add_typer(pql_app, name="pql")
app.add_typer(keys_app, name="keys")
app.add_typer(data_app, name="data")
app.add_typer(materialize_app, name="materialize")
app.add_typer(training_table_app, name="training-table")
app.add_typer(graph_app, name="graph")


def _temporal_runtime_started() -> bool:
    """Whether this process started the Temporal SDK's native runtime (a client connected)."""
    runtime = sys.modules.get("temporalio.runtime")
    return getattr(getattr(runtime, "_runtime_ref", None), "_default_runtime", None) is not None


def _exit(code: int | str | None) -> NoReturn:
    """Leave with ``code`` once the command is done. After a Temporal client connected, skip the interpreter's
    teardown: the SDK's native threads can outlive it and abort the process while it finalizes ("Fatal
    Python error: PyGILState_Release", temporalio/sdk-python#300; seen here once in ~30 runs of `pq status`),
    turning a finished command into exit status -6."""
    if not _temporal_runtime_started():
        raise SystemExit(code)
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def main() -> None:
    """Run ``pq``; a :class:`UserFacingError` becomes one line on stderr and exit status 2."""
    try:
        app()
    except UserFacingError as exc:
        print(f"pq: error: {exc}", file=sys.stderr)
        _exit(2)
    except SystemExit as exc:
        _exit(exc.code)
    _exit(0)


if __name__ == "__main__":
    main()
