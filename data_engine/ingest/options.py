"""What a user can say about a source table: format options and per-column overrides.

Everything left as ``None`` is detected from the data (see :mod:`data_engine.ingest.sniff` and
:mod:`data_engine.ingest.types`); anything set wins over detection. The same object travels from the CLI,
the API and the workflows into :func:`data_engine.ingest.ingest_table` and is recorded in the manifest.
"""

from __future__ import annotations

import codecs
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

from platform_core.errors import UserFacingError
from pql.schema import SemanticType

#: Physical column types of ingested tables (Arrow: string, int64, double, bool, timestamp[us, UTC], date32).
DTYPES = ("string", "int64", "float64", "bool", "timestamp", "date")
_DTYPE_ALIASES = {
    "str": "string", "utf8": "string", "varchar": "string",
    "int": "int64", "integer": "int64", "long": "int64", "bigint": "int64",
    "float": "float64", "double": "float64", "decimal": "float64", "number": "float64",
    "boolean": "bool",
    "datetime": "timestamp", "timestamp[us]": "timestamp",
}
UNIX_UNITS = ("s", "ms", "us")
FORMATS = ("csv", "parquet")

#: Always null, in every column.
DEFAULT_NULL_TOKENS = ("", "\\N", "null", "NULL", "Null")
#: Null only in columns whose values are numbers, booleans or dates (a country code "NA" stays a string).
DEFAULT_SOFT_NULL_TOKENS = ("NA", "N/A", "n/a", "NaN", "nan", "None", "#N/A", "-")


class IngestOptionsError(UserFacingError, ValueError):
    """An ingestion option or column override that cannot be used; the message names it."""


def normalize_dtype(value: str, where: str) -> str:
    """The canonical dtype name for ``value`` (``"int"`` -> ``"int64"``).

    Raises:
        IngestOptionsError: not a known dtype.
    """
    key = value.strip().lower()
    key = _DTYPE_ALIASES.get(key, key)
    if key not in DTYPES:
        raise IngestOptionsError(f"{where}: unknown dtype {value!r} (expected one of {', '.join(DTYPES)})")
    return key


def java_charset(encoding: str) -> str:
    """The Java charset name Spark understands for a Python or Java encoding name.

    Raises:
        IngestOptionsError: the encoding is unknown.
    """
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise IngestOptionsError(f"unknown encoding {encoding!r} (e.g. utf-8, latin-1, cp1252)") from None
    return {"utf-8": "UTF-8", "iso8859-1": "ISO-8859-1", "latin-1": "ISO-8859-1", "cp1252": "windows-1252",
            "utf-16": "UTF-16", "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE", "ascii": "US-ASCII",
            "iso8859-15": "ISO-8859-15"}.get(name, name)


@dataclass(frozen=True)
class ColumnOverride:
    """What the user says about one column; ``None`` fields are detected.

    Attributes:
        dtype: the physical type (one of :data:`DTYPES`); values that do not parse make their row rejected.
        date_format: a Spark datetime pattern for string dates, e.g. ``"dd.MM.yyyy HH:mm"`` (implies
            ``timestamp`` unless ``dtype`` is ``date``).
        unix_unit: ``s``, ``ms`` or ``us`` for integer epoch times (implies ``timestamp``).
        stype: the semantic type (``ID``, ``numerical``, ``categorical``, ``multicategorical``, ``text``,
            ``timestamp``).
        separator: the separator of a multicategorical column's values (e.g. ``"|"``).
    """

    dtype: str | None = None
    date_format: str | None = None
    unix_unit: str | None = None
    stype: str | None = None
    separator: str | None = None

    def validated(self, column: str) -> "ColumnOverride":
        """A copy with canonical names.

        Raises:
            IngestOptionsError: an unknown dtype, unit or semantic type, or contradicting fields.
        """
        where = f"column {column!r}"
        dtype = normalize_dtype(self.dtype, where) if self.dtype else None
        if self.unix_unit is not None and self.unix_unit not in UNIX_UNITS:
            raise IngestOptionsError(f"{where}: unix unit must be one of {', '.join(UNIX_UNITS)}, got {self.unix_unit!r}")
        if self.unix_unit and self.date_format:
            raise IngestOptionsError(f"{where}: give either a date format or a unix unit, not both")
        if (self.unix_unit or self.date_format) and dtype not in (None, "timestamp", "date"):
            raise IngestOptionsError(f"{where}: a date format or unix unit needs dtype timestamp or date, not {dtype}")
        if (self.unix_unit or self.date_format) and dtype is None:
            dtype = "timestamp"
        stype = SemanticType.parse(self.stype, where).value if self.stype else None
        if self.separator is not None and len(self.separator) != 1:
            raise IngestOptionsError(f"{where}: a separator is one character, got {self.separator!r}")
        return replace(self, dtype=dtype, stype=stype)


