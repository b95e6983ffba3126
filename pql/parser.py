"""Text to syntax tree: the lark LALR parser (built once, on first use) and the tree builder.

Only :func:`parse` is public. Every lark exception is translated into a :class:`~pql.errors.PQLError`
that says, in plain words, what was found and what was expected instead.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import math
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from pql import ast
from pql.errors import PQLError

__all__ = ["parse", "grammar_text"]

_UNIT_ALIASES = {u: u for u in ast.UNITS} | {u[:-1]: u for u in ast.UNITS}


def grammar_text() -> str:
    """The lark grammar of PQL (the ``grammar.lark`` file shipped in this package)."""
    return resources.files("pql").joinpath("grammar.lark").read_text(encoding="utf-8")


def _span(first: Any, last: Any) -> ast.Span:
    a = first if isinstance(first, (Token, ast.Span)) else first.span
    b = last if isinstance(last, (Token, ast.Span)) else last.span
    if isinstance(a, Token):
        a = ast.Span(a.line, a.column, a.end_line, a.end_column, a.start_pos, a.end_pos)
    if isinstance(b, Token):
        b = ast.Span(b.line, b.column, b.end_line, b.end_column, b.start_pos, b.end_pos)
    return a.to(b)


def _error_at(message: str, at: Any, hint: str | None = None) -> PQLError:
    span = _span(at, at)
    return PQLError(message, line=span.line, column=span.column, hint=hint,
                    end_line=span.end_line, end_column=span.end_column)


_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?")


def _string_kind(text: str) -> str:
    # A quoted string that reads as an ISO date or datetime is a date literal; comparing it with a
    # categorical column still works because the type rules accept dates wherever strings are allowed.
    try:
        if _DATE_RE.fullmatch(text):
            _dt.date.fromisoformat(text)
            return "date"
        if _DATETIME_RE.fullmatch(text):
            _dt.datetime.fromisoformat(text)
            return "datetime"
    except ValueError:
        return "string"
    return "string"


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    if "\\" not in body and "''" not in body:
        return body
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            i += 2
        elif ch == "'" and body[i + 1 : i + 2] == "'":
            out.append("'")
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _number(tok: Token) -> int | float:
    text = tok.value
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    value = float(text)
    if not math.isfinite(value):
        raise _error_at(f"the number {text} is too large", tok)
    return value


def _positive_int(tok: Token, what: str) -> int:
    value = _number(tok)
    if isinstance(value, float) or value < 1:
        raise _error_at(f"{what} must be a positive whole number, not {tok.value}", tok)
    return value


class _Builder(Transformer):
    """Builds :mod:`pql.ast` nodes as the LALR parser reduces rules (an inline transformer)."""

    # -- query structure ----------------------------------------------------------------------------
    def start(self, c):
        return c[0]

    def query(self, c):
        (target, modifier, forecast, first_tok), entity = c[0], c[1]
        clauses = dict(c[2:])  # ("where", expr) / ("assuming", expr)
        last = c[-1][1] if len(c) > 2 else entity
        return ast.Query(target, modifier, forecast, entity, clauses.get("where"), clauses.get("assuming"),
                         _span(first_tok, last))

    def predict_clause(self, c):
        modifier = forecast = None
        for item in c[2:]:
            if isinstance(item, ast.Forecast):
                forecast = item
            else:
                modifier = item
        return (c[1], modifier, forecast, c[0])

    def rank_top(self, c):
        return ast.RankTop(_positive_int(c[2], "the k of RANK TOP k"), _span(c[0], c[2]))

    def classify(self, c):
        return ast.Classify(_span(c[0], c[0]))

    def forecast(self, c):
        return ast.Forecast(_positive_int(c[1], "the number of FORECAST timeframes"), _span(c[0], c[2]))

    def for_each(self, c):
        return ast.ForEach(c[2], _span(c[0], c[2]))

    def for_equals(self, c):
        return ast.ForEquals(c[1], c[3], _span(c[0], c[3]))

    def for_in(self, c):
        return ast.ForIn(c[1], c[3], _span(c[0], c[3]))

    def where_clause(self, c):
        return ("where", c[1])

    def assuming_clause(self, c):
        return ("assuming", c[1])

    # -- boolean structure --------------------------------------------------------------------------
    def or_expr(self, c):
        items = tuple(c[0::2])
        return ast.Or(items, _span(items[0], items[-1]))

    def and_expr(self, c):
        items = tuple(c[0::2])
        return ast.And(items, _span(items[0], items[-1]))

    def negation(self, c):
        return ast.Not(c[1], _span(c[0], c[1]))

    def paren(self, c):
        return c[1]

    def comparison(self, c):
        op = c[1]
        return ast.Comparison(op, c[0], c[2], _span(c[0], c[2]))

    def comp_op(self, c):
        return "!=" if c[0].type == "NE" else c[0].value

    def is_null(self, c):
        return ast.IsNull(c[0], False, _span(c[0], c[2]))

    def is_not_null(self, c):
        return ast.IsNull(c[0], True, _span(c[0], c[3]))

    def in_list(self, c):
        return ast.InList(c[0], c[2], False, _span(c[0], c[2]))

    def not_in_list(self, c):
        return ast.InList(c[0], c[3], True, _span(c[0], c[3]))

    def string_op(self, c):
        return " ".join(t.type for t in c)

    def string_match(self, c):
        return ast.StringMatch(c[1], c[0], c[2], False, _span(c[0], c[2]))

    def not_string_match(self, c):
        return ast.StringMatch(c[2], c[0], c[3], True, _span(c[0], c[3]))

    # -- operands -----------------------------------------------------------------------------------
    def column_ref(self, c):
        return ast.ColumnRef(c[0].value, c[2].value, _span(c[0], c[2]))

    def aggregation(self, c):
        name_tok = c[0]
        func = name_tok.value.upper()
        if func not in ast.AGGREGATIONS:
            close = difflib.get_close_matches(func, ast.AGGREGATIONS, n=1)
            hint = f"did you mean {close[0]}?" if close else "aggregations: " + ", ".join(ast.AGGREGATIONS)
            raise _error_at(f"unknown aggregation {name_tok.value}", name_tok, hint)
        target = c[2]
        i = 3
        agg_filter = None
        if isinstance(c[i], tuple):
            agg_filter = c[i][1]
            i += 1
        start, end = c[i + 1], c[i + 3]
        unit, unit_given = "days", False
        window_end = end[1]
        if c[i + 4].type == "COMMA":
            unit_tok = c[i + 5]
            unit = _UNIT_ALIASES.get(unit_tok.value.lower())
            if unit is None:
                close = difflib.get_close_matches(unit_tok.value.lower(), list(_UNIT_ALIASES), n=1)
                hint = f"did you mean {close[0]}?" if close else "units: " + ", ".join(ast.UNITS)
                raise _error_at(f"unknown time unit {unit_tok.value}", unit_tok, hint)
            unit_given = True
            window_end = unit_tok
        window = ast.Window(start[0], end[0], unit, unit_given, _span(start[1], window_end))
        return ast.Aggregation(func, target, agg_filter, window, _span(name_tok, c[-1]))

    def agg_filter(self, c):
        return ("filter", c[1])

    def bound(self, c):
        if len(c) == 2:
            return (None, _span(c[0], c[1]))
        return (_number(c[0]), c[0])

    def tuple(self, c):
        items = tuple(x for x in c if isinstance(x, ast.Literal))
        return ast.TupleLiteral(items, _span(c[0], c[-1]))

    def literal(self, c):
        tok = c[0]
        span = _span(tok, tok)
        kind = tok.type
        if kind == "NUMBER":
            value = _number(tok)
            return ast.Literal("int" if isinstance(value, int) else "float", value, span)
        if kind == "STRING":
            text = _unquote(tok.value)
            return ast.Literal(_string_kind(text), text, span)
        if kind == "NULL":
            return ast.Literal("null", None, span)
        return ast.Literal("bool", kind == "TRUE", span)


@lru_cache(maxsize=1)
def _parser() -> Lark:
    # Built on first use, not at import: constructing the LALR tables takes tens of milliseconds.
    return Lark(grammar_text(), parser="lalr", lexer="contextual", transformer=_Builder(),
                propagate_positions=False, maybe_placeholders=False, cache=False)


@lru_cache(maxsize=1)
def _plain_parser() -> Lark:
    """The same grammar without the tree builder: the benchmark's reference for lark alone."""
    return Lark(grammar_text(), parser="lalr", lexer="contextual", maybe_placeholders=False)


