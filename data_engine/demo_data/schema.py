"""The demo tables' Arrow schemas, semantic types and links, and their ``schema.json`` graph schema."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TIMESTAMP = pa.timestamp("ms")
TAG_SEPARATOR = "|"  # how a multicategorical list is written in CSV cells


@dataclass(frozen=True)
class TableSpec:
    """One table: Arrow schema, primary key, time column and the semantic type of each column."""

    name: str
    schema: pa.Schema
    primary_key: str | None
    time_column: str | None
    stypes: dict[str, str]


def _spec(name: str, primary_key: str | None, time_column: str | None,
          columns: list[tuple[str, pa.DataType, str]]) -> TableSpec:
    return TableSpec(name=name, schema=pa.schema([(c, t) for c, t, _ in columns]), primary_key=primary_key,
                     time_column=time_column, stypes={c: s for c, _, s in columns})


CUSTOMERS = _spec("customers", "customer_id", "signup_date", [
    ("customer_id", pa.int64(), "ID"),
    ("signup_date", TIMESTAMP, "timestamp"),
    ("age", pa.int64(), "numerical"),
    ("gender", pa.string(), "categorical"),
    ("region", pa.string(), "categorical"),
    ("segment", pa.string(), "categorical"),
    ("acquisition_channel", pa.string(), "categorical"),
    ("newsletter", pa.bool_(), "categorical"),
])
PRODUCTS = _spec("products", "product_id", None, [
    ("product_id", pa.int64(), "ID"),
    ("title", pa.string(), "text"),
    ("description", pa.string(), "text"),
    ("category", pa.string(), "categorical"),
    ("brand", pa.string(), "categorical"),
    ("price", pa.float64(), "numerical"),
    ("color", pa.string(), "categorical"),
    ("weight_kg", pa.float64(), "numerical"),
    ("tags", pa.list_(pa.string()), "multicategorical"),
])
ORDERS = _spec("orders", "order_id", "ordered_at", [
    ("order_id", pa.int64(), "ID"),
    ("customer_id", pa.int64(), "ID"),
    ("product_id", pa.int64(), "ID"),
    ("ordered_at", TIMESTAMP, "timestamp"),
    ("quantity", pa.int64(), "numerical"),
    ("price", pa.float64(), "numerical"),
    ("discount", pa.float64(), "numerical"),
    ("channel", pa.string(), "categorical"),
    ("payment_method", pa.string(), "categorical"),
    ("returned", pa.bool_(), "categorical"),
])
REVIEWS = _spec("reviews", "review_id", "reviewed_at", [
    ("review_id", pa.int64(), "ID"),
    ("customer_id", pa.int64(), "ID"),
    ("product_id", pa.int64(), "ID"),
    ("reviewed_at", TIMESTAMP, "timestamp"),
    ("rating", pa.int64(), "numerical"),
    ("title", pa.string(), "text"),
    ("body", pa.string(), "text"),
    ("helpful_votes", pa.int64(), "numerical"),
])
SESSIONS = _spec("sessions", "session_id", "started_at", [
    ("session_id", pa.int64(), "ID"),
    ("customer_id", pa.int64(), "ID"),
    ("started_at", TIMESTAMP, "timestamp"),
    ("device", pa.string(), "categorical"),
    ("pages_viewed", pa.int64(), "numerical"),
    ("duration_s", pa.float64(), "numerical"),
    ("referrer", pa.string(), "categorical"),
])

TABLES: dict[str, TableSpec] = {t.name: t for t in (CUSTOMERS, PRODUCTS, ORDERS, REVIEWS, SESSIONS)}
LINKS: tuple[tuple[str, str, str], ...] = (
    ("orders", "customer_id", "customers"),
    ("orders", "product_id", "products"),
    ("reviews", "customer_id", "customers"),
    ("reviews", "product_id", "products"),
    ("sessions", "customer_id", "customers"),
)


def graph_schema() -> dict:
    """The PQL graph schema of the demo tables (the content of ``schema.json``)."""
    return {
        "tables": {
            t.name: {"primary_key": t.primary_key, "time_column": t.time_column, "columns": dict(t.stypes)}
            for t in TABLES.values()
        },
        "links": [{"table": table, "column": column, "to": to} for table, column, to in LINKS],
    }
