"""Semantic types of columns, and primary-key and time-column proposals, from dtypes and statistics.

A column's semantic type says what a model may do with it (:class:`pql.schema.SemanticType`): an ``ID``
links rows, a ``numerical`` is a quantity, a ``categorical`` one of a few labels, a ``multicategorical``
a set of labels written with a separator (MovieLens genres ``Comedy|Drama``), ``text`` free text and
``timestamp`` a point in time. The rules, applied to the statistics of
:func:`data_engine.statistics.table_statistics`:

- dates and times are ``timestamp``; booleans ``categorical``; lists ``multicategorical``;
- a name ending in ``id`` / ``key`` / ``uuid`` (``customer_id``, ``movieId``) makes an integer or string
  column an ``ID``;
- integers with at most two distinct values are ``categorical`` (flags), other numbers ``numerical``;
- strings whose values contain ``|``, ``;`` or ``,`` often enough, with a small vocabulary of short tokens,
  are ``multicategorical``; long or many-worded strings are ``text``; strings with few distinct values
  (at most 1000 and at most half the values) are ``categorical``; the rest are ``text``.

Everything here is pure Python over those statistics; every decision carries its reasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from platform_core.errors import UserFacingError
from pql.schema import SemanticType

__all__ = ["SemanticType", "SemanticColumn", "name_tokens", "Proposal", "SemanticTypeError", "infer_semantic_types",
           "primary_key_candidates", "propose_primary_key", "propose_time_column", "word_forms", "same_words", "id_named"]

ID_WORDS = {"id", "key", "uuid", "guid"}
#: Integer columns named like codes are labels, not quantities.
CODE_WORDS = {"code", "zip", "zipcode", "postcode", "postal", "phone", "type", "status", "category", "kind"}
#: A time column whose values all lie within this span is a load or import time, not an event time.
MIN_TIME_SPAN_S = 3600
MAX_CATEGORIES = 1000
MAX_TOKENS = 1000
TEXT_MIN_LENGTH = 40
TEXT_MIN_WORDS = 3
MULTICATEGORICAL_MIN_FRACTION = 0.05
_TIME_GOOD = {"created", "create", "date", "time", "timestamp", "ts", "at", "datetime", "when", "occurred",
              "event", "day", "dt", "placed", "ordered", "start", "started", "posted", "signup", "registered"}
_TIME_BAD = {"update", "updated", "modified", "changed", "last", "deleted", "birth", "dob", "birthday",
             "expiry", "expires", "due", "end", "ended"}

_NUMERIC = {"int64", "float64", "int32", "int16", "int8", "float32"}
_TEMPORAL = {"timestamp", "date"}


class SemanticTypeError(UserFacingError, ValueError):
    """A semantic type override that the column's values cannot have."""


@dataclass(frozen=True)
class SemanticColumn:
    """The semantic type of one column, why it was chosen, and its list separator if multicategorical."""

    name: str
    stype: SemanticType
    dtype: str
    reasons: tuple[str, ...]
    separator: str | None = None
    origin: str = "inferred"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stype": self.stype.value, "reasons": list(self.reasons), "origin": self.origin}
        if self.separator:
            out["separator"] = self.separator
        return out


@dataclass(frozen=True)
class Proposal:
    """A proposed (or declared) primary key or time column.

    Attributes:
        column: the chosen column, or None.
        reasons: why it was chosen, or why none was.
        candidates: the other columns that qualified, best first.
        origin: ``inferred`` or ``override``.
    """

    column: str | None
    reasons: tuple[str, ...]
    candidates: tuple[str, ...] = ()
    origin: str = "inferred"

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "reasons": list(self.reasons), "candidates": list(self.candidates),
                "origin": self.origin}


def name_tokens(name: str) -> list[str]:
    """Lower-case words of a column or table name: ``createdAt`` -> ``["created", "at"]``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def word_forms(word: str) -> set[str]:
    """The word and the singulars it may be a plural of: ``movies`` -> {movies, movie, movi, movy}.

    Naive English is enough because two names are compared through these sets: ``movies`` and ``movie``
    share ``movie``, ``categories`` and ``category`` share ``category``, ``addresses`` and ``address``
    share ``address``.
    """
    w = word.lower()
    forms = {w}
    if w.endswith("ies") and len(w) > 4:
        forms.add(w[:-3] + "y")
    if w.endswith("es") and len(w) > 3:
        forms.add(w[:-2])
    if w.endswith("s") and not w.endswith("ss") and len(w) > 2:
        forms.add(w[:-1])
    return forms


def same_words(a: list[str], b: list[str]) -> bool:
    """Whether two names' words are the same, word by word, up to plurals."""
    return len(a) == len(b) and all(word_forms(x) & word_forms(y) for x, y in zip(a, b))


def id_named(name: str) -> bool:
    """Whether a name says the column identifies something (``id``, ``customer_id``, ``movieId``, ``sku_key``)."""
    tokens = name_tokens(name)
    return bool(tokens) and tokens[-1] in ID_WORDS


