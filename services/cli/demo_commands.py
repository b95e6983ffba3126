"""``pq demo-data``: write the synthetic e-commerce demo data set to a folder or bucket."""

from __future__ import annotations

from enum import Enum
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from data_engine.demo_data import DemoDataReport, generate
from platform_core.object_store import ObjectStore
from platform_core.settings import load_settings


class DemoFormat(str, Enum):
    parquet = "parquet"
    csv = "csv"


def demo_data(
    scale: float = typer.Option(1.0, "--scale", help="Size multiplier: 1 is 10,000 customers and ~10^5 orders; "
                                                       "fractions allowed."),
    out: Optional[str] = typer.Option(None, "--out", help="Output folder: a local path, file:// or s3:// URI "
                                                          "(default: <PQ_HOME>/demo)."),
    fmt: DemoFormat = typer.Option(DemoFormat.parquet, "--format", case_sensitive=False,
                                   help="File format of the tables."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same scale, seed and format give the same bytes."),
) -> None:
    """Generate the e-commerce demo data (customers, products, orders, reviews, sessions) and its schema.json."""
    settings = load_settings()
    target = out if out else str(settings.home / "demo")
    store = ObjectStore.from_settings(settings)
    with Progress(TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TextColumn("customer chunks"),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("demo", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = generate(target, scale=scale, seed=seed, fmt=fmt.value, store=store, progress=advance)
    Console().print(summary_table(report))


def summary_table(report: DemoDataReport) -> Table:
    """A rich table of the tables written, their row counts and files."""
    table = Table(title=f"Demo data (scale {report.scale:g}, seed {report.seed}) in {report.out_uri}",
                  caption=f"{report.total_rows:,} rows in {report.seconds:.1f} s; graph schema: {report.schema_uri}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("file")
    for name, rows in report.rows.items():
        table.add_row(name, f"{rows:,}", report.files[name])
    return table
