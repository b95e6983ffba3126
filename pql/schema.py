"""The graph schema: tables, typed columns, primary keys, time columns and foreign-key links.

This is the model the data engine produces after ingestion and the compiler checks queries against.
It is loadable from (and writable to) this JSON shape::

    {"tables": {"orders": {"primary_key": "order_id", "time_column": "created_at",
                           "columns": {"order_id": "ID", "price": "numerical",
                                       "created_at": "timestamp"}}},
     "links": [{"table": "orders", "column": "customer_id", "to": "customers"}]}

A column may also be written as an object ``{"stype": "numerical", "dtype": "float64"}`` to carry its
physical dtype. Every constructor validates the schema and raises :class:`~pql.errors.SchemaError`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pql.errors import SchemaError

__all__ = ["SemanticType", "ColumnSchema", "TableSchema", "Link", "GraphSchema"]


class SemanticType(StrEnum):
    """What a column means, which decides what a query may do with it."""

    ID = "ID"
    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"
    MULTICATEGORICAL = "multicategorical"
    TEXT = "text"
    TIMESTAMP = "timestamp"

    @classmethod
    def parse(cls, value: Any, where: str) -> SemanticType:
        """Read a semantic type written in any letter case.

        Args:
            value: the written type (``"numerical"``, ``"ID"``, ``"Categorical"``...).
            where: what the value belongs to, for the error message (``"column orders.price"``).

        Returns:
            The semantic type.

        Raises:
            SchemaError: ``value`` is not one of the six semantic types.
        """
        if isinstance(value, SemanticType):
            return value
        if isinstance(value, str):
            for member in cls:
                if member.value.lower() == value.strip().lower():
                    return member
        names = [m.value for m in cls]
        close = difflib.get_close_matches(str(value), names, n=1)
        hint = f"did you mean {close[0]}?" if close else f"one of: {', '.join(names)}"
        raise SchemaError(f"unknown semantic type {value!r} for {where}", hint=hint)


@dataclass(frozen=True, slots=True)
class ColumnSchema:
    """One column of a table.

    Attributes:
        name: the column name (case-sensitive).
        stype: its semantic type.
        dtype: its physical type as the data engine stores it (``"int64"``...), when known.
    """

    name: str
    stype: SemanticType
    dtype: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """A foreign key: ``table.column`` references the primary key of table ``to``."""

    table: str
    column: str
    to: str

    def to_dict(self) -> dict[str, str]:
        """The link as ``{"table", "column", "to"}``."""
        return {"table": self.table, "column": self.column, "to": self.to}


@dataclass(frozen=True, slots=True)
class TableSchema:
    """One table.

    Attributes:
        name: the table name (case-sensitive).
        columns: the columns by name, in their original order.
        primary_key: the primary key column, or ``None`` for a table without one (a pure fact table).
        time_column: the column holding each row's time, or ``None`` for a static table.
    """

    name: str
    columns: Mapping[str, ColumnSchema]
    primary_key: str | None = None
    time_column: str | None = None

    def __post_init__(self) -> None:
        for key, col in self.columns.items():
            if not isinstance(col, ColumnSchema) or col.name != key:
                raise SchemaError(f"table {self.name}: column entry {key!r} does not match its name")
        for role, col in (("primary key", self.primary_key), ("time column", self.time_column)):
            if col is not None and col not in self.columns:
                raise SchemaError(
                    f"table {self.name}: {role} {col!r} is not one of its columns",
                    hint=_suggest(col, self.columns, prefix=f"{self.name}."),
                )
        if self.time_column is not None and self.columns[self.time_column].stype is not SemanticType.TIMESTAMP:
            raise SchemaError(
                f"table {self.name}: time column {self.time_column!r} must have semantic type timestamp, "
                f"not {self.columns[self.time_column].stype.value}"
            )

    def column(self, name: str) -> ColumnSchema | None:
        """The column called ``name``, or ``None``."""
        return self.columns.get(name)


def _suggest(name: str, candidates: Mapping[str, Any] | list[str], prefix: str = "") -> str | None:
    names = list(candidates)
    close = difflib.get_close_matches(name, names, n=1)
    return f"did you mean {prefix}{close[0]}?" if close else None


_TABLE_KEYS = ("primary_key", "time_column", "columns")


@dataclass(frozen=True, slots=True)
class GraphSchema:
    """Tables and the foreign-key links between them; validated on construction.

    Attributes:
        tables: the tables by name.
        links: the foreign keys.

    Raises:
        SchemaError: a link names a missing table or column, points to a table without a primary key,
            or is declared twice.
    """

    tables: Mapping[str, TableSchema]
    links: tuple[Link, ...] = ()
    _links_from: dict[str, tuple[Link, ...]] = field(init=False, repr=False, compare=False)
    _fk: dict[tuple[str, str], Link] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "links", tuple(self.links))
        links_from: dict[str, list[Link]] = {}
        fk: dict[tuple[str, str], Link] = {}
        for link in self.links:
            src = self.tables.get(link.table)
            if src is None:
                raise SchemaError(f"link {link.table}.{link.column} -> {link.to}: unknown table {link.table!r}",
                                  hint=_suggest(link.table, self.tables))
            if link.column not in src.columns:
                raise SchemaError(
                    f"link {link.table}.{link.column} -> {link.to}: table {link.table} has no column "
                    f"{link.column!r}",
                    hint=_suggest(link.column, src.columns, prefix=f"{link.table}."),
                )
            dst = self.tables.get(link.to)
            if dst is None:
                raise SchemaError(f"link {link.table}.{link.column} -> {link.to}: unknown table {link.to!r}",
                                  hint=_suggest(link.to, self.tables))
            if dst.primary_key is None:
                raise SchemaError(
                    f"link {link.table}.{link.column} -> {link.to}: table {link.to} has no primary key",
                    hint="a foreign key must reference a table with a primary key",
                )
            if (link.table, link.column) in fk:
                raise SchemaError(f"column {link.table}.{link.column} is linked twice")
            fk[(link.table, link.column)] = link
            links_from.setdefault(link.table, []).append(link)
        object.__setattr__(self, "_links_from", {k: tuple(v) for k, v in links_from.items()})
        object.__setattr__(self, "_fk", fk)

    def table(self, name: str) -> TableSchema | None:
        """The table called ``name``, or ``None``."""
        return self.tables.get(name)

    def links_from(self, table: str) -> tuple[Link, ...]:
        """The foreign keys declared on ``table`` (the links leaving it), in declaration order."""
        return self._links_from.get(table, ())

    def foreign_key(self, table: str, column: str) -> Link | None:
        """The link whose foreign key is ``table.column``, or ``None`` when the column is not one."""
        return self._fk.get((table, column))

    # -- JSON -------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any) -> GraphSchema:
        """Build a schema from its JSON-shaped dict (see the module docstring).

        Args:
            data: ``{"tables": {...}, "links": [...]}``.

        Returns:
            The validated schema.

        Raises:
            SchemaError: the dict is malformed or describes an invalid schema.
        """
        if not isinstance(data, Mapping):
            raise SchemaError("a graph schema must be a JSON object with 'tables' and 'links'")
        unknown = set(data) - {"tables", "links"}
        if unknown:
            raise SchemaError(f"unknown key {sorted(unknown)[0]!r} in graph schema",
                              hint="a graph schema has 'tables' and 'links'")
        raw_tables = data.get("tables")
        if not isinstance(raw_tables, Mapping) or not raw_tables:
            raise SchemaError("a graph schema needs a non-empty 'tables' object")
        tables: dict[str, TableSchema] = {}
        for name, raw in raw_tables.items():
            tables[name] = _table_from_dict(name, raw)
        raw_links = data.get("links", [])
        if not isinstance(raw_links, list):
            raise SchemaError("'links' must be a list of {table, column, to} objects")
        links = []
        for i, raw in enumerate(raw_links):
            if not isinstance(raw, Mapping) or set(raw) != {"table", "column", "to"} or not all(
                isinstance(v, str) for v in raw.values()
            ):
                raise SchemaError(f"link #{i + 1} must be an object with string fields table, column and to")
            links.append(Link(raw["table"], raw["column"], raw["to"]))
        return cls(tables=tables, links=tuple(links))

    @classmethod
    def from_json(cls, text: str | bytes) -> GraphSchema:
        """Build a schema from JSON text.

        Raises:
            SchemaError: the text is not valid JSON or describes an invalid schema.
        """
        try:
            data = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise SchemaError(f"graph schema is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The schema as its JSON-shaped dict; ``GraphSchema.from_dict(s.to_dict()) == s``."""
        tables = {}
        for name, table in self.tables.items():
            columns = {
                c.name: (c.stype.value if c.dtype is None else {"stype": c.stype.value, "dtype": c.dtype})
                for c in table.columns.values()
            }
            tables[name] = {"primary_key": table.primary_key, "time_column": table.time_column, "columns": columns}
        return {"tables": tables, "links": [link.to_dict() for link in self.links]}

    def to_json(self, indent: int | None = None) -> str:
        """The schema as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)


def _table_from_dict(name: Any, raw: Any) -> TableSchema:
    if not isinstance(name, str) or not name:
        raise SchemaError(f"table name {name!r} must be a non-empty string")
    if not isinstance(raw, Mapping):
        raise SchemaError(f"table {name} must be an object with primary_key, time_column and columns")
    for key in raw:
        if key not in _TABLE_KEYS:
            close = difflib.get_close_matches(str(key), _TABLE_KEYS, n=1)
            raise SchemaError(f"table {name}: unknown key {key!r}",
                              hint=f"did you mean {close[0]}?" if close else f"keys: {', '.join(_TABLE_KEYS)}")
    raw_columns = raw.get("columns")
    if not isinstance(raw_columns, Mapping) or not raw_columns:
        raise SchemaError(f"table {name} needs a non-empty 'columns' object")
    columns: dict[str, ColumnSchema] = {}
    for col, spec in raw_columns.items():
        where = f"column {name}.{col}"
        dtype = None
        if isinstance(spec, Mapping):
            if "stype" not in spec or set(spec) - {"stype", "dtype"}:
                raise SchemaError(f"{where} must be a semantic type or an object {{stype, dtype}}")
            dtype = spec.get("dtype")
            if dtype is not None and not isinstance(dtype, str):
                raise SchemaError(f"{where}: dtype must be a string")
            spec = spec["stype"]
        columns[col] = ColumnSchema(col, SemanticType.parse(spec, where), dtype)
    pk = raw.get("primary_key")
    time_col = raw.get("time_column")
    for role, value in (("primary_key", pk), ("time_column", time_col)):
        if value is not None and not isinstance(value, str):
            raise SchemaError(f"table {name}: {role} must be a column name or null")
    return TableSchema(name=name, columns=columns, primary_key=pk, time_column=time_col)
