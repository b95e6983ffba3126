"""Choose each column's physical type from its values, and build the Spark expressions that cast it.

Every candidate type is tried on every value of a string column in one Spark aggregation (parse-failure
counts per candidate); a type is chosen only when (at least ``type_threshold`` of) the non-null values
parse, in this order: boolean, integer (or unix epoch time when the column's name or range says so),
decimal number (also with a decimal comma), ISO date/time, then the common date formats of
:data:`DATE_PATTERNS`. Anything else stays a string, with a note when a type came close. Integers with
leading zeros (postal codes, IMDb ids) stay strings so that no digit is lost.

Null tokens (``\\N``, ``null``...) become nulls before any parsing; "soft" tokens (``NA``, ``N/A``...)
become nulls only in columns that get a non-string type. A value that does not parse in a column whose
type was given by the user (or chosen under a threshold below 1) makes its row rejected, with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from data_engine.ingest.options import IngestOptions
from data_engine.semantics import name_tokens
from data_engine.spark_session import col

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import DataType

TRUE_WORDS = ("true", "t", "yes", "y")
FALSE_WORDS = ("false", "f", "no", "n")

_CLOCK = r"( \d{1,2}:\d{2}(:\d{2}(\.\d{1,3})?)?)?"
_CLOCK_S = r"( \d{1,2}:\d{2}(:\d{2})?)?"
#: Spark datetime patterns tried on string columns after ISO 8601, in this order. When a column parses
#: both as month-first and day-first (every day <= 12) month-first wins, and the report says so.
DATE_PATTERNS = (
    "M/d/yyyy[ H:mm[:ss[.SSS]]]",
    "M/d/yyyy h:mm[:ss] a",
    "d/M/yyyy[ H:mm[:ss[.SSS]]]",
    "d.M.yyyy[ H:mm[:ss[.SSS]]]",
    "yyyy/M/d[ H:mm[:ss[.SSS]]]",
    "d-M-yyyy[ H:mm[:ss]]",
    "d-MMM-yyyy[ H:mm[:ss]]",
    "d MMM yyyy[ H:mm[:ss]]",
    "MMM d, yyyy",
    "MMMM d, yyyy",
)
# The shape each pattern can match: values of another shape fail without running Java's parser, whose
# failures are exceptions (slow when millions of integers are tried as dates).
_PATTERN_SHAPES = {
    "M/d/yyyy[ H:mm[:ss[.SSS]]]": r"^\d{1,2}/\d{1,2}/\d{4}" + _CLOCK + "$",
    "M/d/yyyy h:mm[:ss] a": r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}(:\d{2})? [AaPp][Mm]$",
    "d/M/yyyy[ H:mm[:ss[.SSS]]]": r"^\d{1,2}/\d{1,2}/\d{4}" + _CLOCK + "$",
    "d.M.yyyy[ H:mm[:ss[.SSS]]]": r"^\d{1,2}\.\d{1,2}\.\d{4}" + _CLOCK + "$",
    "yyyy/M/d[ H:mm[:ss[.SSS]]]": r"^\d{4}/\d{1,2}/\d{1,2}" + _CLOCK + "$",
    "d-M-yyyy[ H:mm[:ss]]": r"^\d{1,2}-\d{1,2}-\d{4}" + _CLOCK_S + "$",
    "d-MMM-yyyy[ H:mm[:ss]]": r"^\d{1,2}-[A-Za-z]{3}-\d{4}" + _CLOCK_S + "$",
    "d MMM yyyy[ H:mm[:ss]]": r"^\d{1,2} [A-Za-z]{3} \d{4}" + _CLOCK_S + "$",
    "MMM d, yyyy": r"^[A-Za-z]{3} \d{1,2}, \d{4}$",
    "MMMM d, yyyy": r"^[A-Za-z]+ \d{1,2}, \d{4}$",
}
_INTEGER = r"^[+-]?\d{1,19}$"
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(Infinity|inf|NaN)$"
_ISO = r"^\d{4}-\d{1,2}-\d{1,2}([T ]\d{1,2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$"
_DECIMAL_COMMA = r"^[+-]?\d+,\d+$"
_LEADING_ZERO = r"^[+-]?0\d"

# Plausible epoch ranges (1973..2103 in seconds; 2000..2103 in milliseconds and microseconds).
_UNIX_RANGES = {"s": (1e8, 4.2e9), "ms": (9.4e11, 4.2e12), "us": (9.4e14, 4.2e15)}
_TIME_WORDS = {"time", "timestamp", "ts", "date", "datetime", "epoch", "created", "updated", "modified",
               "at", "when", "day", "dt"}


def time_named(name: str) -> bool:
    """Whether a column's name says it holds times (``timestamp``, ``created_at``, ``event_time``...)."""
    return bool(set(name_tokens(name)) & _TIME_WORDS)


