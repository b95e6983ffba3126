"""Semantic types, key and time proposals, and link name matching from statistics (pure Python)."""

from __future__ import annotations

import pytest

from data_engine.ingest.options import ColumnOverride
from data_engine.ingest.types import unix_unit_for
from data_engine.links import TableView, name_candidates, name_score
from data_engine.semantics import (
    SemanticType,
    SemanticTypeError,
    infer_semantic_types,
    name_tokens,
    primary_key_candidates,
    propose_primary_key,
    propose_time_column,
    same_words,
)

pytestmark = pytest.mark.unit

ROWS = 1000


def string_stats(distinct, *, length=8.0, words=1.0, seps=None, count=ROWS):
    seps = seps or {}
    return {"count": count, "nulls": ROWS - count, "null_fraction": (ROWS - count) / ROWS, "distinct": distinct,
            "length": {"min": 1, "mean": length, "max": 2 * length}, "mean_words": words,
            "separators": {s: seps.get(s, {"fraction": 0.0, "tokens_per_value": 1.0}) for s in "|;,"}}


def number_stats(distinct, count=ROWS):
    return {"count": count, "nulls": ROWS - count, "null_fraction": (ROWS - count) / ROWS, "distinct": distinct}


def time_stats(low, high, distinct=500, nulls=0):
    return {"count": ROWS - nulls, "nulls": nulls, "null_fraction": nulls / ROWS, "distinct": distinct,
            "min": low, "max": high}


def test_semantic_types_from_dtypes_names_and_statistics():
    genres = {"fraction": 0.7, "tokens_per_value": 2.3, "distinct_tokens": 20, "total_tokens": 2300}
    dtypes = {"movie_id": "int64", "userId": "int64", "rating": "float64", "flag": "int64", "zip_code": "int64",
              "quantity": "int64", "when": "timestamp", "paid": "bool", "genres": "string", "title": "string",
              "status": "string", "sku_key": "string", "tags": "list<string>", "review": "string"}
    stats = {"movie_id": number_stats(1000), "userId": number_stats(600), "rating": number_stats(10),
             "flag": number_stats(2), "zip_code": number_stats(300), "quantity": number_stats(9),
             "when": time_stats("2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"), "paid": number_stats(2),
             "genres": string_stats(900, length=30, words=1.2, seps={"|": genres}),
             "title": string_stats(990, length=25, words=2.0), "status": string_stats(4, length=7),
             "sku_key": string_stats(1000), "tags": number_stats(50),
             "review": string_stats(30, length=120, words=20)}
    got = {n: c.stype for n, c in infer_semantic_types("t", dtypes, stats).items()}
    assert got == {
        "movie_id": SemanticType.ID, "userId": SemanticType.ID, "rating": SemanticType.NUMERICAL,
        "flag": SemanticType.CATEGORICAL, "zip_code": SemanticType.CATEGORICAL, "quantity": SemanticType.NUMERICAL,
        "when": SemanticType.TIMESTAMP, "paid": SemanticType.CATEGORICAL, "genres": SemanticType.MULTICATEGORICAL,
        "title": SemanticType.TEXT, "status": SemanticType.CATEGORICAL, "sku_key": SemanticType.ID,
        "tags": SemanticType.MULTICATEGORICAL, "review": SemanticType.TEXT,
    }
    assert infer_semantic_types("t", dtypes, stats)["genres"].separator == "|"


def test_commas_in_free_text_do_not_make_it_multicategorical():
    titles = {"fraction": 0.08, "tokens_per_value": 1.1, "distinct_tokens": 10500, "total_tokens": 11000}
    stats = {"title": string_stats(9700, length=30, words=4, seps={",": titles})}
    column = infer_semantic_types("movies", {"title": "string"}, stats)["title"]
    assert column.stype is SemanticType.TEXT


def test_overrides_win_and_must_fit_the_dtype():
    stats = {"code": number_stats(50), "labels": string_stats(40), "price": number_stats(400)}
    dtypes = {"code": "int64", "labels": "string", "price": "float64"}
    got = infer_semantic_types("t", dtypes, stats, {
        "code": ColumnOverride(stype="categorical"),
        "labels": ColumnOverride(stype="Multicategorical", separator=";")})
    assert got["code"].stype is SemanticType.CATEGORICAL and got["code"].origin == "override"
    assert got["labels"].separator == ";"
    with pytest.raises(SemanticTypeError, match="t.price: semantic type timestamp does not fit its dtype float64"):
        infer_semantic_types("t", dtypes, stats, {"price": "timestamp"})
    with pytest.raises(SemanticTypeError, match="needs a separator"):
        infer_semantic_types("t", dtypes, stats, {"labels": ColumnOverride(stype="multicategorical")})


