"""Invalid queries: each gives one PQLError with the expected message, position, snippet and hint."""

from __future__ import annotations

import pytest

import pql
from pql.errors import PQLError

pytestmark = pytest.mark.unit

# (schema, query, substring of the message, line, column)
INVALID = [
    ('ecommerce', '',
     'empty query', 1, 1),
    ('ecommerce', '-- only a comment\n',
     'empty query', 1, 1),
    ('ecommerce', 'SELECT * FROM orders',
     'unexpected name SELECT, expected PREDICT', 1, 1),
    ('ecommerce', 'PREDICT SUM(orders.price, 0, 30)',
     'unexpected end of query, expected a comparison (=, !=, <, <=, >, >=, IN, IS NULL, LIKE, CONTAINS, '
     'STARTS WITH, ENDS WITH), AND, OR, RANK, CLASSIFY, FORECAST or FOR', 1, 33),
    ('ecommerce', 'PREDICT COUNT(orders.*) FOR EACH customers.customer_id',
     "unexpected ')', expected ',' or WHERE", 1, 23),
    ('ecommerce', 'PREDICT COUNT(orders.*, 0) FOR EACH customers.customer_id',
     "unexpected ')', expected ','", 1, 26),
    ('ecommerce', 'PREDICT customers.segment FOR EACH',
     'unexpected end of query, expected a name', 1, 35),
    ('ecommerce', 'PREDICT customers.segment FOR EACH customers',
     "expected '.'", 1, 45),
    ('ecommerce', 'PREDICT customers.segment FOR EACH customers.customer_id WHERE',
     'unexpected end of query, expected a name', 1, 63),
    ('ecommerce', 'PREDICT customers.age > FOR EACH customers.customer_id',
     'unexpected FOR, expected a name, a number', 1, 25),
    ('ecommerce', 'PREDICT customers.segment = "gold" FOR EACH customers.customer_id',
     'unexpected \'"\'', 1, 29),
    ('ecommerce', "PREDICT customers.segment = 'gold FOR EACH customers.customer_id",
     'unterminated string', 1, 29),
    ('ecommerce', 'PREDICT customers.age > 3; FOR EACH customers.customer_id',
     "unexpected character ';'", 1, 26),
    ('ecommerce', 'PREDICT SUM(orders.price, 0, 30) + 1 FOR EACH customers.customer_id',
     "unexpected character '+'", 1, 34),
    ('ecommerce', 'PREDICT CONT(orders.*, 0, 30) FOR EACH customers.customer_id',
     'unknown aggregation CONT', 1, 9),
    ('ecommerce', 'PREDICT COUNT(orders.*, 0, 30, dayz) FOR EACH customers.customer_id',
     'unknown time unit dayz', 1, 32),
    ('ecommerce', 'PREDICT LIST_DISTINCT(orders.product_id, 0, 7) RANK TOP 0 FOR EACH customers.customer_id',
     'must be a positive whole number', 1, 57),
    ('ecommerce', 'PREDICT SUM(orders.price, 0, 7) FORECAST 2.5 TIMEFRAMES FOR EACH products.product_id',
     'must be a positive whole number', 1, 42),
    ('ecommerce', 'PREDICT SUM(orders.price, 0, 7) FORECAST 2 TIMEFRAMES RANK TOP 3 FOR EACH products.product_id',
     'unexpected RANK, expected FOR', 1, 55),
    ('ecommerce', 'PREDICT customers.segment FOR EACH customers.customer_id ORDER BY customers.age',
     'unexpected name ORDER', 1, 58),
    ('ecommerce', 'PREDICT customers.age FOR customers.customer_id IN ()',
     "unexpected ')', expected a number", 1, 53),
    ('ecommerce', 'PREDICT SUM(orders.pric, 0, 30) FOR EACH customers.customer_id',
     'unknown column orders.pric', 1, 13),
    ('ecommerce', 'PREDICT SUM(order.price, 0, 30) FOR EACH customers.customer_id',
     'unknown table order', 1, 13),
    ('ecommerce', 'PREDICT SUM(Orders.price, 0, 30) FOR EACH customers.customer_id',
     'unknown table Orders', 1, 13),
    ('ecommerce', "PREDICT COUNT(orders.*, 0, 30)\nFOR EACH customers.customer_id\nWHERE customers.contry = 'US'",
     'unknown column customers.contry', 3, 7),
    ('ecommerce', 'PREDICT COUNT(orders.*, 0, 30) FOR EACH customer.customer_id',
     'unknown table customer', 1, 41),
    ('ecommerce', 'PREDICT COUNT(orders.*, 0, 30) FOR EACH customers.segment',
     'is not the primary key of customers', 1, 41),
    ('stackexchange', 'PREDICT COUNT(votes.*, 0, 30) FOR EACH post_links.post_id',
     'has no primary key', 1, 40),
    ('ecommerce', 'PREDICT SUM(orders.*, 0, 30) FOR EACH customers.customer_id',
     'is allowed for COUNT only', 1, 13),
    ('ecommerce', 'PREDICT orders.* FOR EACH customers.customer_id',
     'only allowed as the argument of COUNT', 1, 9),
    ('ecommerce', 'PREDICT COUNT(orders.* WHERE customers.age > 3, 0, 30) FOR EACH customers.customer_id',
     'may only use columns of orders', 1, 30),
    ('ecommerce', 'PREDICT COUNT(orders.* WHERE COUNT(orders.*, 0, 1) > 0, 0, 30) FOR EACH customers.customer_id',
     'cannot be nested', 1, 30),
    ('ecommerce', 'PREDICT COUNT(orders.*, 0, 30) FOR EACH customers.customer_id ASSUMING customers.age > 3',
     'ASSUMING takes conditions on future aggregations', 1, 72),
    ('ecommerce', 'PREDICT SUM(orders.status, 0, 30) FOR EACH customers.customer_id',
     'SUM needs a numerical column', 1, 13),
    ('ecommerce', 'PREDICT AVG(orders.product_id, 0, 30) FOR EACH customers.customer_id',
     'AVG needs a numerical column', 1, 13),
    ('ecommerce', 'PREDICT MAX(orders.channel, 0, 30) FOR EACH customers.customer_id',
     'MAX needs a numerical or timestamp column', 1, 13),
    ('ecommerce', 'PREDICT LIST_DISTINCT(orders.price, 0, 30) RANK TOP 5 FOR EACH customers.customer_id',
     'LIST_DISTINCT needs a foreign-key column', 1, 23),
    ('ecommerce', "PREDICT SUM(orders.price, 0, 30) > 'abc' FOR EACH customers.customer_id",
     "cannot compare SUM(orders.price, ...) (a number) with the string 'abc'", 1, 36),
    ('ecommerce', 'PREDICT customers.name = 5 FOR EACH customers.customer_id',
     'cannot compare customers.name (text) with the number 5', 1, 26),
    ('ecommerce', "PREDICT customers.name > 'b' FOR EACH customers.customer_id",
     "'>' needs a number or a timestamp", 1, 9),
    ('ecommerce', "PREDICT COUNT(orders.*, 0, 30) FOR EACH customers.customer_id WHERE customers.age LIKE 'a%'",
     'LIKE needs a text or categorical value', 1, 69),
    ('ecommerce', 'PREDICT COUNT(orders.*, 0, 30) FOR EACH customers.customer_id WHERE customers.age = NULL',
     'cannot use NULL with =', 1, 85),
    ('ecommerce', "PREDICT COUNT(orders.*, 0, 30) FOR EACH customers.customer_id WHERE customers.signup_at > 'soon'",
     "cannot compare customers.signup_at (a timestamp) with the string 'soon'", 1, 91),
    ('ecommerce', 'PREDICT COUNT(orders.*, 0, 30) FOR EACH customers.customer_id WHERE customers.age',
     'WHERE needs a condition', 1, 69),
    ('ecommerce', 'PREDICT COUNT(orders.*, 0, 30) > 0 AND customers.age FOR EACH customers.customer_id',
     'expected a condition, not customers.age', 1, 40),
    ('ecommerce', 'PREDICT COUNT(orders.*, 0, 30) FOR customers.customer_id = 1.5',
     'an entity key is', 1, 60),
    ('ecommerce', 'PREDICT 5 FOR EACH customers.customer_id',
     'not a constant', 1, 9),
    ('ecommerce', 'PREDICT COUNT(orders.*, 0, 30) FOR EACH customers.customer_id WHERE 1 = 1',
     'not two constants', 1, 69),
    ('ecommerce', 'PREDICT COUNT(regions.*, 0, 30) FOR EACH customers.customer_id',
     'table regions has no time column', 1, 9),
    ('ecommerce', 'PREDICT COUNT(orders.*, 0, 30) = customers.name FOR EACH customers.customer_id',
     'cannot compare', 1, 9),
    ('ecommerce', 'PREDICT SUM(orders.price, -30, 0) FOR EACH customers.customer_id',
     'must end in the future', 1, 27),
    ('ecommerce', 'PREDICT SUM(orders.price, 30, 0) FOR EACH customers.customer_id',
     'start must be before its end', 1, 27),
    ('ecommerce', 'PREDICT SUM(orders.price, 0, -INF) FOR EACH customers.customer_id',
     "-INF can only be a window's start", 1, 27),
    ('ecommerce', 'PREDICT SUM(orders.price, 0, 30) FOR EACH customers.customer_id\n  WHERE COUNT(orders.*, 0, 30) > 0',
     'a WHERE window must lie in the past', 2, 25),
    ('ecommerce', 'PREDICT SUM(orders.price, 0, 30) FOR EACH customers.customer_id\n'
                  '  WHERE COUNT(orders.*, -30, 1) > 0',
     'a WHERE window must lie in the past', 2, 25),
    ('ecommerce', 'PREDICT SUM(orders.price, 0, 30) FOR EACH customers.customer_id\n'
                  'ASSUMING COUNT(orders.*, -10, 30) > 0',
     'an ASSUMING window must lie in the future', 2, 26),
    ('ecommerce', 'PREDICT SUM(orders.price, 0, 30) FOR EACH customers.customer_id\n'
                  'ASSUMING COUNT(orders.*, -INF, 30) > 0',
     'an ASSUMING window must lie in the future', 2, 26),
    ('ecommerce', 'PREDICT SUM(orders.price, -7, 7) FORECAST 2 TIMEFRAMES FOR EACH products.product_id',
     'FORECAST needs a window that starts at or after the anchor time', 1, 27),
    ('ecommerce', 'PREDICT LIST_DISTINCT(orders.product_id, 0, 30) FOR EACH customers.customer_id',
     'LIST_DISTINCT needs RANK TOP k or CLASSIFY', 1, 9),
    ('ecommerce', 'PREDICT customers.interests FOR EACH customers.customer_id',
     'needs RANK TOP k or CLASSIFY', 1, 9),
    ('ecommerce', 'PREDICT SUM(orders.price, 0, 30) RANK TOP 5 FOR EACH customers.customer_id',
     'RANK TOP k applies to LIST_DISTINCT', 1, 34),
    ('ecommerce', 'PREDICT customers.segment CLASSIFY FOR EACH customers.customer_id',
     'CLASSIFY applies to LIST_DISTINCT', 1, 27),
    ('ecommerce', 'PREDICT COUNT(orders.*, 0, 30) > 1 FORECAST 3 TIMEFRAMES FOR EACH customers.customer_id',
     'FORECAST needs a numerical aggregation over a future window, not a condition', 1, 36),
    ('ecommerce', 'PREDICT customers.age FORECAST 3 TIMEFRAMES FOR EACH customers.customer_id',
     'not the static column customers.age', 1, 23),
    ('ecommerce', 'PREDICT LAST(orders.status, 0, 7) FORECAST 3 TIMEFRAMES FOR EACH customers.customer_id',
     'FORECAST needs a numerical aggregation', 1, 35),
    ('ecommerce', 'PREDICT customers.segment FOR EACH customers.customer_id ASSUMING COUNT(orders.*, 0, 30) > 0',
     'ASSUMING needs a temporal target', 1, 67),
    ('ecommerce', 'PREDICT COUNT(orders.*, 0, 30) > 0 OR customers.age > 30 FOR EACH customers.customer_id',
     'cannot mix the static column customers.age', 1, 39),
    ('ecommerce', 'PREDICT customers.customer_id FOR EACH customers.customer_id',
     'a key cannot be predicted', 1, 9),
    ('ecommerce', 'PREDICT customers.name FOR EACH customers.customer_id',
     'free text cannot be predicted', 1, 9),
    ('ecommerce', 'PREDICT MAX(orders.created_at, 0, 30) FOR EACH customers.customer_id',
     'a timestamp cannot be predicted directly', 1, 9),
    ('ecommerce', 'PREDICT products.category FOR EACH customers.customer_id',
     'products.category is neither on the entity table customers nor one foreign key away', 1, 9),
    ('ecommerce', 'PREDICT COUNT(orders.*, 0, 30) FOR EACH customers.customer_id WHERE orders.price > 3',
     'orders.price is neither on the entity table', 1, 69),
    ('ecommerce', 'PREDICT COUNT(reviews.*, 0, 30) FOR EACH orders.order_id',
     'no foreign-key path from reviews to the entity table orders', 1, 15),
    ('saas', 'PREDICT COUNT(messages.*, 0, 30) FOR EACH users.user_id',
     'ambiguous join path from messages to users: messages.sender_id -> users or messages.receiver_id -> users', 1, 15),
    ('stackexchange', 'PREDICT COUNT(post_links.*, 0, 30) FOR EACH posts.post_id',
     'ambiguous join path', 1, 15),
    ('ecommerce', 'PREDICT COUNT(orders.*, 0, 1e309) FOR EACH customers.customer_id',
     'the number 1e309 is too large', 1, 28),
    ('ecommerce', 'PREDICT customers.age > 1 FOR EACH customers.customer_id WHERE customers.age > 1 ORDER BY x',
     'unexpected name ORDER, expected AND, OR, ASSUMING or the end of the query', 1, 82),
]


