"""``pq training-table ...``: build a query's training table (or prediction table) from ingested tables.

::

    pq training-table build --schema schema.json --output tt/churn \\
        [--tables FOLDER] [--table orders=s3://b/tables/orders/v1 ...] \\
        [--validation-start 2024-09-01] [--holdout-start 2024-10-01] [--anchor-step "30 days"] \\
        [--eval-windows 1] [--max-train-anchors N] [--json] "PREDICT ... FOR EACH ..."
    pq training-table prediction --schema schema.json --output pt/churn [--anchor-time T] "PREDICT ..."

Tables come from ``--table name=URI`` and, for the others, from a folder holding one ingested table per
name (default ``<store>/tables``, where ``pq`` ingestion puts them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

import pql
from pql.errors import PQLError, SchemaError
from data_engine.training_table import SplitBoundaries, build_prediction_table, build_training_table
from data_engine.training_table.errors import TrainingTableError
from data_engine.training_table.sources import find_table_uris
from platform_core.object_store import ObjectStore
from platform_core.settings import load_settings

training_table_app = typer.Typer(
    help="Build training tables (labels over anchor times, split train/val/holdout) and prediction tables.",
    no_args_is_help=True,
    add_completion=False,
)


@training_table_app.callback()
def _group() -> None:
    """Training and prediction tables of predictive queries."""


def _compile(query: str, schema: Path) -> tuple[pql.CompiledQuery, list[str]]:
    """The compiled query and the schema's table names."""
    try:
        text = schema.read_text(encoding="utf-8")
    except OSError as exc:
        raise TrainingTableError(f"cannot read schema file {schema}: {exc}") from None
    try:
        graph = pql.GraphSchema.from_json(text)
        return pql.compile(query, graph), list(graph.tables)
    except SchemaError as exc:
        raise TrainingTableError(f"invalid schema file {schema}: {exc}") from None
    except PQLError as exc:
        raise TrainingTableError(f"invalid query: {exc}") from None


def _tables(store: ObjectStore, folder: Optional[str], pairs: list[str], names: list[str]) -> dict[str, str]:
    """Table URIs from ``--table NAME=URI`` pairs and, for the other names, from the tables folder."""
    given: dict[str, str] = {}
    for pair in pairs:
        name, sep, uri = pair.partition("=")
        if not sep or not name.strip() or not uri.strip():
            raise TrainingTableError(f"--table {pair!r}: write it as NAME=URI")
        given[name.strip()] = uri.strip()
    rest = [n for n in names if n not in given]
    found = find_table_uris(store, folder or store.uri("tables"), rest) if rest else {}
    return {**found, **given}


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


@training_table_app.command("build")
def build(
    query: Annotated[str, typer.Argument(help="The predictive query.")],
    schema: Annotated[Path, typer.Option("--schema", "-s", help="Graph schema JSON file.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Artifact URI (or key under the store).")],
    tables: Annotated[Optional[str], typer.Option("--tables", help="Folder of ingested tables, one per name "
                                                  "(default: <store>/tables).")] = None,
    table: Annotated[Optional[list[str]], typer.Option("--table", help="NAME=URI of one ingested table "
                                                       "(repeatable; overrides --tables).")] = None,
    validation_start: Annotated[Optional[str], typer.Option(help="First validation anchor (ISO time).")] = None,
    holdout_start: Annotated[Optional[str], typer.Option(help="First holdout anchor (ISO time).")] = None,
    anchor_step: Annotated[Optional[str], typer.Option(help="Anchor spacing, e.g. '7 days' (default: the "
                                                       "target window).")] = None,
    eval_windows: Annotated[Optional[int], typer.Option(help="Anchors per validation and holdout split.")] = None,
    max_train_anchors: Annotated[Optional[int], typer.Option(help="Keep only the newest N training anchors.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Build the training table of QUERY: one row per (entity, anchor time) with its label and split."""
    settings = load_settings()
    store = ObjectStore.from_settings(settings)
    compiled, names = _compile(query, schema)
    bounds = SplitBoundaries(validation_start=validation_start, holdout_start=holdout_start, anchor_step=anchor_step,
                             eval_windows=eval_windows, max_train_anchors=max_train_anchors)
    uris = _tables(store, tables, table or [], names)
    result = build_training_table(compiled.plan, uris, output, boundaries=bounds, store=store, settings=settings)
    if json_output:
        _emit({"uri": result.uri, "rows": result.rows, "rows_per_split": result.rows_per_split,
               "task_type": result.task_type, "label_type": result.label_type, "reused": result.reused,
               "anchors": {k: [t.isoformat() for t in v] for k, v in result.anchors.items()},
               "stats": result.metadata.get("stats")})
        return
    view = Table(title=f"Training table {result.uri}" + (" (already built)" if result.reused else ""),
                 caption=f"{result.task_type}; label {result.label_type}; entity key {result.entity_column}")
    for column in ("split", "rows", "anchors", "first anchor", "last anchor"):
        view.add_column(column, justify="right" if column in ("rows", "anchors") else "left")
    for split in ("train", "val", "holdout"):
        times = result.anchors.get(split) or []
        view.add_row(split, f"{result.rows_per_split.get(split, 0):,}", str(len(times)),
                     times[0].isoformat() if times else "-", times[-1].isoformat() if times else "-")
    Console().print(view)


@training_table_app.command("prediction")
def prediction(
    query: Annotated[str, typer.Argument(help="The predictive query.")],
    schema: Annotated[Path, typer.Option("--schema", "-s", help="Graph schema JSON file.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Artifact URI (or key under the store).")],
    tables: Annotated[Optional[str], typer.Option("--tables", help="Folder of ingested tables, one per name "
                                                  "(default: <store>/tables).")] = None,
    table: Annotated[Optional[list[str]], typer.Option("--table", help="NAME=URI of one ingested table "
                                                       "(repeatable; overrides --tables).")] = None,
    anchor_time: Annotated[Optional[str], typer.Option(help="Score at this time (default: the newest data "
                                                       "time).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Build the prediction table of QUERY: the entities to score at one anchor time."""
    settings = load_settings()
    store = ObjectStore.from_settings(settings)
    compiled, names = _compile(query, schema)
    uris = _tables(store, tables, table or [], names)
    result = build_prediction_table(compiled.plan, uris, output, anchor_time, store=store, settings=settings)
    payload = {"uri": result.uri, "rows": result.rows, "reused": result.reused,
               "anchor_time": result.anchor_time.isoformat() if result.anchor_time else None}
    if json_output:
        _emit(payload)
        return
    Console().print(f"prediction table {result.uri}: {result.rows:,} entities at {payload['anchor_time']}"
                    + (" (already built)" if result.reused else ""))
