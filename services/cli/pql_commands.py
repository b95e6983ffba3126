"""``pq pql ...``: check a predictive query against a graph schema without running anything.

Contract (other tools rely on it)::

    pq pql check --schema SCHEMA.json [--json] "QUERY"

exits 0 for a valid query and, with ``--json``, prints
``{"task_type": ..., "entity": "table.pk", "metrics": [...], "plan": {...}}``; for an invalid query, or a
schema file that is missing, unreadable or invalid, it exits 2 and prints
``{"error": {"line": L, "column": C, "message": ..., "hint": ...}}`` (line and column are null for schema
errors). Without ``--json`` the result (or the error with its caret snippet) is printed for people.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

import pql
from pql.errors import PQLError, SchemaError

pql_app = typer.Typer(
    help="Check predictive queries (PQL) against a graph schema: task type, metrics and execution plan.",
    no_args_is_help=True,
    add_completion=False,
)

EXIT_INVALID = 2


@pql_app.callback()
def _group() -> None:
    """Predictive Query Language tools."""


def _load_schema(path: Path) -> pql.GraphSchema:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaError(f"schema file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"cannot read schema file {path}: {exc}") from None
    try:
        return pql.GraphSchema.from_json(text)
    except SchemaError as exc:
        raise SchemaError(f"invalid schema file {path}: {exc.message}", hint=exc.hint) from None


def _emit_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    sys.stdout.flush()


@pql_app.command("check")
def check(
    query: Annotated[str, typer.Argument(help="The predictive query, e.g. \"PREDICT ... FOR EACH t.pk\".")],
    schema: Annotated[Path, typer.Option("--schema", "-s", help="Graph schema JSON file.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Compile QUERY against the schema; print its task type, entity, metrics and plan.

    Exits 0 when the query is valid, 2 when the query or the schema file is invalid.
    """
    console = Console(highlight=False, soft_wrap=True)
    try:
        graph = _load_schema(schema)
        compiled = pql.compile(query, graph)
    except (PQLError, SchemaError) as exc:
        if json_output:
            _emit_json({"error": exc.to_dict()})
        else:
            _print_error(console, exc)
        raise typer.Exit(EXIT_INVALID) from None

    if json_output:
        _emit_json({"task_type": compiled.task_type.value, "entity": compiled.entity,
                    "metrics": list(compiled.metrics), "plan": compiled.plan.to_dict()})
        return
    console.print(Text.assemble(("valid query", "bold green")))
    console.print(Text.assemble(("task type: ", "bold"), compiled.task_type.value))
    console.print(Text.assemble(("entity:    ", "bold"), compiled.entity))
    console.print(Text.assemble(("metrics:   ", "bold"), ", ".join(compiled.metrics)))
    console.print(Text("plan:", style="bold"))
    console.print(Text(compiled.plan.explain().rstrip("\n")))


def _print_error(console: Console, exc: PQLError | SchemaError) -> None:
    if isinstance(exc, PQLError) and exc.line is not None:
        head = f"error at line {exc.line}, column {exc.column}: "
    else:
        head = "error: "
    console.print(Text.assemble((head, "bold red"), exc.message))
    snippet = getattr(exc, "snippet", "")
    if snippet:
        source, caret = snippet.split("\n", 1)
        console.print(Text("  " + source))
        console.print(Text("  " + caret, style="bold red"))
    if exc.hint:
        console.print(Text.assemble(("hint: ", "bold yellow"), exc.hint))