def unix_unit_for(name: str, low: float | None, high: float | None) -> str | None:
    """The epoch unit of an integer column, or None when it does not look like times.

    A time-like name and values in an epoch range give that range's unit; without such a name only
    milliseconds and microseconds (13 and 16 digit values are hardly anything else) are accepted.
    """
    if low is None or high is None:
        return None
    named = time_named(name)
    for unit, (start, end) in _UNIX_RANGES.items():
        if start <= low and high <= end and (named or unit != "s"):
            return unit
    return None


@dataclass
class ColumnType:
    """The type chosen for one column and how its values are parsed.

    Attributes:
        name: the column.
        dtype: the output type (``string``, ``int64``, ``float64``, ``bool``, ``timestamp``, ``date`` or,
            for Parquet sources, a nested type such as ``list<string>``).
        parser: ``string``, ``int``, ``float``, ``decimal_comma``, ``bool``, ``iso``, ``pattern``, ``unix``
            for string columns; ``source`` for typed (Parquet) columns kept as they are; ``cast`` for
            typed columns cast to an override; ``nanos`` for nanosecond epochs read as integers.
        date_format: the Spark pattern of a ``pattern`` parser.
        unix_unit: the unit of a ``unix`` parser.
        origin: ``inferred``, ``override`` or ``source``.
        strict: whether a value that does not parse rejects its row.
        failures: how many non-null values do not parse (when measured; None when not).
        notes: what a user may want to know (near misses, ambiguities, leading zeros).
    """

    name: str
    dtype: str
    parser: str
    date_format: str | None = None
    unix_unit: str | None = None
    origin: str = "inferred"
    strict: bool = False
    notes: list[str] = field(default_factory=list)
    failures: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dtype": self.dtype, "parser": self.parser, "origin": self.origin}
        if self.strict and self.failures is not None:
            out["unparsed_values"] = self.failures
        if self.date_format:
            out["date_format"] = self.date_format
        if self.unix_unit:
            out["unix_unit"] = self.unix_unit
        if self.notes:
            out["notes"] = list(self.notes)
        return out


# ---- expressions --------------------------------------------------------------------------------
def nulled(c: "Column", tokens: Iterable[str]) -> "Column":
    """``c`` with the null tokens turned into nulls."""
    from pyspark.sql import functions as F

    tokens = list(tokens)
    return F.when(c.isin(tokens), F.lit(None)).otherwise(c) if tokens else c


def typed_input(c: "Column", options: IngestOptions) -> "Column":
    """The trimmed value a typed parser sees: hard and soft null tokens are nulls."""
    from pyspark.sql import functions as F

    v = F.trim(nulled(c, options.hard_nulls))
    return nulled(v, options.soft_nulls)


def _to_long(v: "Column") -> "Column":
    # Guarded: Spark's try_cast catches an exception per failing value, which is slow on text columns.
    from pyspark.sql import functions as F

    return F.when(v.rlike(_INTEGER), v.try_cast("bigint"))


def parse(v: "Column", parser: str, date_format: str | None = None, unix_unit: str | None = None,
          dtype: str = "timestamp") -> "Column":
    """The typed value of the trimmed string ``v``; null where it does not parse."""
    from pyspark.sql import functions as F

    if parser == "int":
        return _to_long(v)
    if parser == "float":
        return F.when(v.rlike(_NUMBER), v.try_cast("double"))
    if parser == "decimal_comma":
        return F.when(v.rlike(_DECIMAL_COMMA), F.regexp_replace(v, ",", ".").try_cast("double"))
    if parser == "bool":
        low = F.lower(v)
        return F.when(low.isin(list(TRUE_WORDS)), F.lit(True)).when(low.isin(list(FALSE_WORDS)), F.lit(False))
    if parser == "iso":
        value = F.when(v.rlike(_ISO), v.try_cast("timestamp"))
        return F.to_date(value) if dtype == "date" else value
    if parser == "pattern":
        value = F.try_to_timestamp(v, F.lit(date_format))
        shape = _PATTERN_SHAPES.get(date_format)
        if shape is not None:
            value = F.when(v.rlike(shape), value)
        return F.to_date(value) if dtype == "date" else value
    if parser == "unix":
        if unix_unit == "s":
            value = F.timestamp_seconds(F.when(v.rlike(_NUMBER), v.try_cast("double")))
        elif unix_unit == "ms":
            value = F.timestamp_millis(_to_long(v))
        else:
            value = F.timestamp_micros(_to_long(v))
        return F.to_date(value) if dtype == "date" else value
    if parser == "string":
        return v
    raise ValueError(f"unknown parser {parser!r}")


