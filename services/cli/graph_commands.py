"""``pq graph ...``: run the graph store and feature store servers.

::

    pq graph serve-graph --graph URI [--host H] [--port P] [--detach] [--name NAME]
    pq graph serve-features --features URI [--features URI ...] [--host H] [--port P] [--detach] [--name NAME]
    pq graph status
    pq graph stop [NAME ...]

Without ``--detach`` a server runs in the foreground until Ctrl-C (or SIGTERM); with it, the server runs
as a background process under ``PQ_HOME`` (pid file and log under ``run/stores`` and ``logs/stores``)
and the command returns once it answers. ``stop`` stops background servers (all when no name is given).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from platform_core.settings import load_settings

graph_app = typer.Typer(
    help="Serve graph and feature artifacts to trainers (Arrow Flight).",
    no_args_is_help=True,
    add_completion=False,
)

HostOption = Annotated[str, typer.Option("--host", help="Interface to listen on.")]
PortOption = Annotated[int, typer.Option("--port", help="TCP port (0: any free one).", min=0, max=65535)]
DetachOption = Annotated[bool, typer.Option("--detach", help="Run in the background and return once it answers.")]


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


@graph_app.callback()
def _group() -> None:
    """Graph store and feature store servers."""


@graph_app.command("serve-graph")
def serve_graph_command(
    graph: Annotated[str, typer.Option("--graph", help="URI (or key under the store root) of the graph artifact.")],
    host: HostOption = "127.0.0.1",
    port: PortOption = 0,
    detach: DetachOption = False,
    name: Annotated[str, typer.Option("--name", help="Name of the background server.")] = "graph-store",
) -> None:
    """Serve a graph artifact, with sampling, to any number of trainers."""
    settings = load_settings()
    console = _console()
    if detach:
        from graph_engine.service.launch import start_graph_server

        record = start_graph_server(settings, graph, name=name, host=host, port=port or None)
        console.print(f"{record.name}: serving at {record.address} (pid {record.pid}, log {record.log_file})")
        return
    from graph_engine.service.serve import serve_graph

    serve_graph(settings, graph, host=host, port=port, announce=console.print)


@graph_app.command("serve-features")
def serve_features_command(
    features: Annotated[list[str], typer.Option("--features", help="Feature artifact or folder of them (repeatable).")],
    host: HostOption = "127.0.0.1",
    port: PortOption = 0,
    detach: DetachOption = False,
    name: Annotated[str, typer.Option("--name", help="Name of the background server.")] = "feature-store",
) -> None:
    """Serve feature artifacts to any number of trainers."""
    settings = load_settings()
    console = _console()
    if detach:
        from graph_engine.service.launch import start_feature_server

        record = start_feature_server(settings, features, name=name, host=host, port=port or None)
        console.print(f"{record.name}: serving at {record.address} (pid {record.pid}, log {record.log_file})")
        return
    from graph_engine.service.serve import serve_features

    serve_features(settings, features, host=host, port=port, announce=console.print)


@graph_app.command("status")
def status_command() -> None:
    """Show the background store servers of this home; exit status 1 when one does not answer."""
    from graph_engine.service.launch import server_names, server_status

    settings = load_settings()
    table = Table(title="pq store servers")
    for column in ("name", "kind", "pid", "address", "health", "requests", "rss MiB", "log file"):
        table.add_column(column, overflow="fold")
    down = []
    for name in server_names(settings):
        state = server_status(settings, name)
        if state is None:
            continue
        record, report = state.record, state.health or {}
        healthy = report.get("status") == "ok"
        if not healthy:
            down.append(name)
        rss = report.get("memory", {}).get("rss_bytes")
        table.add_row(name, record.kind, str(record.pid) if state.running else "-", record.address,
                      "[green]healthy[/green]" if healthy else f"[red]{state.detail}[/red]",
                      str(sum(report.get("requests", {}).values())) if healthy else "-",
                      f"{rss / (1 << 20):.1f}" if rss else "-", str(record.log_file))
    console = _console()
    console.print(table)
    if down:
        console.print(f"down: {', '.join(down)}")
        raise typer.Exit(1)


@graph_app.command("stop")
def stop_command(
    names: Annotated[Optional[list[str]], typer.Argument(help="Servers to stop (default: all of this home).")] = None,
) -> None:
    """Stop background store servers (they finish the requests in flight first)."""
    from graph_engine.service.launch import server_names, stop_server

    settings = load_settings()
    console = _console()
    for name in names or server_names(settings):
        stopped = stop_server(settings, name)
        console.print(f"{name}: {'stopped' if stopped else 'was not running'}")