def parse(text: str) -> ast.Query:
    """Parse a query into its syntax tree, checking syntax only (no schema).

    Args:
        text: the PQL query.

    Returns:
        The :class:`~pql.ast.Query`.

    Raises:
        PQLError: the text is not a syntactically valid query (or not a string).
    """
    if not isinstance(text, str):
        raise PQLError(f"a query must be text, not {type(text).__name__}")
    if not text.strip() or not _has_content(text):
        raise PQLError("empty query", line=1, column=1, hint="a query starts with PREDICT", source=text)
    try:
        return _parser().parse(text)
    except PQLError as exc:
        raise exc.attach_source(text) from None
    except UnexpectedInput as exc:
        raise _translate(exc, text) from None
    except RecursionError:
        raise PQLError("the query is nested too deeply", line=1, column=1, source=text) from None


def _has_content(text: str) -> bool:
    return any(line.split("--", 1)[0].strip() for line in text.split("\n"))


# -- syntax error translation ---------------------------------------------------------------------

_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "EQ": "'='",
    "NE": "'!='",
    "LT": "'<'",
    "LE": "'<='",
    "GT": "'>'",
    "GE": "'>='",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "DOT": "'.'",
    "STAR": "'*'",
    "MINUS": "'-'",
    "STARTS": "STARTS WITH",
    "ENDS": "ENDS WITH",
    "$END": "the end of the query",
}
_COMPARISONS = {"EQ", "NE", "LT", "LE", "GT", "GE"}
_ORDER = ["PREDICT", "NAME", "STAR", "NUMBER", "STRING", "TRUE", "FALSE", "NULL", "MINUS", "LPAR", "NOT",
          "DOT", "COMMA", "RPAR", "ANY_COMPARISON", "COMPARISON", "EQ", "NE", "LT", "LE", "GT", "GE", "IS", "IN",
          "LIKE",
          "CONTAINS", "STARTS", "ENDS", "WITH", "AND", "OR", "RANK", "TOP", "CLASSIFY", "FORECAST",
          "TIMEFRAMES", "FOR", "EACH", "WHERE", "ASSUMING", "INF", "$END"]
