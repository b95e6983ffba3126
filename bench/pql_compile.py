"""Benchmark of the PQL compiler: time to compile typical queries, against lark parsing alone.

Usage: ``python bench/pql_compile.py [--quick] [--runs N]``

Prints a human-readable summary, then as its last line one JSON object::

    {"median_ms": ..., "p99_ms": ..., "queries": ..., "runs": ..., "reference_median_ms": ..., "ratio": ...}

``median_ms`` / ``p99_ms`` are over every (query, repetition) compile of ``pql.compile``; the reference
is the time the same lark grammar alone (no tree building, no passes) takes to parse the same texts,
measured in the same run, and ``ratio`` = median / reference median tells how much the compiler adds
on top of parsing. Goal: median well under 5 ms.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pql
from pql.parser import _plain_parser

SCHEMA = {
    "tables": {
        "customers": {"primary_key": "customer_id", "time_column": "signup_at",
                      "columns": {"customer_id": "ID", "region_id": "ID", "segment": "categorical",
                                  "country": "categorical", "age": "numerical", "name": "text",
                                  "interests": "multicategorical", "signup_at": "timestamp"}},
        "regions": {"primary_key": "region_id", "time_column": None,
                    "columns": {"region_id": "ID", "size": "numerical"}},
        "brands": {"primary_key": "brand_id", "time_column": None, "columns": {"brand_id": "ID", "name": "text"}},
        "products": {"primary_key": "product_id", "time_column": None,
                     "columns": {"product_id": "ID", "brand_id": "ID", "category": "categorical"}},
        "orders": {"primary_key": "order_id", "time_column": "created_at",
                   "columns": {"order_id": "ID", "customer_id": "ID", "product_id": "ID", "price": "numerical",
                               "channel": "categorical", "status": "categorical", "returned": "categorical",
                               "created_at": "timestamp"}},
        "reviews": {"primary_key": "review_id", "time_column": "created_at",
                    "columns": {"review_id": "ID", "customer_id": "ID", "product_id": "ID", "rating": "numerical",
                                "body": "text", "created_at": "timestamp"}},
    },
    "links": [
        {"table": "customers", "column": "region_id", "to": "regions"},
        {"table": "products", "column": "brand_id", "to": "brands"},
        {"table": "orders", "column": "customer_id", "to": "customers"},
        {"table": "orders", "column": "product_id", "to": "products"},
        {"table": "reviews", "column": "customer_id", "to": "customers"},
        {"table": "reviews", "column": "product_id", "to": "products"},
    ],
}

QUERIES = [
    "PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id WHERE COUNT(orders.*, -90, 0, days) > 0",
    "PREDICT SUM(orders.price, 0, 30, days) FOR EACH customers.customer_id",
    "PREDICT LIST_DISTINCT(orders.product_id, 0, 7, days) RANK TOP 12 FOR EACH customers.customer_id",
    "PREDICT FIRST(orders.channel, 0, 7) FOR EACH customers.customer_id",
    "PREDICT customers.segment FOR EACH customers.customer_id",
    "PREDICT COUNT(orders.* WHERE orders.returned = true, 0, 30) > 0 FOR EACH customers.customer_id "
    "ASSUMING COUNT(orders.*, 0, 30) > 0",
    "PREDICT SUM(orders.price, 0, 7, days) FORECAST 4 TIMEFRAMES FOR EACH products.product_id",
    "PREDICT AVG(orders.price, 0, 30) FOR customers.customer_id IN (1, 2, 3)",
    "PREDICT COUNT(orders.*, 0, 30) FOR EACH brands.brand_id",
    "PREDICT (COUNT(orders.*, 0, 30) > 0 AND SUM(orders.price, 0, 30) > 100) OR COUNT(reviews.*, 0, 30) > 2 "
    "FOR EACH customers.customer_id WHERE customers.country IN ('US', 'CA') AND regions.size < 10000 "
    "AND customers.name NOT LIKE '%test%' AND COUNT(orders.*, -INF, 0) > 0",
]


def _time_ms(fn, text: str) -> float:
    start = time.perf_counter()
    fn(text)
    return (time.perf_counter() - start) * 1000.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--quick", action="store_true", help="few repetitions (a smoke run)")
    args.add_argument("--runs", type=int, default=None, help="repetitions per query (default 300, quick 20)")
    opts = args.parse_args(argv)
    runs = opts.runs or (20 if opts.quick else 300)

    schema = pql.GraphSchema.from_dict(SCHEMA)
    lark_parse = _plain_parser().parse

    def compile_one(text: str) -> None:
        pql.compile(text, schema)

    for text in QUERIES:  # warm-up: builds both parsers and fills caches
        for _ in range(3):
            compile_one(text)
            lark_parse(text)

    gc.collect()
    compile_ms: list[float] = []
    lark_ms: list[float] = []
    per_query: dict[str, list[float]] = {}
    for _ in range(runs):
        for text in QUERIES:  # interleaved, so that machine noise hits both sides alike
            t = _time_ms(compile_one, text)
            compile_ms.append(t)
            per_query.setdefault(text, []).append(t)
            lark_ms.append(_time_ms(lark_parse, text))

    median = statistics.median(compile_ms)
    ref = statistics.median(lark_ms)
    result = {
        "median_ms": round(median, 4),
        "p99_ms": round(_percentile(compile_ms, 0.99), 4),
        "queries": len(QUERIES),
        "runs": runs,
        "reference": "lark LALR parse of the same text, no tree building or passes",
        "reference_median_ms": round(ref, 4),
        "ratio": round(median / ref, 3) if ref > 0 else None,
    }
    print(f"PQL compile benchmark: {len(QUERIES)} queries x {runs} runs ({len(compile_ms)} compiles)")
    for text, times in per_query.items():
        short = text if len(text) <= 70 else text[:67] + "..."
        print(f"  {statistics.median(times):7.3f} ms  {short}")
    print(f"median {median:.3f} ms, p99 {result['p99_ms']:.3f} ms; lark parse alone median {ref:.3f} ms "
          f"(compile/parse ratio {result['ratio']})")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