def _candidates() -> list[tuple[str, str | None]]:
    return [("bool", None), ("int", None), ("float", None), ("decimal_comma", None), ("iso", None)] + [
        ("pattern", p) for p in DATE_PATTERNS]


def _fail(v: "Column", parsed: "Column") -> "Column":
    from pyspark.sql import functions as F

    return F.sum(F.when(v.isNotNull() & parsed.isNull(), 1).otherwise(0))


# ---- inference ----------------------------------------------------------------------------------
def infer_string_types(df: "DataFrame", columns: list[str], options: IngestOptions, *,
                       corrupt_column: str | None = None) -> tuple[dict[str, ColumnType], dict[str, int]]:
    """Choose types for string columns in one Spark aggregation.

    The columns are stacked into (column index, value) pairs and aggregated by index, so the aggregation
    has the same few dozen expressions whatever the number of columns: Spark compiles it once per
    process and reuses it for every table.

    Args:
        df: the raw data (string columns as read).
        columns: the string columns to type (override columns included: their failures are counted).
        options: null tokens, overrides and the type threshold.
        corrupt_column: the reader's corrupt-record column, whose non-null rows are counted.

    Returns:
        (column types by name, ``{"rows": n, "corrupt": n}``).
    """
    from pyspark.sql import functions as F

    bad = col(corrupt_column).isNotNull() if corrupt_column else F.lit(False)
    if not columns:
        row = df.agg(F.count(F.lit(1)).alias("rows"), F.sum(F.when(bad, 1).otherwise(0)).alias("corrupt")).collect()[0]
        return {}, {"rows": int(row["rows"]), "corrupt": int(row["corrupt"] or 0)}
    stacked = df.select(F.explode(F.array(*[F.struct(F.lit(i).alias("i"), col(c).alias("s"))
                                            for i, c in enumerate(columns)])).alias("e"), bad.alias("bad"))
    raw = F.col("s")
    # Each candidate's verdict is a column of a projection, computed once per value; the aggregation then
    # only adds flags up, which keeps the generated code small (it compiles in a fraction of the time).
    stacked = stacked.select(F.col("e.i").alias("i"), F.col("e.s").alias("s"), "bad",
                             typed_input(F.col("e.s"), options).alias("v"))
    v, index = F.col("v"), F.col("i")
    flags = {"hard_null": nulled(raw, options.hard_nulls).isNull(), "leading": v.rlike(_LEADING_ZERO),
             "undecodable": raw.contains("\ufffd"), "long": _to_long(v)}
    for i, name in enumerate(columns):
        override = options.column(name)
        parser, fmt, unit = _override_parser(override) if override.dtype else (None, None, None)
        if parser is not None:
            flags[f"override_{i}"] = (index == i) & v.isNotNull() & parse(v, parser, fmt, unit, override.dtype).isNull()
    if options.infer_types:
        for parser, fmt in _candidates():
            flags[f"fail|{parser}|{fmt or ''}"] = v.isNotNull() & parse(v, parser, fmt).isNull()
    flagged = stacked.select("i", "s", "bad", "v", *[e.alias(k) for k, e in flags.items()])

    def count_of(flag: str):
        return F.sum(F.col(f"`{flag}`").cast("int"))

    aggs = [
        F.count(F.lit(1)).alias("rows"), count_of("bad").alias("corrupt"),
        (F.count(F.lit(1)) - count_of("hard_null")).alias("strings"), F.count(v).alias("values"),
        count_of("leading").alias("leading_zero"), count_of("undecodable").alias("undecodable"),
        F.min("long").alias("int_min"), F.max("long").alias("int_max"),
    ]
    for key in flags:
        if key.startswith("override_"):
            aggs += [count_of(key).alias(f"{key.replace('override_', 'override_fail_')}"),
                     F.min(F.when(F.col(key), v)).alias(key.replace("override_", "override_example_"))]
        elif key.startswith("fail|"):
            aggs.append(count_of(key).alias(key))
            parser = key.split("|")[1]
            if parser in ("int", "float", "iso"):
                aggs.append(F.min(F.when(F.col(f"`{key}`"), v)).alias(f"example|{parser}"))
    stacked = flagged
    found = {int(r["i"]): r.asDict() for r in stacked.groupBy("i").agg(*aggs).collect()}
    any_row = next(iter(found.values()), {"rows": 0, "corrupt": 0})
    measured = {"rows": int(any_row["rows"] or 0), "corrupt": int(any_row["corrupt"] or 0)}
    result = {}
    for i, name in enumerate(columns):
        m = dict(found.get(i, {}))
        if f"override_fail_{i}" in m:
            m["override_fail"] = m[f"override_fail_{i}"]
            m["override_example"] = m[f"override_example_{i}"]
        result[name] = _choose(name, m, options)
    return result, measured


