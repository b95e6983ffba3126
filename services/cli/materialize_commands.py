"""``pq materialize ...``: turn ingested tables into the graph artifact and feature artifacts of a schema.

::

    pq materialize graph SCHEMA.json --out graphs/shop [--tables FOLDER] [--table orders=URI ...]
                        [--max-categories 1000] [--json]

Tables come from ``--table name=URI`` and, for the others, from a folder holding one ingested table per
name (default ``<store>/tables``, where ingestion puts them). Prints what was written (or found already
written from the same inputs); ``--json`` prints the result as one JSON object.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from data_engine.materialize import FeatureOptions, MaterializeError, MaterializeResult, materialize_graph
from data_engine.materialize.sources import tables_in_folder
from platform_core.object_store import ObjectStore
from platform_core.settings import load_settings
from pql.errors import SchemaError
from pql.schema import GraphSchema

materialize_app = typer.Typer(
    help="Materialize ingested tables: node indexes, the CSR graph and feature blocks.",
    no_args_is_help=True,
    add_completion=False,
)


@materialize_app.callback()
def _group() -> None:
    """Graph and feature materialization."""


def _schema(path: Path) -> GraphSchema:
    try:
        return GraphSchema.from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MaterializeError(f"cannot read schema file {path}: {exc.strerror or exc}") from None
    except SchemaError as exc:
        raise MaterializeError(f"invalid schema file {path}: {exc}") from None


def _table_uris(store: ObjectStore, schema: GraphSchema, pairs: list[str], folder: str) -> dict[str, str]:
    uris: dict[str, str] = {}
    for pair in pairs:
        name, sep, uri = pair.partition("=")
        if not sep or not name or not uri:
            raise MaterializeError(f"--table {pair!r}: expected NAME=URI")
        if name not in schema.tables:
            raise MaterializeError(f"--table {name}: the schema has no table {name!r} "
                                   f"(it has {', '.join(schema.tables)})")
        uris[name] = uri if "://" in uri or not Path(uri).exists() else Path(uri).resolve().as_uri()
    rest = [t for t in schema.tables if t not in uris]
    if rest:
        base = folder if "://" in folder or not Path(folder).exists() else Path(folder).resolve().as_uri()
        uris.update(tables_in_folder(store, base, rest))
    missing = [t for t in schema.tables if t not in uris]
    if missing:
        raise MaterializeError(f"no ingested table for {', '.join(missing)} in {folder} (pass --table NAME=URI)")
    return uris


def graph(
    schema: Annotated[Path, typer.Argument(help="Graph schema JSON file (tables, keys, time columns, links).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output folder: URI, local path or key in the store.")],
    tables: Annotated[Optional[str], typer.Option(
        "--tables", help="Folder with one ingested table per schema table (default: <store>/tables).")] = None,
    table: Annotated[Optional[list[str]], typer.Option(
        "--table", help="NAME=URI of one ingested table; repeatable; wins over --tables.")] = None,
    max_categories: Annotated[int, typer.Option(
        "--max-categories", help="Vocabulary size per categorical column; rarer values share one code.")] = 1000,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Build node indexes, the graph artifact and the feature artifacts of every table of SCHEMA."""
    settings = load_settings()
    store = ObjectStore.from_settings(settings)
    graph_schema = _schema(schema)
    uris = _table_uris(store, graph_schema, table or [], tables or store.uri("tables"))
    status = Console(stderr=True)
    with status.status("materializing") as spinner:
        result = materialize_graph(graph_schema, uris, out, options=FeatureOptions(max_categories=max_categories),
                                   settings=settings, store=store,
                                   progress=lambda message: spinner.update(f"materializing: {message}"))
    if json_output:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
        return
    Console().print(summary_table(result))


def summary_table(result: MaterializeResult) -> Table:
    """A rich table of the nodes and edges written, with the foreign keys that gave no edge."""
    how = "found from an earlier run" if result.reused else f"built in {result.seconds:.1f} s"
    table = Table(title=f"Graph in {result.output_uri}", caption=f"{how}; graph: {result.graph_uri}")
    table.add_column("nodes / link")
    table.add_column("count", justify="right")
    table.add_column("null keys", justify="right")
    table.add_column("dangling keys", justify="right")
    for name, n in result.num_nodes.items():
        table.add_row(name, f"{n:,}", "", "")
    for key, counts in result.links.items():
        fact, column, target = key.split("__")
        table.add_row(f"{fact}.{column} -> {target}", f"{counts['num_edges']:,}", f"{counts['null_keys']:,}",
                      f"{counts['dangling_keys']:,}")
    return table


materialize_app.command("graph")(graph)
