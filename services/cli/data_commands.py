"""``pq data ...``: ingest source tables, profile them, and propose or check their links (Spark jobs).

::

    pq data ingest SOURCE TABLE [--output URI] [--delimiter ;] [--no-header] [--encoding latin-1]
                   [--null TOKEN ...] [--dtype COL=TYPE ...] [--date-format COL=PATTERN ...]
                   [--unix COL=s|ms|us ...] [--stype COL=TYPE ...] [--separator COL=CHAR ...]
                   [--primary-key COL] [--time-column COL] [--json]
    pq data profile TABLE_URI [--stype COL=TYPE ...] [--primary-key COL] [--time-column COL] [--json]
    pq data links NAME=TABLE_URI ... [--link TABLE.COLUMN=TO ...] [--json]

Settings (object store, Spark master) come from the ``PQ_*`` environment. Errors a user can fix are
:class:`~platform_core.errors.UserFacingError` s, printed as one line by ``pq``.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from data_engine.ingest.options import ColumnOverride, IngestOptions

data_app = typer.Typer(
    help="Ingest and profile tables, and find the links between them (Spark jobs).",
    no_args_is_help=True,
    add_completion=False,
)


@data_app.callback()
def _group() -> None:
    """Data engine jobs."""


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected COLUMN=VALUE, got {value!r}", param_hint=option)
        out[key] = rest
    return out


def _options(*, fmt=None, delimiter=None, quote=None, escape=None, header=None, encoding=None, multiline=None,
             null=None, dtype=None, date_format=None, unix=None, stype=None, separator=None, primary_key=None,
             time_column=None) -> IngestOptions:
    per_column: dict[str, dict[str, str]] = {}
    for field, values, option in (("dtype", dtype, "--dtype"), ("date_format", date_format, "--date-format"),
                                  ("unix_unit", unix, "--unix"), ("stype", stype, "--stype"),
                                  ("separator", separator, "--separator")):
        for column, value in _pairs(values, option).items():
            per_column.setdefault(column, {})[field] = value
    delimiter = "\t" if delimiter in ("\\t", "tab") else delimiter
    return IngestOptions(
        format=fmt, delimiter=delimiter, quote=quote, escape=escape, header=header, encoding=encoding,
        multiline=multiline, null_tokens=tuple(null) if null else None,
        columns={c: ColumnOverride(**o) for c, o in per_column.items()},
        primary_key=primary_key, time_column=time_column,
    ).validated()


def _emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def _short(value: Any, width: int = 28) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _range(stats: dict[str, Any]) -> str:
    if "min" in stats and stats.get("min") is not None:
        return f"{_short(stats['min'], 20)} .. {_short(stats['max'], 20)}"
    top = stats.get("top_values") or (stats.get("items") or {}).get("top") or []
    sep = stats.get("separator")
    if sep and stats.get("separators", {}).get(sep, {}).get("top_tokens"):
        top = stats["separators"][sep]["top_tokens"]
    return ", ".join(_short(t["value"], 12) for t in top[:3])


def _columns_table(profile: dict[str, Any] | None, dtypes: dict[str, str], notes: dict[str, Any]) -> Table:
    table = Table(title="columns", show_lines=False)
    for header in ("column", "dtype", "semantic type", "nulls", "distinct", "range / top values", "notes"):
        table.add_column(header, overflow="fold")
    columns = (profile or {}).get("columns", {})
    for name, dtype in dtypes.items():
        stats = columns.get(name, {})
        table.add_row(
            name, dtype, stats.get("stype", ""),
            f"{stats['nulls']} ({stats['null_fraction']:.0%})" if "nulls" in stats else "",
            f"{'' if stats.get('distinct_exact') else '~'}{stats['distinct']}" if "distinct" in stats else "",
            _range(stats), "; ".join(notes.get(name, {}).get("notes", [])),
        )
    return table


def _print_proposals(console: Console, profile: dict[str, Any]) -> None:
    for role in ("primary_key", "time_column"):
        proposal = profile.get(role) or {}
        chosen = proposal.get("column") or "none"
        why = "; ".join(proposal.get("reasons", []))
        console.print(f"[bold]{role.replace('_', ' ')}[/]: {chosen} [dim]({why})[/]")
    for issue in profile.get("issues", []):
        console.print(f"[red]{issue['severity']}[/]: {issue['message']}")


@data_app.command("ingest")
def ingest(
    source: Annotated[str, typer.Argument(help="A CSV/Parquet file, folder or prefix (local path, file:// or s3://).")],
    table: Annotated[str, typer.Argument(help="The table's name.")],
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Artifact URI (default: <store>/tables/<table>/v<hash>).")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", help="csv or parquet (default: from extensions).")] = None,
    delimiter: Annotated[Optional[str], typer.Option(help="Field delimiter (',' ';' '\\t' '|'...).")] = None,
    quote: Annotated[Optional[str], typer.Option(help="Quote character.")] = None,
    escape: Annotated[Optional[str], typer.Option(help="Escape character for quotes in quoted fields.")] = None,
    header: Annotated[Optional[bool], typer.Option("--header/--no-header", help="Whether the first line names the columns.")] = None,
    encoding: Annotated[Optional[str], typer.Option(help="Text encoding (utf-8, latin-1, cp1252...).")] = None,
    multiline: Annotated[Optional[bool], typer.Option("--multiline/--no-multiline", help="Quoted fields span lines.")] = None,
    null: Annotated[Optional[list[str]], typer.Option("--null", help="A null token (repeat; replaces the defaults).")] = None,
    dtype: Annotated[Optional[list[str]], typer.Option("--dtype", help="COLUMN=TYPE (string, int64, float64, bool, timestamp, date).")] = None,
    date_format: Annotated[Optional[list[str]], typer.Option("--date-format", help="COLUMN=PATTERN, e.g. created=dd.MM.yyyy.")] = None,
    unix: Annotated[Optional[list[str]], typer.Option("--unix", help="COLUMN=s|ms|us for epoch times.")] = None,
    stype: Annotated[Optional[list[str]], typer.Option("--stype", help="COLUMN=SEMANTIC TYPE.")] = None,
    separator: Annotated[Optional[list[str]], typer.Option("--separator", help="COLUMN=CHAR for multicategorical values.")] = None,
    primary_key: Annotated[Optional[str], typer.Option("--primary-key", help="The primary key column ('' for none).")] = None,
    time_column: Annotated[Optional[str], typer.Option("--time-column", help="The time column ('' for none).")] = None,
    no_profile: Annotated[bool, typer.Option("--no-profile", help="Skip statistics and semantic types.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the ingestion report as JSON.")] = False,
) -> None:
    """Ingest one table into typed Parquet with a report and a profile."""
    from data_engine.ingest import ingest_table, open_table
    from platform_core.object_store import ObjectStore
    from platform_core.settings import load_settings

    options = _options(fmt=fmt, delimiter=delimiter, quote=quote, escape=escape, header=header, encoding=encoding,
                       multiline=multiline, null=null, dtype=dtype, date_format=date_format, unix=unix, stype=stype,
                       separator=separator, primary_key=primary_key, time_column=time_column)
    settings = load_settings()
    console = Console(stderr=as_json)
    with console.status(f"ingesting {table} from {source}"):
        result = ingest_table(source, table, output=output, options=options, settings=settings,
                              profile=not no_profile)
    profile = open_table(ObjectStore.from_settings(settings), result.uri).stats()
    if as_json:
        _emit_json({"uri": result.uri, "table": result.table, "rows": result.rows,
                    "rejected_rows": result.rejected_rows, "dtypes": result.dtypes, "primary_key": result.primary_key,
                    "time_column": result.time_column, "reused": result.reused, "report": result.report})
        return
    state = "found (same content and options)" if result.reused else "written"
    console.print(f"[bold]{result.table}[/]: {result.rows} rows, {result.rejected_rows} rejected, "
                  f"{result.format} -> {result.uri} [dim]({state})[/]")
    dialect = result.report.get("dialect")
    if dialect:
        shown = {"delimiter": repr(dialect["delimiter"]), "quote": repr(dialect["quote"]), "header": dialect["header"],
                 "encoding": dialect["encoding"], "line ends": repr(dialect["line_terminator"]),
                 "multiline": dialect["multiline"]}
        console.print("[dim]" + ", ".join(f"{k} {v}" for k, v in shown.items()) + "[/]")
    console.print(_columns_table(profile, result.dtypes, result.report["columns"]))
    if profile:
        _print_proposals(console, profile)
    sample = result.report["malformed"]["sample"]
    if sample:
        rejected = Table(title=f"malformed rows ({result.rejected_rows}, first {len(sample)})")
        rejected.add_column("reason", overflow="fold")
        rejected.add_column("record / values", overflow="fold")
        for row in sample:
            rejected.add_row(row["reason"], row["record"] or json.dumps(row["values"], default=str))
        console.print(rejected)


@data_app.command("profile")
def profile(
    table_uri: Annotated[str, typer.Argument(help="An ingested table's artifact URI.")],
    stype: Annotated[Optional[list[str]], typer.Option("--stype", help="COLUMN=SEMANTIC TYPE.")] = None,
    separator: Annotated[Optional[list[str]], typer.Option("--separator", help="COLUMN=CHAR for multicategorical values.")] = None,
    primary_key: Annotated[Optional[str], typer.Option("--primary-key", help="The primary key column ('' for none).")] = None,
    time_column: Annotated[Optional[str], typer.Option("--time-column", help="The time column ('' for none).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the profile as JSON.")] = False,
) -> None:
    """Show a table's statistics and semantic types (re-profiled when overrides are given)."""
    from data_engine.ingest import open_table, profile_table
    from platform_core.object_store import ObjectStore
    from platform_core.settings import load_settings

    options = _options(stype=stype, separator=separator, primary_key=primary_key, time_column=time_column)
    settings = load_settings()
    document = profile_table(table_uri, options=options, settings=settings)
    if as_json:
        _emit_json(document)
        return
    console = Console()
    table = open_table(ObjectStore.from_settings(settings), table_uri)
    time_range = document.get("time_range") or {}
    span = f", {time_range['min']} .. {time_range['max']}" if time_range else ""
    console.print(f"[bold]{document['table']}[/]: {document['rows']} rows{span} [dim]({document['uri']})[/]")
    console.print(_columns_table(document, table.dtypes, table.report()["columns"]))
    _print_proposals(console, document)