_COMPATIBLE = {
    SemanticType.NUMERICAL: lambda d: d in _NUMERIC or d == "bool",
    SemanticType.TIMESTAMP: lambda d: d in _TEMPORAL,
    SemanticType.MULTICATEGORICAL: lambda d: d == "string" or d.startswith("list<"),
    SemanticType.ID: lambda d: d == "string" or d.startswith("int"),
    SemanticType.TEXT: lambda d: d == "string",
    SemanticType.CATEGORICAL: lambda d: not d.startswith("list<"),
}


def _override(table: str, name: str, dtype: str, stype_value: str, separator: str | None) -> SemanticColumn:
    stype = SemanticType.parse(stype_value, f"column {table}.{name}")
    if not _COMPATIBLE[stype](dtype):
        hint = " (override its dtype too)" if dtype == "string" else ""
        raise SemanticTypeError(
            f"column {table}.{name}: semantic type {stype.value} does not fit its dtype {dtype}{hint}")
    if stype is SemanticType.MULTICATEGORICAL and dtype == "string" and not separator:
        raise SemanticTypeError(f"column {table}.{name}: a multicategorical string column needs a separator "
                                "(e.g. '|')")
    return SemanticColumn(name, stype, dtype, ("override",), separator if stype is SemanticType.MULTICATEGORICAL
                          else None, origin="override")


def _multicategorical_separator(stats: Mapping[str, Any]) -> tuple[str | None, str]:
    distinct = stats.get("distinct") or 0
    for sep, info in (stats.get("separators") or {}).items():
        fraction = info.get("fraction") or 0.0
        tokens = info.get("distinct_tokens")
        total = info.get("total_tokens") or 0
        per_value = info.get("tokens_per_value") or 1.0
        if fraction < MULTICATEGORICAL_MIN_FRACTION or tokens is None or total == 0:
            continue
        mean_length = ((stats.get("length") or {}).get("mean") or 0.0) / per_value
        words = (stats.get("mean_words") or 0.0) / per_value
        if tokens <= MAX_TOKENS and tokens <= total / 2 and tokens < max(distinct, 2) and mean_length <= 30 \
                and words <= 4:
            return sep, (f"{fraction:.0%} of values contain {sep!r}; {tokens} distinct tokens of "
                         f"{mean_length:.0f} characters on average")
    return None, ""


def _infer_one(name: str, dtype: str, stats: Mapping[str, Any]) -> SemanticColumn:
    count = stats.get("count") or 0
    distinct = stats.get("distinct") or 0
    if dtype in _TEMPORAL:
        return SemanticColumn(name, SemanticType.TIMESTAMP, dtype, (f"dtype {dtype}",))
    if dtype == "bool":
        return SemanticColumn(name, SemanticType.CATEGORICAL, dtype, ("dtype bool",))
    if dtype.startswith("list<"):
        return SemanticColumn(name, SemanticType.MULTICATEGORICAL, dtype, (f"dtype {dtype}",))
    if dtype in _NUMERIC:
        if dtype.startswith("int") and id_named(name):
            return SemanticColumn(name, SemanticType.ID, dtype, ("integer column named like an identifier",))
        if dtype.startswith("int") and set(name_tokens(name)) & CODE_WORDS:
            return SemanticColumn(name, SemanticType.CATEGORICAL, dtype, ("integer column named like a code",))
        if dtype.startswith("int") and 0 < distinct <= 2:
            return SemanticColumn(name, SemanticType.CATEGORICAL, dtype, (f"integers with {distinct} distinct values",))
        return SemanticColumn(name, SemanticType.NUMERICAL, dtype, (f"dtype {dtype}",))
    if dtype == "string":
        if id_named(name):
            return SemanticColumn(name, SemanticType.ID, dtype, ("string column named like an identifier",))
        separator, why = _multicategorical_separator(stats)
        if separator:
            return SemanticColumn(name, SemanticType.MULTICATEGORICAL, dtype, (why,), separator)
        if count == 0:
            return SemanticColumn(name, SemanticType.TEXT, dtype, ("no values",))
        length = (stats.get("length") or {}).get("mean") or 0.0
        words = stats.get("mean_words") or 0.0
        if length >= TEXT_MIN_LENGTH or words >= TEXT_MIN_WORDS:
            return SemanticColumn(name, SemanticType.TEXT, dtype,
                                  (f"long values ({length:.0f} characters, {words:.1f} words on average)",))
        if distinct <= 2 or (distinct <= MAX_CATEGORIES and distinct <= count / 2):
            return SemanticColumn(name, SemanticType.CATEGORICAL, dtype,
                                  (f"{distinct} distinct values in {count}",))
        return SemanticColumn(name, SemanticType.TEXT, dtype, (f"{distinct} distinct values in {count}",))
    return SemanticColumn(name, SemanticType.TEXT, dtype, (f"dtype {dtype} has no better semantic type",))


