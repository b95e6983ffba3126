"""Property test: whatever the text, pql.compile either succeeds or raises PQLError, never anything else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pql
from pql.errors import PQLError

pytestmark = pytest.mark.unit

SCHEMAS = {name: pql.GraphSchema.from_json((Path(__file__).parent / "schemas" / f"{name}.json").read_text())
           for name in ("ecommerce", "stackexchange")}

VALID = [
    ("ecommerce", "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id "
                  "WHERE COUNT(orders.*, -90, 0, days) > 0"),
    ("ecommerce", "PREDICT SUM(orders.price, 0, 30, days) FOR EACH customers.customer_id"),
    ("ecommerce", "PREDICT LIST_DISTINCT(orders.product_id, 0, 7, days) RANK TOP 12 FOR EACH customers.customer_id"),
    ("ecommerce", "PREDICT FIRST(orders.channel, 0, 7) FOR EACH customers.customer_id"),
    ("ecommerce", "PREDICT customers.segment FOR EACH customers.customer_id"),
    ("ecommerce", "PREDICT COUNT(orders.* WHERE orders.returned = true, 0, 30) > 0\n"
                  "FOR EACH customers.customer_id ASSUMING COUNT(orders.*, 0, 30) > 0"),
    ("ecommerce", "PREDICT SUM(orders.price, 0, 7, days) FORECAST 4 TIMEFRAMES FOR EACH products.product_id"),
    ("ecommerce", "PREDICT AVG(orders.price, 0, 30) FOR customers.customer_id IN (1, 2, 3)"),
    ("ecommerce", "PREDICT customers.age >= 40 AND NOT customers.name LIKE 'a%' FOR customers.customer_id = 'x' "
                  "WHERE customers.signup_at > '2020-01-01' OR regions.size IS NOT NULL -- comment"),
    ("ecommerce", "PREDICT LAST(orders.status, -INF, 30) NOT IN ('done', 'sent') FOR EACH customers.customer_id"),
    ("stackexchange", "PREDICT COUNT(votes.* WHERE votes.vote_type = 'up', 0, 30) > 5 FOR EACH users.user_id"),
    ("stackexchange", "PREDICT posts.tags CLASSIFY FOR EACH posts.post_id WHERE posts.title STARTS WITH 'How'"),
]

TOKEN_RE = re.compile(r"\s+|'(?:[^']|'')*'?|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|<=|>=|!=|<>|--[^\n]*|.", re.S)
VOCAB = [
    "PREDICT", "FOR", "EACH", "WHERE", "ASSUMING", "RANK", "TOP", "CLASSIFY", "FORECAST", "TIMEFRAMES", "AND", "OR",
    "NOT", "IN", "IS", "NULL", "LIKE", "CONTAINS", "STARTS", "ENDS", "WITH", "TRUE", "false", "-INF", "INF",
    "COUNT", "SUM", "AVG", "MIN", "MAX", "FIRST", "LAST", "LIST_DISTINCT", "COUNT_DISTINCT", "days", "months",
    "orders", "customers", "products", "users", "posts", "votes", "orders.price", "orders.*", "customers.customer_id",
    "orders.status", "orders.product_id", "customers.segment", "posts.tags", ".", ",", "(", ")", "*", "=", "!=", "<",
    "<=", ">", ">=", "<>", "-", "+", "0", "1", "-1", "30", "-90", "2.5", "1e309", "'x'", "'2024-01-15'", "'", '"',
    ";", "#", "\n", "\t", "--", "é", "\x00", "SELECT", "(((", ")))",
]


@st.composite
def mutated(draw) -> tuple[str, str]:
    schema, text = draw(st.sampled_from(VALID))
    tokens = TOKEN_RE.findall(text)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "insert", "swap", "replace", "char_delete", "char_insert",
                                   "char_replace", "truncate", "duplicate"]))
        if not tokens:
            tokens = [draw(st.sampled_from(VOCAB))]
        i = draw(st.integers(0, len(tokens) - 1))
        j = draw(st.integers(0, len(tokens) - 1))
        if op == "delete":
            del tokens[i]
        elif op == "insert":
            tokens.insert(i, draw(st.sampled_from(VOCAB)) + draw(st.sampled_from(["", " "])))
        elif op == "swap":
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif op == "replace":
            tokens[i] = draw(st.sampled_from(VOCAB))
        elif op == "truncate":
            tokens = tokens[:i]
        elif op == "duplicate":
            tokens.insert(i, tokens[j])
        else:
            tok = tokens[i]
            k = draw(st.integers(0, len(tok)))
            ch = draw(st.characters(codec="utf-8"))
            if op == "char_delete" and tok:
                tokens[i] = tok[: max(0, k - 1)] + tok[k:]
            elif op == "char_insert":
                tokens[i] = tok[:k] + ch + tok[k:]
            else:
                tokens[i] = tok[:k] + ch + tok[k + 1:]
    return schema, "".join(tokens)


def check(schema: str, text: str) -> None:
    try:
        compiled = pql.compile(text, SCHEMAS[schema])
    except PQLError as err:
        assert "internal compiler error" not in err.message, (text, err.message)
        assert err.message
        lines = text.split("\n")
        if err.line is not None:
            assert 1 <= err.line <= len(lines), (text, err.line)
            assert 1 <= err.column <= len(lines[err.line - 1]) + 1, (text, err.column)
            assert err.snippet, text
        str(err)
        err.to_dict()
    else:
        assert pql.Plan.from_json(compiled.plan.to_json()) == compiled.plan
        compiled.plan.explain()


FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(mutated())
def test_mutated_valid_queries(case):
    check(*case)


@FUZZ
@given(st.lists(st.sampled_from(VOCAB), max_size=30).map(" ".join), st.sampled_from(sorted(SCHEMAS)))
def test_random_token_soup(text, schema):
    check(schema, text)


@FUZZ
@given(st.text(max_size=120), st.sampled_from(sorted(SCHEMAS)))
def test_random_text(text, schema):
    check(schema, text)


def test_the_valid_seeds_compile():
    for schema, text in VALID:
        pql.compile(text, SCHEMAS[schema])


def test_deep_nesting_is_a_pqlerror():
    text = "PREDICT " + "(" * 3000 + "customers.age > 1" + ")" * 3000 + " FOR EACH customers.customer_id"
    check("ecommerce", text)
    text = "PREDICT " + "NOT " * 3000 + "customers.age > 1 FOR EACH customers.customer_id"
    check("ecommerce", text)