@data_app.command("links")
def links(
    tables: Annotated[list[str], typer.Argument(help="NAME=TABLE_URI for each table of the graph.")],
    link: Annotated[Optional[list[str]], typer.Option("--link", help="A declared link TABLE.COLUMN=TO (repeat); none: propose links.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the links document as JSON.")] = False,
) -> None:
    """Propose links between tables (or check declared ones) with coverage and degree statistics."""
    from data_engine.links import link_report
    from platform_core.settings import load_settings

    uris = _pairs(tables, "TABLES")
    declared = None
    if link:
        declared = []
        for source, target in _pairs(link, "--link").items():
            table_name, dot, column = source.partition(".")
            if not dot:
                raise typer.BadParameter(f"expected TABLE.COLUMN=TO, got {source}={target}", param_hint="--link")
            declared.append({"table": table_name, "column": column, "to": target})
    document = link_report(uris, declared, settings=load_settings())
    if as_json:
        _emit_json(document)
        return
    console = Console()
    out = Table(title="links" if declared else "proposed links")
    for header in ("link", "key", "score", "coverage", "dangling", "degree mean / max"):
        out.add_column(header)
    scores = {(p["table"], p["column"]): p["score"] for p in document.get("proposed") or []}
    for entry in document["links"]:
        stats = entry.get("statistics") or {}
        degree = stats.get("degree") or {}
        out.add_row(f"{entry['table']}.{entry['column']} -> {entry['to']}", entry.get("to_column") or "",
                    f"{scores[(entry['table'], entry['column'])]:.2f}" if (entry["table"], entry["column"]) in scores else "",
                    f"{stats['coverage']:.1%}" if stats else "", str(stats.get("dangling_keys", "")),
                    f"{degree['mean']:.2f} / {degree['max']}" if degree.get("mean") is not None else "")
    console.print(out)
    for issue in document["issues"]:
        console.print(f"[{'red' if issue['severity'] == 'error' else 'yellow'}]{issue['severity']}[/]: {issue['message']}")
    if any(issue["severity"] == "error" for issue in document["issues"]):
        raise typer.Exit(2)

