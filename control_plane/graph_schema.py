"""Graphs of registered tables: validation with positioned findings, the PQL graph schema, link suggestions.

What the control plane knows about a table's columns comes from two places: what the data engine inferred
when it ingested the table (``DataTable.inferred``) and what the user declared (``DataTable.columns``,
``primary_key``, ``time_column``), the declaration winning. ``inferred`` has this shape::

    {"columns": [{"name": "price", "dtype": "float64", "stype": "numerical", ...}, ...],
     "primary_key": "order_id" | null, "time_column": "created_at" | null}

Findings are located by ``loc``, a path into the graph's request body (``["links", 2, "source_column"]``),
with a message and, where one exists, a hint ("did you mean orders.price?").
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pql
from control_plane.db.models import DataTable
from data_engine.semantics import ID_WORDS, name_tokens, same_words
from pql import SemanticType
from pql.errors import SchemaError

_INT = {"int8", "int16", "int32", "int64"}
_KEY_DTYPES = _INT | {"string"}


@dataclass(frozen=True)
class ColumnInfo:
    """A column as far as it is known: its physical and semantic types may still be unknown (None)."""

    name: str
    dtype: str | None
    stype: str | None


@dataclass(frozen=True)
class TableInfo:
    """What is known of a table's shape.

    Attributes:
        name: the table name.
        columns: the columns by name, or None when neither ingested nor declared.
        primary_key: the primary key, or None for none.
        primary_key_known: False while the key is to be detected and the table is not ingested yet.
        time_column: the time column, or None.
    """

    name: str
    columns: dict[str, ColumnInfo] | None
    primary_key: str | None
    primary_key_known: bool
    time_column: str | None


def table_info(table: DataTable) -> TableInfo:
    """Merge what the data engine inferred about a table with what the user declared."""
    inferred = table.inferred or {}
    columns: dict[str, ColumnInfo] = {}
    for raw in inferred.get("columns") or []:
        columns[raw["name"]] = ColumnInfo(raw["name"], raw.get("dtype"), raw.get("stype"))
    for raw in table.columns or []:
        known = columns.get(raw["name"])
        columns[raw["name"]] = ColumnInfo(
            raw["name"], raw.get("dtype") or (known.dtype if known else None),
            raw.get("stype") or (known.stype if known else None),
        )
    ingested = bool(inferred)
    if table.primary_key is not None:
        pk, pk_known = table.primary_key or None, True
    else:
        pk, pk_known = inferred.get("primary_key"), ingested
    if table.time_column is not None:
        time_column = table.time_column or None
    else:
        time_column = inferred.get("time_column")
    return TableInfo(table.name, columns or None, pk, pk_known, time_column)


@dataclass(frozen=True)
class LinkRef:
    """A link as written in a request."""

    source_table: str
    source_column: str
    target_table: str
    target_column: str | None = None


@dataclass
class Finding:
    """One problem found in a graph: where, what, and a suggestion."""

    loc: list[str | int]
    message: str
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"loc": self.loc, "message": self.message, "hint": self.hint}


@dataclass
class Validation:
    """The result of validating a graph: errors make it invalid, warnings do not."""

    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors


def _did_you_mean(name: str, candidates: Sequence[str], prefix: str = "") -> str | None:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"did you mean {prefix}{close[0]}?" if close else None


def _family(dtype: str | None) -> str | None:
    if dtype is None:
        return None
    return "integer" if dtype in _INT else dtype


def validate_graph(table_names: Sequence[str], links: Sequence[LinkRef], project_tables: Mapping[str, DataTable]) -> Validation:
    """Check a graph against the project's tables.

    Args:
        table_names: the graph's tables, by name.
        links: its links.
        project_tables: every table of the project, by name.

    Returns:
        The findings: unknown or repeated tables, links to tables outside the graph or to unknown columns,
        links that do not point to a primary key, incompatible key types, columns not known yet.
    """
    result = Validation()
    infos: dict[str, TableInfo] = {}
    for i, name in enumerate(table_names):
        if name in infos:
            result.errors.append(Finding(["tables", i], f"table {name} is listed twice"))
            continue
        table = project_tables.get(name)
        if table is None:
            result.errors.append(Finding(["tables", i], f"unknown table {name}",
                                         _did_you_mean(name, sorted(project_tables))))
            continue
        info = infos[name] = table_info(table)
        _check_table(info, ["tables", i], result)
    seen: dict[tuple[str, str], int] = {}
    for j, link in enumerate(links):
        _check_link(link, j, infos, table_names, project_tables, seen, result)
    return result


def _check_table(info: TableInfo, loc: list[str | int], result: Validation) -> None:
    if info.columns is None:
        result.warnings.append(Finding(loc, f"the columns of table {info.name} are not known yet",
                                       "ingest the table or declare its columns"))
        return
    for role, column in (("primary key", info.primary_key), ("time column", info.time_column)):
        if column is not None and column not in info.columns:
            result.errors.append(Finding(loc, f"the {role} {column} of table {info.name} is not one of its columns",
                                         _did_you_mean(column, sorted(info.columns), f"{info.name}.")))
    if info.time_column in info.columns:
        stype = info.columns[info.time_column].stype
        if stype is not None and stype != SemanticType.TIMESTAMP.value:
            result.errors.append(Finding(loc, f"the time column {info.name}.{info.time_column} has semantic type "
                                         f"{stype}, not timestamp", "set its semantic type to timestamp"))
    for column in info.columns.values():
        if column.stype is None:
            result.warnings.append(Finding(loc, f"column {info.name}.{column.name} has no semantic type yet",
                                           "ingest the table or declare the column's stype"))


def _check_link(link: LinkRef, j: int, infos: Mapping[str, TableInfo], table_names: Sequence[str],
                project_tables: Mapping[str, DataTable], seen: dict[tuple[str, str], int], result: Validation) -> None:
    loc: list[str | int] = ["links", j]
    where = f"link {link.source_table}.{link.source_column} -> {link.target_table}"
    ends = []
    for role, name in (("source_table", link.source_table), ("target_table", link.target_table)):
        if name not in table_names:
            hint = (f"add {name} to the graph's tables" if name in project_tables
                    else _did_you_mean(name, sorted(infos)))
            result.errors.append(Finding(loc + [role], f"{where}: table {name} is not one of the graph's tables", hint))
        ends.append(infos.get(name))
    key = (link.source_table, link.source_column)
    if key in seen:
        result.errors.append(Finding(loc + ["source_column"], f"{where}: column {link.source_table}."
                                     f"{link.source_column} is already linked by link {seen[key]}"))
    seen.setdefault(key, j)
    source, target = ends
    source_column = None
    if source is not None and source.columns is not None:
        source_column = source.columns.get(link.source_column)
        if source_column is None:
            result.errors.append(Finding(loc + ["source_column"], f"{where}: table {source.name} has no column "
                                         f"{link.source_column}",
                                         _did_you_mean(link.source_column, sorted(source.columns), f"{source.name}.")))
    if target is None:
        return
    if not target.primary_key_known:
        result.warnings.append(Finding(loc + ["target_table"], f"{where}: the primary key of {target.name} is not "
                                       "known yet", "ingest the table or declare its primary key"))
        return
    if target.primary_key is None:
        result.errors.append(Finding(loc + ["target_table"], f"{where}: table {target.name} has no primary key",
                                     "a link must point to the primary key of its target; declare one"))
        return
    if link.target_column is not None and link.target_column != target.primary_key:
        result.errors.append(Finding(loc + ["target_column"], f"{where}: {target.name}.{link.target_column} is not "
                                     f"the primary key of {target.name}",
                                     f"a link points to the primary key {target.name}.{target.primary_key}"))
    if source is not None and source.name == target.name and link.source_column == target.primary_key:
        result.errors.append(Finding(loc + ["source_column"], f"{where}: a primary key cannot reference itself"))
    pk_column = target.columns.get(target.primary_key) if target.columns else None
    if source_column is not None and pk_column is not None:
        _check_types(source_column, pk_column, source.name, target.name, loc, where, result)


def _check_types(fk: ColumnInfo, pk: ColumnInfo, source: str, target: str, loc: list[str | int], where: str,
                 result: Validation) -> None:
    for column, table in ((fk, source), (pk, target)):
        if column.dtype is not None and column.dtype not in _KEY_DTYPES:
            result.errors.append(Finding(loc + ["source_column" if column is fk else "target_table"],
                                         f"{where}: key column {table}.{column.name} has type {column.dtype}",
                                         "keys are integers or strings"))
            return
    if fk.dtype is not None and pk.dtype is not None and _family(fk.dtype) != _family(pk.dtype):
        result.errors.append(Finding(loc + ["source_column"], f"{where}: {source}.{fk.name} ({fk.dtype}) and "
                                     f"{target}.{pk.name} ({pk.dtype}) have incompatible types",
                                     "declare the same dtype on both columns"))
    if fk.stype is not None and fk.stype != SemanticType.ID.value:
        result.warnings.append(Finding(loc + ["source_column"], f"{where}: {source}.{fk.name} has semantic type "
                                       f"{fk.stype}; a foreign key is usually an ID", "set its stype to ID"))


class GraphNotReadyError(Exception):
    """The graph's PQL schema cannot be built yet: columns, semantic types or keys are missing or invalid.

    Attributes:
        findings: what is missing or wrong.
    """

    def __init__(self, message: str, findings: list[Finding]) -> None:
        super().__init__(message)
        self.findings = findings


def pql_schema(tables: Sequence[DataTable], links: Sequence[LinkRef]) -> dict[str, Any]:
    """The PQL graph schema JSON (``{"tables": {...}, "links": [...]}``) of a graph.

    Args:
        tables: the graph's tables.
        links: its links (by table name).

    Returns:
        A dict that :meth:`pql.GraphSchema.from_dict` accepts.

    Raises:
        GraphNotReadyError: a table's columns, a column's semantic type or a key is not known, or PQL rejects
            the schema.
    """
    findings: list[Finding] = []
    out_tables: dict[str, Any] = {}
    for i, table in enumerate(tables):
        info = table_info(table)
        loc: list[str | int] = ["tables", i]
        if info.columns is None:
            findings.append(Finding(loc, f"the columns of table {info.name} are not known yet",
                                    "ingest the table or declare its columns"))
            continue
        if not info.primary_key_known:
            findings.append(Finding(loc, f"the primary key of table {info.name} is not known yet",
                                    "ingest the table or declare its primary key (\"\" for none)"))
        columns: dict[str, Any] = {}
        for column in info.columns.values():
            if column.stype is None:
                findings.append(Finding(loc, f"column {info.name}.{column.name} has no semantic type yet",
                                        "ingest the table or declare the column's stype"))
                continue
            columns[column.name] = column.stype if column.dtype is None else {"stype": column.stype,
                                                                              "dtype": column.dtype}
        out_tables[info.name] = {"primary_key": info.primary_key, "time_column": info.time_column,
                                 "columns": columns}
    if findings:
        raise GraphNotReadyError("the graph's schema is not complete yet", findings)
    schema = {"tables": out_tables,
              "links": [{"table": link.source_table, "column": link.source_column, "to": link.target_table}
                        for link in links]}
    try:
        pql.GraphSchema.from_dict(schema)
    except SchemaError as exc:
        raise GraphNotReadyError(f"the graph's schema is invalid: {exc.message}",
                                 [Finding([], exc.message, exc.hint)]) from None
    return schema


@dataclass(frozen=True)
class Suggestion:
    """A link that the names and types of the columns suggest."""

    source_table: str
    source_column: str
    target_table: str
    target_column: str
    score: float
    reasons: tuple[str, ...]


def _stem(name: str) -> list[str]:
    """The words of a name without a trailing id word: ``customer_id`` -> ``[customer]``; ``CustomerKey`` too."""
    tokens = name_tokens(name)
    if tokens and tokens[-1] in ID_WORDS:
        tokens = tokens[:-1]
    return tokens


def _named_after(column: str, table: str) -> bool:
    """Whether an id-named column is named after a table, up to plurals (``customer_id`` and ``customers``)."""
    stem = _stem(column)
    return bool(stem) and name_tokens(column)[-1] in ID_WORDS and same_words(stem, _stem(table))


def suggest_links(tables: Sequence[DataTable], existing: Sequence[LinkRef] = ()) -> list[Suggestion]:
    """Links that the names of the columns suggest, best first.

    A column is suggested as a foreign key to a table when it has the name of that table's primary key
    (``orders.customer_id`` -> ``customers.customer_id``), or when it is an id-named column whose stem
    is the table's name (``orders.customer_id`` -> ``customers.id``). Keys of incompatible types and
    columns already linked are left out.

    Args:
        tables: the tables to consider.
        existing: links already made.

    Returns:
        The suggestions, highest score first.
    """
    infos = [table_info(t) for t in tables]
    linked = {(link.source_table, link.source_column) for link in existing}
    found: dict[tuple[str, str], Suggestion] = {}
    for target in infos:
        if not target.primary_key or not target.columns or target.primary_key not in target.columns:
            continue
        pk = target.columns[target.primary_key]
        generic_pk = not _stem(pk.name)
        for source in infos:
            for column in (source.columns or {}).values():
                if (source.name, column.name) in linked:
                    continue
                if source.name == target.name and column.name == pk.name:
                    continue
                reasons: list[str] = []
                score = 0.0
                if not generic_pk and column.name.lower() == pk.name.lower():
                    score, reasons = 0.9, [f"same name as the primary key {target.name}.{pk.name}"]
                elif _named_after(column.name, target.name):
                    score, reasons = 0.8, [f"{column.name} is named after table {target.name}"]
                if not score:
                    continue
                if column.dtype and pk.dtype:
                    if _family(column.dtype) != _family(pk.dtype):
                        continue
                    reasons.append(f"same key type {column.dtype}")
                if column.stype == SemanticType.ID.value:
                    score += 0.05
                    reasons.append("semantic type ID")
                elif column.stype is not None:
                    score -= 0.3
                    reasons.append(f"but semantic type {column.stype}")
                if source.name == target.name:
                    score -= 0.1
                candidate = Suggestion(source.name, column.name, target.name, pk.name, round(score, 3), tuple(reasons))
                best = found.get((source.name, column.name))
                if best is None or candidate.score > best.score:
                    found[(source.name, column.name)] = candidate
    return sorted(found.values(), key=lambda s: (-s.score, s.source_table, s.source_column))