_SQL_WORDS = {"SELECT", "FROM", "JOIN", "GROUP", "ORDER", "LIMIT", "HAVING", "UNION", "BY"}


_MATCH_OPS = {"IS", "IN", "LIKE", "CONTAINS", "STARTS", "ENDS"}


def _describe_expected(names: set[str]) -> str:
    names = {n for n in names if not n.startswith("__")}
    if len(names & _COMPARISONS) >= 3:
        names = (names - _COMPARISONS) | {"COMPARISON"}
        if _MATCH_OPS <= names:
            # NOT here can only start NOT IN / NOT LIKE..., which the comparison wording covers.
            names = (names - _MATCH_OPS - {"NOT"}) | {"ANY_COMPARISON"}
            names.discard("COMPARISON")
    ordered = sorted(names, key=lambda n: (_ORDER.index(n) if n in _ORDER else len(_ORDER), n))
    words = []
    for name in ordered:
        if name == "COMPARISON":
            words.append("a comparison (=, !=, <, <=, >, >=)")
        elif name == "ANY_COMPARISON":
            words.append("a comparison (=, !=, <, <=, >, >=, IN, IS NULL, LIKE, CONTAINS, STARTS WITH, ENDS WITH)")
        else:
            words.append(_WORDS.get(name, name))
    if not words:
        return "nothing more"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "end of query"
    if tok.type == "NAME":
        return f"name {tok.value}"
    if tok.type == "NUMBER":
        return f"number {tok.value}"
    if tok.type == "STRING":
        return f"string {tok.value}"
    if tok.type in _WORDS:
        return _WORDS[tok.type]
    return tok.value.upper()


_KEYWORDS = frozenset({
    "PREDICT", "FOR", "EACH", "WHERE", "ASSUMING", "RANK", "TOP", "CLASSIFY", "FORECAST", "TIMEFRAMES",
    "AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "CONTAINS", "STARTS", "ENDS", "WITH", "TRUE", "FALSE",
    "INF",
})