def _override_parser(override) -> tuple[str | None, str | None, str | None]:
    if override.unix_unit:
        return "unix", None, override.unix_unit
    if override.date_format:
        return "pattern", override.date_format, None
    return {"int64": ("int", None, None), "float64": ("float", None, None), "bool": ("bool", None, None),
            "timestamp": (None, None, None), "date": (None, None, None)}.get(override.dtype, (None, None, None))


def _choose(name: str, m: dict[str, Any], options: IngestOptions) -> ColumnType:
    override = options.column(name)
    inferred = _infer(name, m, options) if options.infer_types else ColumnType(name, "string", "string")
    if m.get("undecodable"):
        inferred.notes.append(f"{m['undecodable']} values contain undecodable bytes (wrong encoding?)")
    if not override.dtype:
        return inferred
    parser, fmt, unit = _override_parser(override)
    if override.dtype == "string":
        return ColumnType(name, "string", "string", origin="override", notes=inferred.notes)
    if parser is None:  # timestamp/date without a format: the detected format, else ISO
        if inferred.dtype in ("timestamp", "date"):
            parser, fmt, unit = inferred.parser, inferred.date_format, inferred.unix_unit
        else:
            parser = "iso"
    failures = m.get("override_fail") if "override_fail" in m else None
    if failures:
        inferred.notes.append(f"{failures} values are not valid {override.date_format or override.dtype} "
                              f"(e.g. {m.get('override_example')!r}): their rows are rejected")
    return ColumnType(name, override.dtype, parser, fmt, unit, origin="override", strict=True,
                      notes=inferred.notes, failures=None if failures is None else int(failures))


def _with_failures(t: ColumnType, failures: int) -> ColumnType:
    t.failures = failures if t.strict else 0
    return t


