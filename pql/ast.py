"""The typed syntax tree of a predictive query.

Every node is a frozen dataclass carrying the :class:`Span` of source text it was parsed from, so that
every later pass can point its errors at the right place. The tree is syntax only: names are not yet
checked against a schema, and windows are kept as written (value and unit).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Span", "ColumnRef", "Literal", "TupleLiteral", "Window", "Aggregation", "Comparison", "InList",
    "IsNull", "StringMatch", "And", "Or", "Not", "RankTop", "Classify", "Forecast", "ForEach",
    "ForEquals", "ForIn", "Query", "Operand", "Condition", "Expr", "ForClause", "AGGREGATIONS", "UNITS",
    "UNIT_SECONDS", "walk",
]

#: The aggregation functions of PQL.
AGGREGATIONS = ("COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX", "FIRST", "LAST", "LIST_DISTINCT")
#: Window units, in their canonical (plural) spelling.
UNITS = ("seconds", "minutes", "hours", "days", "weeks", "months")
#: Seconds per unit; a month counts as 30 days (the plan also records the unit as written).
UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800,
                "months": 2592000}


@dataclass(frozen=True, slots=True)
class Span:
    """Where a node comes from: 1-based line/column, exclusive end column, 0-based offsets [start, end)."""

    line: int
    column: int
    end_line: int
    end_column: int
    start: int
    end: int

    def to(self, other: Span) -> Span:
        """The span from the start of ``self`` to the end of ``other``."""
        return Span(self.line, self.column, other.end_line, other.end_column, self.start, other.end)


@dataclass(frozen=True, slots=True)
class ColumnRef:
    """``table.column``, or ``table.*`` (then ``column`` is ``"*"``)."""

    table: str
    column: str
    span: Span

    @property
    def is_star(self) -> bool:
        """True for ``table.*``."""
        return self.column == "*"

    def __str__(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant. ``kind`` is one of int, float, bool, string, date, datetime, null.

    Dates and datetimes are written as quoted strings (``'2024-01-15'``); ``value`` keeps the text and
    ``kind`` says that it reads as a valid ISO date or datetime.
    """

    kind: str
    value: int | float | bool | str | None
    span: Span

    def __str__(self) -> str:
        if self.kind == "null":
            return "NULL"
        if self.kind == "bool":
            return "true" if self.value else "false"
        if self.kind in ("string", "date", "datetime"):
            return "'" + str(self.value).replace("'", "''") + "'"
        return repr(self.value)


@dataclass(frozen=True, slots=True)
class TupleLiteral:
    """``(literal, ...)`` after IN."""

    items: tuple[Literal, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Window:
    """``start, end[, unit]`` of an aggregation, as written; ``None`` stands for ``-INF``.

    Attributes:
        start: window start in ``unit`` (exclusive), ``None`` for ``-INF``.
        end: window end in ``unit`` (inclusive), ``None`` if written as ``-INF`` (always an error).
        unit: canonical unit name (one of :data:`UNITS`).
        unit_given: whether the query wrote the unit (days is the default).
    """

    start: int | float | None
    end: int | float | None
    unit: str
    unit_given: bool
    span: Span

    def seconds(self, value: int | float | None) -> int | None:
        """``value`` (in this window's unit) in whole seconds; ``None`` stays ``None``."""
        return None if value is None else round(value * UNIT_SECONDS[self.unit])


@dataclass(frozen=True, slots=True)
class Aggregation:
    """``FUNC(table.column [WHERE filter], start, end[, unit])``; ``func`` is upper case."""

    func: str
    target: ColumnRef
    filter: Condition | None
    window: Window
    span: Span


@dataclass(frozen=True, slots=True)
class Comparison:
    """``left op right`` with op one of ``= != < <= > >=`` (``<>`` is read as ``!=``)."""

    op: str
    left: Operand
    right: Operand
    span: Span


@dataclass(frozen=True, slots=True)
class InList:
    """``operand [NOT] IN (literal, ...)``."""

    operand: Operand
    values: TupleLiteral
    negated: bool
    span: Span


@dataclass(frozen=True, slots=True)
class IsNull:
    """``operand IS [NOT] NULL``."""

    operand: Operand
    negated: bool
    span: Span


@dataclass(frozen=True, slots=True)
class StringMatch:
    """``operand [NOT] LIKE|CONTAINS|STARTS WITH|ENDS WITH literal``; op is upper case with one space."""

    op: str
    operand: Operand
    pattern: Literal
    negated: bool
    span: Span


@dataclass(frozen=True, slots=True)
class And:
    """``a AND b AND ...`` (two or more items)."""

    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Or:
    """``a OR b OR ...`` (two or more items)."""

    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Not:
    """``NOT operand``."""

    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class RankTop:
    """``RANK TOP k``."""

    k: int
    span: Span


@dataclass(frozen=True, slots=True)
class Classify:
    """``CLASSIFY``."""

    span: Span


@dataclass(frozen=True, slots=True)
class Forecast:
    """``FORECAST n TIMEFRAMES``."""

    timeframes: int
    span: Span


@dataclass(frozen=True, slots=True)
class ForEach:
    """``FOR EACH table.pk``."""

    column: ColumnRef
    span: Span


@dataclass(frozen=True, slots=True)
class ForEquals:
    """``FOR table.pk = literal``."""

    column: ColumnRef
    value: Literal
    span: Span


@dataclass(frozen=True, slots=True)
class ForIn:
    """``FOR table.pk IN (literal, ...)``."""

    column: ColumnRef
    values: TupleLiteral
    span: Span


@dataclass(frozen=True, slots=True)
class Query:
    """A whole predictive query.

    Attributes:
        target: what follows PREDICT: an operand (regression, multiclass...) or a condition (binary).
        modifier: ``RANK TOP k`` or ``CLASSIFY``, if written.
        forecast: ``FORECAST n TIMEFRAMES``, if written.
        entity: the FOR clause.
        where: the WHERE condition, if any.
        assuming: the ASSUMING condition, if any.
    """

    target: Expr
    modifier: RankTop | Classify | None
    forecast: Forecast | None
    entity: ForClause
    where: Expr | None
    assuming: Expr | None
    span: Span


Operand = ColumnRef | Aggregation | Literal
Condition = Comparison | InList | IsNull | StringMatch | And | Or | Not
Expr = Operand | Condition
ForClause = ForEach | ForEquals | ForIn


def walk(node: object):
    """Yield ``node`` and every node below it, depth first, parents before children.

    Aggregation filters are visited too, so callers that must tell them apart check for
    :class:`Aggregation` themselves.
    """
    stack = [node]
    while stack:
        current = stack.pop()
        if current is None:
            continue
        yield current
        if isinstance(current, (And, Or)):
            stack.extend(reversed(current.items))
        elif isinstance(current, Not):
            stack.append(current.operand)
        elif isinstance(current, Comparison):
            stack.extend((current.right, current.left))
        elif isinstance(current, (InList, IsNull)):
            stack.append(current.operand)
        elif isinstance(current, StringMatch):
            stack.extend((current.pattern, current.operand))
        elif isinstance(current, Aggregation):
            stack.extend((current.filter, current.target))
