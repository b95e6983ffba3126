"""``pq up``, ``pq down`` and ``pq status``: the embedded stack from the command line.

Plain functions, registered on the ``pq`` app by ``services.cli.main``. Settings come from ``PQ_*``
environment variables; errors a user can act on are raised as :class:`UserFacingError` (one line, exit 2).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from platform_core.settings import load_settings

if TYPE_CHECKING:
    from services.stack.launcher import PartStatus

# The launcher (and the Temporal SDK behind it) is imported inside each command, so that other `pq`
# commands do not pay for loading it.


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def up() -> None:
    """Start the embedded stack (Temporal dev server, API, worker) under PQ_HOME and wait until it is healthy.

    Parts that are already healthy are left alone, so running it again is harmless. The first time, an
    admin API key is made and printed once.
    """
    from services.stack.launcher import bootstrap_admin_key, stack_up

    settings = load_settings()
    console = _console()
    asyncio.run(stack_up(settings, report=console.print))
    admin_key = bootstrap_admin_key(settings)
    console.print(f"API:         {settings.api_url}")
    console.print(f"Temporal:    {settings.temporal_address} (namespace {settings.temporal_namespace})")
    console.print(f"Temporal UI: {settings.temporal_ui_url}")
    console.print(f"Logs:        {settings.log_dir}")
    if admin_key is not None:
        console.print(f"first admin key: {admin_key} (store it now: it is shown only once)")


def down() -> None:
    """Stop the embedded stack started from PQ_HOME (worker, API, then Temporal); harmless when none runs."""
    from services.stack.launcher import stack_down

    settings = load_settings()
    stack_down(settings, report=_console().print)


def _table(rows: list[PartStatus]) -> Table:
    table = Table(title="pq stack")
    for column in ("part", "pid", "address", "health", "detail", "log file"):
        table.add_column(column, overflow="fold")
    for row in rows:
        health = "[green]healthy[/green]" if row.healthy else "[red]down[/red]"
        pid = str(row.pid) if row.pid is not None else "-"
        table.add_row(row.name, pid, row.address, health, row.health.detail, str(row.log_file))
    return table


def status() -> None:
    """Show whether each part of the stack is healthy; exit status 1 when any part is down."""
    from services.stack.launcher import stack_status

    settings = load_settings()
    rows = asyncio.run(stack_status(settings))
    console = _console()
    console.print(_table(rows))
    temporal = next(row for row in rows if row.name == "temporal")
    if not temporal.healthy:
        console.print(f"temporal: not reachable at {settings.temporal_address} ({temporal.health.detail}); run `pq up`")
    down_parts = [row.name for row in rows if not row.healthy]
    if down_parts:
        console.print(f"down: {', '.join(down_parts)}")
        raise typer.Exit(1)