def _scan(text: str, pos: int) -> tuple[tuple[Token, set[str]] | None, set[str] | None]:
    """Re-parse ``text[:pos]`` to learn exactly which terminals the parser accepts at ``pos``.

    LALR states merge lookaheads, so the expected set lark reports can name tokens that would fail one
    step later; feeding the prefix and asking the parser is exact. Also returns the last token before
    ``pos`` when it is a keyword that the contextual lexer read as a name (where a name is allowed,
    ``FOR`` or ``WHERE`` lex as names and the parser only fails one token later), with the terminals
    accepted just before it.

    Returns:
        (misplaced keyword and what was accepted before it, or None; accepted at ``pos``, or None).
    """
    last: Token | None = None
    keyword: tuple[Token, set[str]] | None = None
    try:
        ip = _parser().parse_interactive(text[:pos])
        for tok in ip.iter_parse():
            if tok.type == "NAME" and tok.value.upper() in _KEYWORDS and (last is None or last.type != "DOT"):
                keyword = (tok, ip.accepts())
            else:
                keyword = None
            last = tok
        return keyword, ip.accepts()
    except (UnexpectedInput, PQLError, RecursionError):
        return keyword, None


def _translate(exc: UnexpectedInput, text: str) -> PQLError:
    is_end = isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    pos = len(text) if is_end else getattr(exc, "pos_in_stream", None)
    accepts = None
    if isinstance(exc, (UnexpectedToken, UnexpectedCharacters)) and isinstance(pos, int):
        misplaced, accepts = _scan(text, pos)
        if misplaced is not None:
            tok, before = misplaced
            return PQLError(f"unexpected {tok.value.upper()}, expected {_describe_expected(before)}",
                            line=tok.line, column=tok.column, hint=_hint_for(None, before), source=text,
                            end_line=tok.end_line, end_column=tok.end_column)
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        expected = accepts if accepts else set(exc.expected or ())
        if tok.type == "$END":
            line, column = _end_position(text)
            return PQLError(f"unexpected end of query, expected {_describe_expected(expected)}",
                            line=line, column=column, hint=_hint_for(None, expected), source=text)
        end_col = tok.end_column if tok.end_line == tok.line else None
        return PQLError(f"unexpected {_describe_token(tok)}, expected {_describe_expected(expected)}",
                        line=tok.line, column=tok.column, hint=_hint_for(tok, expected), source=text,
                        end_line=tok.end_line, end_column=end_col)
    if isinstance(exc, UnexpectedCharacters):
        char = exc.char
        expected = accepts if accepts else set(exc.allowed or ())
        hint = None
        if char == "'":
            message = "unterminated string"
            hint = "close the string with a single quote; write '' for a quote inside it"
        elif char == '"':
            message = "unexpected '\"'"
            hint = "strings are written in single quotes: 'text'"
        else:
            message = f"unexpected character {char!r}"
            if char == ";":
                hint = "a query is a single statement; remove the ';'"
            elif char in "+/%":
                hint = "PQL has no arithmetic"
        if expected:
            message += f", expected {_describe_expected(expected)}"
        return PQLError(message, line=exc.line, column=exc.column, hint=hint, source=text)
    if isinstance(exc, UnexpectedEOF):
        line, column = _end_position(text)
        return PQLError(f"unexpected end of query, expected {_describe_expected(set(exc.expected))}",
                        line=line, column=column, source=text)
    return PQLError(str(exc), line=getattr(exc, "line", None), column=getattr(exc, "column", None),
                    source=text)


def _end_position(text: str) -> tuple[int, int]:
    # Point just after the last meaningful character, not at trailing blank lines or comments.
    lines = text.split("\n")
    for i in range(len(lines) - 1, -1, -1):
        content = lines[i].split("--", 1)[0].rstrip() if "--" in lines[i] else lines[i].rstrip()
        if content.strip():
            return i + 1, len(content) + 1
    return 1, 1


def _hint_for(tok: Token | None, expected: set[str]) -> str | None:
    if tok is not None and tok.type == "NAME" and tok.value.upper() in _SQL_WORDS:
        return "PQL is not SQL: write PREDICT <target> FOR EACH <table>.<primary key> [WHERE ...]"
    if "PREDICT" in expected:
        return "a query starts with PREDICT"
    if "FOR" in expected and ("RANK" in expected or "FORECAST" in expected):
        return "every query names its entities: FOR EACH <table>.<primary key>"
    if "COMMA" in expected and "WHERE" in expected:
        return "an aggregation needs a window: AGG(table.column, start, end[, unit])"
    if "MINUS" in expected and "NUMBER" in expected:
        return "window bounds are numbers or -INF"
    if expected == {"DOT"}:
        return "columns are written table.column"
    return None
