"""``pq quickstart``: the main job on a running stack (``pq up``) through its REST API.

The demo folder's tables are registered, the graph built, a churn and a product recommendation query trained
(GNN beside the LightGBM / most-popular baseline), both scored; the holdout metrics, predictions and the
console and Temporal UI addresses are printed. The key used is a member key of the ``demo`` project made
for the run and revoked after it, unless ``PQ_API_KEY`` names one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from platform_core.settings import load_settings
from services.cli.api_commands import metrics_table


def quickstart(
    data: Annotated[Path | None, typer.Option("--data", help="The demo folder (default: <PQ_HOME>/demo).")] = None,
    run_mode: Annotated[str, typer.Option("--run-mode", help="AutoML run mode: fast, normal or best.")] = "fast",
    timeout: Annotated[float, typer.Option("--timeout", help="Longest wait for each job, in seconds.")] = 3600.0,
) -> None:
    """Train and apply the demo's churn and recommendation queries on the running stack."""
    from control_plane.auth import create_project_key
    from control_plane.client import PQClient
    from control_plane.quickstart import PROJECT, run_quickstart

    settings = load_settings()
    folder = data or settings.home / "demo"
    console = Console()
    given = settings.api_key
    project_id, key_id, token = (None, None, given) if given else create_project_key(
        settings, PROJECT, name="pq quickstart", description="The e-commerce demo")
    with PQClient(settings.api_url, token) as api:
        try:
            report = run_quickstart(api, folder, run_mode=run_mode, timeout_s=timeout,
                                    on_event=lambda line: console.print(f"  {line}", highlight=False))
        finally:
            if key_id is not None:
                api.revoke_api_key(project_id, key_id)
    for outcome in report.queries:
        console.print(metrics_table(f"{outcome.name} ({outcome.task_type}): holdout metrics", outcome.comparison))
        console.print(f"{outcome.predicted_rows} predictions: {outcome.predictions_uri}", highlight=False)
        for row in outcome.preview:
            console.print(f"  {row}", highlight=False)
    seconds = ", ".join(f"{stage} {value:.0f} s" for stage, value in report.seconds.items())
    console.print(f"main job done ({seconds})")
    console.print(f"console:     {settings.api_url}/  (project {report.project_id})", highlight=False)
    console.print(f"Temporal UI: {settings.temporal_ui_url}", highlight=False)