@dataclass(frozen=True)
class IngestOptions:
    """Options for ingesting one table; ``None`` means "detect".

    Attributes:
        format: ``csv`` or ``parquet`` (default: from the files' extensions).
        delimiter: one of the field separator characters (``,`` ``;`` tab ``|`` or any single character).
        quote: the quote character.
        escape: the character that escapes a quote inside a quoted field (default: the quote itself).
        header: whether the first line names the columns.
        encoding: the text encoding (``utf-8``, ``latin-1``, ``cp1252``...).
        multiline: whether quoted fields span lines (slower: each file is then read by one task).
        null_tokens: strings that mean null in every column (default :data:`DEFAULT_NULL_TOKENS`).
        soft_null_tokens: strings that mean null in number, boolean and date columns only
            (default :data:`DEFAULT_SOFT_NULL_TOKENS`).
        columns: per-column overrides by column name.
        primary_key: the primary key column; ``""`` says the table has none.
        time_column: the time column; ``""`` says the table has none.
        infer_types: detect column types (otherwise every CSV column stays a string unless overridden).
        type_threshold: the fraction of a column's values that must parse for a type to be chosen; below
            1.0 the rows whose value does not parse are rejected (and reported) instead.
    """

    format: str | None = None
    delimiter: str | None = None
    quote: str | None = None
    escape: str | None = None
    header: bool | None = None
    encoding: str | None = None
    multiline: bool | None = None
    null_tokens: tuple[str, ...] | None = None
    soft_null_tokens: tuple[str, ...] | None = None
    columns: Mapping[str, ColumnOverride] = field(default_factory=dict)
    primary_key: str | None = None
    time_column: str | None = None
    infer_types: bool = True
    type_threshold: float = 1.0

    def validated(self) -> "IngestOptions":
        """A copy with canonical names and validated overrides.

        Raises:
            IngestOptionsError: the first invalid option, named.
        """
        fmt = self.format.lower() if self.format else None
        if fmt is not None and fmt not in FORMATS:
            raise IngestOptionsError(f"format must be csv or parquet, got {self.format!r}")
        for name, value in (("delimiter", self.delimiter), ("quote", self.quote), ("escape", self.escape)):
            if value is not None and len(value) != 1:
                raise IngestOptionsError(f"{name} must be one character, got {value!r}")
        if self.delimiter is not None and self.delimiter == self.quote:
            raise IngestOptionsError("delimiter and quote must differ")
        encoding = java_charset(self.encoding) if self.encoding else None
        if not 0.5 <= self.type_threshold <= 1.0:
            raise IngestOptionsError(f"type_threshold must be between 0.5 and 1.0, got {self.type_threshold}")
        columns = {}
        for name, override in dict(self.columns).items():
            if isinstance(override, Mapping):
                override = ColumnOverride(**override)
            columns[name] = override.validated(name)
        null_tokens = tuple(self.null_tokens) if self.null_tokens is not None else None
        soft = tuple(self.soft_null_tokens) if self.soft_null_tokens is not None else None
        return replace(self, format=fmt, encoding=encoding, columns=columns, null_tokens=null_tokens,
                       soft_null_tokens=soft)

    @property
    def hard_nulls(self) -> tuple[str, ...]:
        return self.null_tokens if self.null_tokens is not None else DEFAULT_NULL_TOKENS

    @property
    def soft_nulls(self) -> tuple[str, ...]:
        tokens = self.soft_null_tokens if self.soft_null_tokens is not None else DEFAULT_SOFT_NULL_TOKENS
        return tuple(t for t in tokens if t not in self.hard_nulls)

    def column(self, name: str) -> ColumnOverride:
        """The override of ``name`` (an empty one when there is none)."""
        return self.columns.get(name) or ColumnOverride()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (recorded in manifests and compared for idempotency)."""
        raw = asdict(self)
        raw["columns"] = {k: {f: v for f, v in asdict(o).items() if v is not None}
                          for k, o in sorted(self.columns.items())}
        for key in ("null_tokens", "soft_null_tokens"):
            if raw[key] is not None:
                raw[key] = list(raw[key])
        return raw

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "IngestOptions":
        """The inverse of :meth:`to_dict` (unknown keys are an error).

        Raises:
            IngestOptionsError: an unknown key or an invalid value.
        """
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise IngestOptionsError(f"unknown ingest option {unknown[0]!r} (known: {', '.join(sorted(known))})")
        values = dict(raw)
        columns = {}
        for name, fields in (raw.get("columns") or {}).items():
            unknown_fields = sorted(set(fields) - set(ColumnOverride.__dataclass_fields__))
            if unknown_fields:
                raise IngestOptionsError(f"column {name!r}: unknown override {unknown_fields[0]!r} "
                                         f"(known: {', '.join(ColumnOverride.__dataclass_fields__)})")
            columns[name] = ColumnOverride(**fields)
        values["columns"] = columns
        for key in ("null_tokens", "soft_null_tokens"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values).validated()