def infer_semantic_types(table: str, dtypes: Mapping[str, str], stats: Mapping[str, Mapping[str, Any]],
                         overrides: Mapping[str, Any] | None = None) -> dict[str, SemanticColumn]:
    """The semantic type of every column.

    Args:
        table: the table's name, for messages.
        dtypes: each column's dtype.
        stats: each column's statistics (``table_statistics(...)["columns"]``).
        overrides: per column, an object with ``stype`` and ``separator`` attributes (a
            :class:`~data_engine.ingest.options.ColumnOverride`) or a semantic type name.

    Returns:
        The columns' semantic types, in ``dtypes`` order.

    Raises:
        SemanticTypeError: an override does not fit its column's dtype.
    """
    overrides = overrides or {}
    result = {}
    for name, dtype in dtypes.items():
        override = overrides.get(name)
        stype = override if isinstance(override, str) else getattr(override, "stype", None)
        separator = None if isinstance(override, str) else getattr(override, "separator", None)
        if stype:
            result[name] = _override(table, name, dtype, stype, separator)
        else:
            inferred = _infer_one(name, dtype, stats.get(name, {}))
            if separator and inferred.stype is SemanticType.MULTICATEGORICAL:
                inferred = SemanticColumn(name, inferred.stype, dtype, inferred.reasons, separator, "override")
            result[name] = inferred
    return result


def _key_score(table: str, name: str) -> int:
    tokens = name_tokens(name)
    if tokens in (["id"], ["key"]) or (id_named(name) and same_words(tokens[:-1], name_tokens(table))):
        return 3
    return 2 if id_named(name) else 1


def primary_key_candidates(columns: Mapping[str, SemanticColumn], stats: Mapping[str, Mapping[str, Any]],
                           rows: int) -> list[str]:
    """Columns that may be the primary key (ID, no nulls, about as many distinct values as rows).

    Their exact distinct counts decide (:func:`data_engine.statistics.exact_distinct`).
    """
    if rows == 0:
        return []
    out = []
    for name, column in columns.items():
        s = stats.get(name, {})
        if column.stype is SemanticType.ID and s.get("nulls", 1) == 0 and (s.get("distinct") or 0) >= 0.9 * rows:
            out.append(name)
    return out


def propose_primary_key(table: str, columns: Mapping[str, SemanticColumn], unique: Mapping[str, bool]) -> Proposal:
    """The primary key: a unique, non-null ID column, preferring ``id`` and ``<table>_id`` names.

    Args:
        table: the table's name (``customers`` makes ``customer_id`` the best name).
        columns: the semantic columns, in table order.
        unique: for each candidate, whether its values are unique and non-null (exact).

    Returns:
        The proposal (``column`` None when no column qualifies).
    """
    order = list(columns)
    ranked = sorted((c for c, ok in unique.items() if ok), key=lambda c: (-_key_score(table, c), order.index(c)))
    if not ranked:
        return Proposal(None, ("no ID column is unique and non-null",))
    best = ranked[0]
    score = _key_score(table, best)
    why = {3: "named like the table's key", 2: "named like an identifier", 1: "first unique ID column"}[score]
    return Proposal(best, (f"unique and non-null; {why}",), tuple(ranked[1:]))


def _time_score(name: str, null_fraction: float) -> int:
    tokens = set(name_tokens(name))
    score = 0
    if tokens & _TIME_GOOD:
        score += 2
    if tokens & _TIME_BAD:
        score -= 3
    if null_fraction > 0.5:
        score -= 2
    return score


def _span_s(stats: Mapping[str, Any]) -> float:
    """Seconds between a time column's min and max (ISO strings), 0 when unknown."""
    import datetime as dt

    low, high = stats.get("min"), stats.get("max")
    if not low or not high:
        return 0.0
    parse = lambda text: dt.datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    return (parse(high) - parse(low)).total_seconds()


def propose_time_column(table: str, columns: Mapping[str, SemanticColumn],
                        stats: Mapping[str, Mapping[str, Any]]) -> Proposal:
    """The time column: a non-constant timestamp, preferring created/date/time names and few nulls.

    Columns whose values all lie within an hour (an import time such as Sakila's ``last_update``) are
    passed over; names that say "last modified" or "birth" rank last.

    Returns:
        The proposal (``column`` None when the table has no usable time column: a static table).
    """
    order = list(columns)
    constant, candidates = [], []
    for name, column in columns.items():
        if column.stype is not SemanticType.TIMESTAMP:
            continue
        s = stats.get(name, {})
        if (s.get("count") or 0) == 0 or (s.get("distinct") or 0) <= 1 or _span_s(s) < MIN_TIME_SPAN_S:
            constant.append(name)
            continue
        candidates.append(name)
    if not candidates:
        why = f"timestamp columns with (nearly) one value on every row: {', '.join(constant)}" if constant \
            else "no timestamp column"
        return Proposal(None, (why,))
    ranked = sorted(candidates, key=lambda c: (-_time_score(c, stats[c].get("null_fraction", 0.0)),
                                               stats[c].get("null_fraction", 0.0), order.index(c)))
    best = ranked[0]
    reasons = [f"timestamp with {stats[best].get('distinct')} distinct values"]
    if _time_score(best, 0.0) > 0:
        reasons.append("named like an event time")
    if constant:
        reasons.append(f"passed over (values within {MIN_TIME_SPAN_S // 60} minutes: a load time): "
                       f"{', '.join(constant)}")
    return Proposal(best, tuple(reasons), tuple(ranked[1:]))
