"""Syntax only: the grammar, the typed tree with exact spans, literal kinds, laziness of the parser."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

import pql
from pql import ast

pytestmark = pytest.mark.unit


def target_of(text: str) -> object:
    return pql.parse(f"PREDICT {text} FOR EACH t.id").target


def test_spans_are_exact():
    q = pql.parse("PREDICT SUM(orders.price, 0, 30)\n  FOR EACH customers.customer_id")
    agg = q.target
    assert isinstance(agg, ast.Aggregation)
    assert agg.span == ast.Span(1, 9, 1, 33, 8, 32)
    assert agg.target.span == ast.Span(1, 13, 1, 25, 12, 24)
    assert agg.window.span == ast.Span(1, 27, 1, 32, 26, 31)
    assert q.entity.span == ast.Span(2, 3, 2, 33, 35, 65)
    assert q.span == ast.Span(1, 1, 2, 33, 0, 65)
    text = "PREDICT SUM(orders.price, 0, 30)\n  FOR EACH customers.customer_id"
    assert text[agg.span.start:agg.span.end] == "SUM(orders.price, 0, 30)"


def test_every_node_has_a_span():
    q = pql.parse("PREDICT COUNT(o.* WHERE o.s IN ('a', 'b') AND NOT o.x IS NULL, -INF, 7, weeks) > 0 "
                  "RANK TOP 3 FORECAST 2 TIMEFRAMES FOR t.id IN (1, 2) WHERE t.a LIKE 'x%' ASSUMING t.b = 1")
    nodes = [q, q.modifier, q.forecast, q.entity, *ast.walk(q.target), *ast.walk(q.where), *ast.walk(q.assuming)]
    for node in nodes:
        span = node.span
        assert 1 <= span.line <= span.end_line and 0 <= span.start < span.end


def test_nodes_are_frozen():
    q = pql.parse("PREDICT t.x FOR EACH t.id")
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.target = None  # type: ignore[misc]


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("42", "int", 42), ("-7", "int", -7), ("3.5", "float", 3.5), ("-.5", "float", -0.5), ("1e3", "float", 1000.0),
    ("true", "bool", True), ("FALSE", "bool", False), ("NULL", "null", None), ("'gold'", "string", "gold"),
    ("'it''s'", "string", "it's"), (r"'a\'b'", "string", "a'b"), ("''", "string", ""),
    ("'2024-01-15'", "date", "2024-01-15"), ("'2024-01-15T10:30:00'", "datetime", "2024-01-15T10:30:00"),
    ("'2024-01-15 10:30'", "datetime", "2024-01-15 10:30"),
    ("'2024-01-15T10:30:00Z'", "datetime", "2024-01-15T10:30:00Z"),
    ("'2024-13-45'", "string", "2024-13-45"),
])
def test_literals(text, kind, value):
    cmp = target_of(f"t.x = {text}")
    assert isinstance(cmp, ast.Comparison)
    assert (cmp.right.kind, cmp.right.value) == (kind, value)


def test_tuple_literal_with_trailing_comma():
    node = target_of("t.x IN ('a', 'b',)")
    assert isinstance(node, ast.InList) and [v.value for v in node.values.items] == ["a", "b"]


@pytest.mark.parametrize(("text", "op"), [("=", "="), ("!=", "!="), ("<>", "!="), ("<", "<"), ("<=", "<="),
                                          (">", ">"), (">=", ">=")])
def test_comparison_operators(text, op):
    assert target_of(f"t.x {text} 1").op == op


@pytest.mark.parametrize(("text", "cls", "op", "negated"), [
    ("t.x IS NULL", ast.IsNull, None, False), ("t.x is not null", ast.IsNull, None, True),
    ("t.x IN (1)", ast.InList, None, False), ("t.x NOT IN (1)", ast.InList, None, True),
    ("t.x LIKE 'a%'", ast.StringMatch, "LIKE", False), ("t.x NOT LIKE 'a%'", ast.StringMatch, "LIKE", True),
    ("t.x CONTAINS 'a'", ast.StringMatch, "CONTAINS", False),
    ("t.x not contains 'a'", ast.StringMatch, "CONTAINS", True),
    ("t.x STARTS WITH 'a'", ast.StringMatch, "STARTS WITH", False),
    ("t.x NOT STARTS WITH 'a'", ast.StringMatch, "STARTS WITH", True),
    ("t.x ends with 'a'", ast.StringMatch, "ENDS WITH", False),
    ("t.x NOT ENDS WITH 'a'", ast.StringMatch, "ENDS WITH", True),
])
def test_predicates(text, cls, op, negated):
    node = target_of(text)
    assert isinstance(node, cls) and node.negated is negated
    if op is not None:
        assert node.op == op


def test_boolean_precedence_and_parentheses():
    node = target_of("t.a = 1 OR t.b = 2 AND NOT t.c = 3")
    assert isinstance(node, ast.Or)
    assert isinstance(node.items[1], ast.And) and isinstance(node.items[1].items[1], ast.Not)
    node = target_of("(t.a = 1 OR t.b = 2) AND t.c = 3")
    assert isinstance(node, ast.And) and isinstance(node.items[0], ast.Or)
    node = target_of("t.a = 1 AND t.b = 2 AND t.c = 3")
    assert isinstance(node, ast.And) and len(node.items) == 3


def test_aggregation_forms():
    agg = target_of("count(o.*, -INF, 0)")
    assert (agg.func, agg.target.is_star, agg.window.start, agg.window.end) == ("COUNT", True, None, 0)
    assert (agg.window.unit, agg.window.unit_given) == ("days", False)
    agg = target_of("Sum(o.v WHERE o.s = 'x', -1.5, 2, Hour)")
    assert (agg.func, agg.window.start, agg.window.unit, agg.window.unit_given) == ("SUM", -1.5, "hours", True)
    assert isinstance(agg.filter, ast.Comparison)
    assert agg.window.seconds(agg.window.start) == -5400
    for func in ast.AGGREGATIONS:
        assert target_of(f"{func.lower()}(o.v, 0, 1)").func == func


@pytest.mark.parametrize("unit", ["seconds", "minutes", "hours", "days", "weeks", "months", "second", "MONTH"])
def test_units(unit):
    agg = target_of(f"COUNT(o.*, 0, 1, {unit})")
    assert agg.window.unit in ast.UNITS and agg.window.unit.startswith(unit.lower().rstrip("s"))


def test_clauses_and_modifiers():
    q = pql.parse("predict LIST_DISTINCT(o.p, 0, 7) rank top 12 for each c.id where c.x = 1 assuming c.y = 2")
    assert isinstance(q.modifier, ast.RankTop) and q.modifier.k == 12
    assert q.where is not None and q.assuming is not None and q.forecast is None
    q = pql.parse("PREDICT LIST_DISTINCT(o.p, 0, 7) CLASSIFY FOR c.id = 'x'")
    assert isinstance(q.modifier, ast.Classify) and isinstance(q.entity, ast.ForEquals)
    q = pql.parse("PREDICT SUM(o.v, 0, 7) FORECAST 4 TIMEFRAMES FOR c.id IN (1, 2)")
    assert q.forecast.timeframes == 4 and isinstance(q.entity, ast.ForIn)


def test_keywords_are_names_after_a_dot_and_names_keep_case():
    q = pql.parse("PREDICT Orders.Rank FOR EACH orders.top")
    assert (q.target.table, q.target.column) == ("Orders", "Rank")
    assert q.entity.column.column == "top"


def test_keywords_need_word_boundaries():
    q = pql.parse("PREDICT notes.order_count FOR EACH fortune.formula")
    assert str(q.target) == "notes.order_count" and str(q.entity.column) == "fortune.formula"
    assert pql.parse("PREDICT t.x FOR EACH t.id WHERE t.y IN (1) AND t.z = 'a'").where is not None


def test_comments_and_whitespace():
    q = pql.parse("-- churn\nPREDICT\tt.x -- the target\n\n  FOR EACH t.id  -- entities\n")
    assert str(q.target) == "t.x"


def test_parser_is_built_lazily():
    code = ("import pql, pql.parser as p; assert p._parser.cache_info().currsize == 0; "
            "pql.parse('PREDICT t.x FOR EACH t.id'); assert p._parser.cache_info().currsize == 1")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_grammar_is_package_data():
    assert "PREDICT" in pql.parser.grammar_text()