def _infer(name: str, m: dict[str, Any], options: IngestOptions) -> ColumnType:
    values = m.get("values") or 0
    notes: list[str] = []
    if values == 0:
        if m.get("strings"):
            return ColumnType(name, "string", "string", notes=["only null tokens and soft null tokens"])
        return ColumnType(name, "string", "string", notes=["every value is null"])
    allowed = int((1.0 - options.type_threshold) * values)
    strict = allowed > 0

    def fails(parser: str, fmt: str | None = None) -> int:
        return int(m.get(f"fail|{parser}|{fmt or ''}") or 0)

    def ok(parser: str, fmt: str | None = None) -> bool:
        return fails(parser, fmt) <= allowed

    if ok("bool"):
        return _with_failures(ColumnType(name, "bool", "bool", strict=strict and fails("bool") > 0), fails("bool"))
    leading = int(m.get("leading_zero") or 0)
    if ok("int"):
        if leading:
            return ColumnType(name, "string", "string",
                              notes=[f"integers kept as strings: {leading} values have leading zeros"])
        unit = unix_unit_for(name, m.get("int_min"), m.get("int_max"))
        if unit:
            return _with_failures(ColumnType(name, "timestamp", "unix", unix_unit=unit, strict=strict and fails("int") > 0,
                                             notes=[f"integers read as unix time in {unit}"]), fails("int"))
        return _with_failures(ColumnType(name, "int64", "int", strict=strict and fails("int") > 0), fails("int"))
    if ok("float") and not leading:
        return _with_failures(ColumnType(name, "float64", "float", strict=strict and fails("float") > 0),
                              fails("float"))
    if ok("decimal_comma") and not leading:
        return _with_failures(ColumnType(name, "float64", "decimal_comma", notes=["decimal comma"],
                                         strict=strict and fails("decimal_comma") > 0), fails("decimal_comma"))
    if ok("iso"):
        return _with_failures(ColumnType(name, "timestamp", "iso", strict=strict and fails("iso") > 0), fails("iso"))
    matches = [p for p in DATE_PATTERNS if ok("pattern", p)]
    if matches:
        chosen = matches[0]
        if chosen.startswith("M/d") and any(p.startswith("d/M") for p in matches):
            notes.append(f"dates read month first ({chosen}); every day is <= 12, so day first would also "
                         "parse: override date_format if that is wrong")
        return _with_failures(ColumnType(name, "timestamp", "pattern", date_format=chosen, notes=notes,
                                         strict=strict and fails("pattern", chosen) > 0), fails("pattern", chosen))
    for parser, label in (("int", "int64"), ("float", "float64"), ("iso", "timestamp")):
        failed = fails(parser)
        if 0 < failed <= max(3, values // 100) and failed <= values // 10:
            example = m.get(f"example|{parser}")
            notes.append(f"kept as string: {values - failed} of {values} values parse as {label}, "
                         f"{failed} do not (e.g. {example!r}); override dtype to reject those rows")
            break
    return ColumnType(name, "string", "string", notes=notes)


# ---- typed (Parquet) columns ----------------------------------------------------------------------
def dtype_name(data_type: "DataType") -> str:
    """The platform's dtype name of a Spark type (``LongType`` -> ``int64``)."""
    from pyspark.sql import types as T

    simple = {T.StringType: "string", T.LongType: "int64", T.DoubleType: "float64", T.BooleanType: "bool",
              T.TimestampType: "timestamp", T.DateType: "date", T.BinaryType: "binary",
              T.IntegerType: "int32", T.ShortType: "int16", T.ByteType: "int8", T.FloatType: "float32",
              T.TimestampNTZType: "timestamp_ntz"}
    for cls, name in simple.items():
        if type(data_type) is cls:
            return name
    if isinstance(data_type, T.DecimalType):
        return "decimal"
    if isinstance(data_type, T.ArrayType):
        return f"list<{dtype_name(data_type.elementType)}>"
    return data_type.simpleString()


def normalize_typed(name: str, data_type: "DataType", nanos: bool) -> tuple["Column", ColumnType]:
    """The expression that normalises one typed source column, and its column type.

    Integers become int64, floats and decimals float64, dates and timestamps (with or without time zone,
    nanoseconds included) UTC timestamps in microseconds, structs and maps JSON strings.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    c = col(name)
    if nanos:
        # Nanosecond timestamps arrive as int64 epoch nanoseconds (Spark has no nanosecond type).
        return F.timestamp_micros(F.floor(c / 1000).cast("bigint")), ColumnType(
            name, "timestamp", "nanos", origin="source", notes=["nanosecond timestamps truncated to microseconds"])
    if isinstance(data_type, (T.ByteType, T.ShortType, T.IntegerType)):
        return c.cast("bigint"), ColumnType(name, "int64", "source", origin="source")
    if isinstance(data_type, (T.FloatType, T.DecimalType)):
        return c.cast("double"), ColumnType(name, "float64", "source", origin="source")
    if isinstance(data_type, (T.TimestampNTZType, T.DateType)):
        return c.cast("timestamp"), ColumnType(name, "timestamp", "source", origin="source")
    if isinstance(data_type, (T.StructType, T.MapType)):
        return F.to_json(c), ColumnType(name, "string", "source", origin="source", notes=["nested value as JSON"])
    return c, ColumnType(name, dtype_name(data_type), "source", origin="source")


def spark_type(dtype: str) -> str:
    """The Spark SQL type name of a platform dtype."""
    return {"string": "string", "int64": "bigint", "float64": "double", "bool": "boolean",
            "timestamp": "timestamp", "date": "date"}[dtype]