def test_primary_key_prefers_the_tables_own_key_name():
    dtypes = {"row": "int64", "customer_id": "int64", "store_id": "int64", "email": "string"}
    stats = {"row": number_stats(1000), "customer_id": number_stats(1000), "store_id": number_stats(2),
             "email": string_stats(1000)}
    columns = infer_semantic_types("customers", dtypes, stats)
    candidates = primary_key_candidates(columns, stats, ROWS)
    assert candidates == ["customer_id"]  # not row (numerical), store_id (repeats) or email (text)
    proposal = propose_primary_key("customers", columns, {"customer_id": True})
    assert proposal.column == "customer_id"
    assert propose_primary_key("customers", columns, {"customer_id": False}).column is None


def test_time_column_skips_load_times_and_prefers_event_names():
    columns = infer_semantic_types("rental", {
        "last_update": "timestamp", "return_date": "timestamp", "rental_date": "timestamp"}, {
        "last_update": time_stats("2021-03-06T15:53:41Z", "2021-03-06T15:53:59Z"),
        "return_date": time_stats("2005-05-25T00:00:00Z", "2005-09-02T00:00:00Z", nulls=183),
        "rental_date": time_stats("2005-05-24T22:53:30Z", "2006-02-14T15:16:03Z")})
    stats = {"last_update": time_stats("2021-03-06T15:53:41Z", "2021-03-06T15:53:59Z"),
             "return_date": time_stats("2005-05-25T00:00:00Z", "2005-09-02T00:00:00Z", nulls=183),
             "rental_date": time_stats("2005-05-24T22:53:30Z", "2006-02-14T15:16:03Z")}
    proposal = propose_time_column("rental", columns, stats)
    assert proposal.column == "rental_date"
    assert proposal.candidates == ("return_date",)
    assert any("last_update" in r for r in proposal.reasons)
    only_load_time = {"last_update": columns["last_update"]}
    assert propose_time_column("film", only_load_time, stats).column is None


def test_updated_at_ranks_below_created_at():
    stats = {"updated_at": time_stats("2020-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
             "created_at": time_stats("2019-01-01T00:00:00Z", "2023-01-01T00:00:00Z")}
    columns = infer_semantic_types("t", {"updated_at": "timestamp", "created_at": "timestamp"}, stats)
    assert propose_time_column("t", columns, stats).column == "created_at"


def test_names_words_and_singulars():
    assert name_tokens("customerId") == ["customer", "id"]
    assert name_tokens("HTTPStatus_code") == ["http", "status", "code"]
    for plural, single in (("customers", "customer"), ("categories", "category"), ("addresses", "address"),
                           ("movies", "movie"), ("statuses", "status"), ("film", "film")):
        assert same_words([plural], [single]), plural
    assert not same_words(["movies"], ["links"]) and not same_words(["film", "category"], ["film"])


def test_unix_time_needs_a_time_name_for_seconds_but_not_for_milliseconds():
    assert unix_unit_for("timestamp", 964982703, 1537799250) == "s"
    assert unix_unit_for("population", 964982703, 1537799250) is None
    assert unix_unit_for("event", 1_700_000_000_000, 1_700_000_400_000) == "ms"
    assert unix_unit_for("created_at", 5, 100) is None


def test_link_name_scores():
    assert name_score("orders", "customer_id", "customers", "customer_id")[0] == 1.0
    assert name_score("orders", "customerId", "customers", "customer_id")[0] == 1.0
    assert name_score("orders", "customer_id", "customers", "id")[0] == 0.95
    assert name_score("ratings", "movieId", "links", "movieId")[0] == 0.8
    assert name_score("ratings", "movieId", "movies", "movieId")[0] == 1.0
    assert name_score("rental", "category_id", "categories", "id")[0] == 0.95
    assert name_score("store", "manager_staff_id", "staff", "staff_id")[0] == 0.6
    assert name_score("orders", "amount", "customers", "customer_id")[0] == 0.0
    assert name_score("orders", "order_id", "customers", "id")[0] == 0.0


def test_name_candidates_need_a_key_and_matching_key_kinds():
    tables = {
        "customers": TableView("customers", {"customer_id": "int64", "name": "string"}, "customer_id"),
        "orders": TableView("orders", {"order_id": "int64", "customer_id": "int64", "product_id": "string"},
                            "order_id"),
        "products": TableView("products", {"id": "int64"}, "id"),
        "notes": TableView("notes", {"customer_id": "string"}, None),
    }
    found = {(c[0], c[1], c[2]) for c in name_candidates(tables)}
    # orders.product_id is a string and products.id an integer; notes.customer_id is a string.
    assert found == {("orders", "customer_id", "customers")}