def test_at_least_forty_invalid_queries():
    assert len(INVALID) >= 40


@pytest.mark.parametrize(("schema", "text", "message", "line", "column"), INVALID)
def test_invalid_query(schemas, schema, text, message, line, column):
    with pytest.raises(PQLError) as info:
        pql.compile(text, schemas[schema])
    err = info.value
    assert message in err.message
    assert (err.line, err.column) == (line, column)
    if text.strip() and err.snippet:
        source_line, caret = err.snippet.split("\n")
        assert source_line == text.split("\n")[line - 1]
        assert caret.startswith(" " * (column - 1) + "^")
    assert err.__cause__ is None or isinstance(err.__cause__, PQLError)


@pytest.mark.parametrize(("text", "hint"), [
    ("PREDICT SUM(orders.pric, 0, 30) FOR EACH customers.customer_id", "did you mean orders.price?"),
    ("PREDICT SUM(ordrs.price, 0, 30) FOR EACH customers.customer_id", "did you mean orders?"),
    ("PREDICT SUM(Orders.price, 0, 30) FOR EACH customers.customer_id",
     "did you mean orders? (names are case-sensitive)"),
    ("PREDICT CONT(orders.*, 0, 30) FOR EACH customers.customer_id", "did you mean COUNT?"),
    ("PREDICT COUNT(orders.*, 0, 30, dayz) FOR EACH customers.customer_id", "did you mean day?"),
    ("PREDICT COUNT(orders.*, 0, 30) FOR EACH customers.segment", "write FOR EACH customers.customer_id"),
    ("PREDICT LIST_DISTINCT(orders.price, 0, 30) RANK TOP 5 FOR EACH customers.customer_id",
     "foreign keys of orders: customer_id, product_id"),
    ("PREDICT COUNT(orders.*, 0, 30) FOR EACH customers.customer_id WHERE customers.age = NULL", "IS NULL"),
    ("SELECT * FROM orders", "PQL is not SQL"),
    ("PREDICT customers.segment = \"gold\" FOR EACH customers.customer_id", "single quotes"),
    ("PREDICT COUNT(orders.*) FOR EACH customers.customer_id", "an aggregation needs a window"),
])
def test_hints(ecommerce, text, hint):
    with pytest.raises(PQLError) as info:
        pql.compile(text, ecommerce)
    assert hint in (info.value.hint or "")


def test_error_str_and_dict(ecommerce):
    with pytest.raises(PQLError) as info:
        pql.compile("PREDICT SUM(orders.pric, 0, 30)\nFOR EACH customers.customer_id", ecommerce)
    err = info.value
    assert err.to_dict() == {"line": 1, "column": 13, "message": "unknown column orders.pric",
                             "hint": "did you mean orders.price?"}
    assert str(err) == ("line 1, column 13: unknown column orders.pric\n"
                        "PREDICT SUM(orders.pric, 0, 30)\n"
                        "            ^^^^^^^^^^^\n"
                        "hint: did you mean orders.price?")


def test_ambiguity_lists_every_candidate(schemas):
    with pytest.raises(PQLError) as info:
        pql.compile("PREDICT COUNT(messages.*, 0, 30) FOR EACH users.user_id", schemas["saas"])
    assert "messages.sender_id -> users" in info.value.message
    assert "messages.receiver_id -> users" in info.value.message


def test_parse_rejects_non_text():
    with pytest.raises(PQLError):
        pql.parse(None)  # type: ignore[arg-type]
