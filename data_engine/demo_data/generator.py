"""Synthetic e-commerce data with planted relational signals, streamed chunk by chunk to any object store.

Tables (``schema.json`` beside them holds the PQL graph schema):

- ``customers`` (time column ``signup_date``): age, gender, region, segment, acquisition channel, newsletter.
  Customers appear over time (40 % signed up before the range, the rest at a growing pace).
- ``products`` (static): title and description (free text), category, brand, price (log-normal per category
  and brand), color, weight, tags (multicategorical; ``|``-joined in CSV).
- ``orders`` (``ordered_at``): one product per order, quantity, price paid, discount (null when none),
  channel, payment method, returned (null for the last 14 days, when returns are not known yet).
- ``reviews`` (``reviewed_at``): rating 1-5, title and body text whose sentiment follows the rating.
- ``sessions`` (``started_at``): device, pages viewed, duration, referrer.

The range is two years (2023-01-01 to 2025-01-01). Scale 1 is 10,000 customers, about 1,500 products and
about 10^5 orders; every table grows linearly with the scale. Several columns have nulls.

Realism:

- Power-law activity: each customer's daily purchase probability is a Pareto-tailed multiple of a base rate,
  so a few customers place a large share of the orders.
- Seasonality: weekday factors (weekends sell more), a yearly wave (winter high), a November-December run with
  a Black Friday to Cyber Monday peak, January sales, a dip at Christmas, a slow upward trend; times of day
  follow a lunch bump and an evening peak. Discounts are more frequent on promotion days.

Planted signals (what a model can learn, and from where):

- **Churn depends on the products bought.** Every product has a hidden quality (brands have a mean quality;
  some products are lemons). Buying a low-quality product is likely (up to 95 %) a *bad experience*: the
  customer then leaves for good (65 % of the time) or goes dormant for about four months. A bad experience
  shows as a likely return (80 % against 2-6 %) and, when the customer reviews (60 % against 10 %), a rating
  of 1 or 2 with negative text; the product's quality also shows in the returns and ratings of every other
  buyer. So ``PREDICT COUNT(orders.*, 0, 30, days) = 0 FOR EACH customers.customer_id`` is learnable from the
  customer's orders -> products (-> their other orders and reviews) and reviews, plus recent activity
  (purchase rate, sessions); customers also leave at a slow natural rate. At scale 1, active customers who
  bought a lemon in the last 30 days churn about twice as often (~0.84 against ~0.4). The ``customers``
  columns are drawn independently of purchase rate, lifetime and experiences, so alone they carry little churn
  signal (a logistic regression on them scores an AUROC of about 0.5).
- **Spend.** ``SUM(orders.price, 0, 30, days)`` follows the customer's purchase rate (visible in past orders
  and sessions), their categories' price levels, a persistent price preference (some customers pick the dear
  products of a category, others the cheap ones) and their churn state.
- **Recommendation.** Each customer has a category taste (concentrated Dirichlet), a favourite brand and four
  favourite products (good ones, from their taste) that make up a customer-specific share of purchases (mean
  about 36 %); other purchases come from the favourite brand or by popularity inside a category drawn from the
  taste. ``LIST_DISTINCT(orders.product_id, 0, 7, days)`` is thus predictable from past orders.
- **Segment** follows the customer's favourite category group (85 %), learnable from orders -> products.
- **Channel and device** follow per-customer preferences (``FIRST(orders.channel, 0, 7)``).

Determinism and streaming: products come from one random stream, customers in fixed chunks of
:data:`CHUNK_SIZE`, each chunk from its own generator seeded by ``SeedSequence(seed, spawn_key=(1, chunk))``;
tables are appended chunk by chunk, so memory stays bounded at any scale, ids are consecutive and stable, and
the same (scale, seed, format) gives the same bytes.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectStore, ObjectStoreError

from data_engine.demo_data.activity import build_orders, build_reviews, build_sessions
from data_engine.demo_data.catalogue import build_catalogue
from data_engine.demo_data.customers import build_customers, n_customers
from data_engine.demo_data.schema import CUSTOMERS, ORDERS, PRODUCTS, REVIEWS, SESSIONS, TABLES, graph_schema
from data_engine.demo_data.simulation import simulate
from data_engine.demo_data.sinks import FORMATS, TableSink, open_sink

CHUNK_SIZE = 4096
PRODUCT_BATCH = 65_536
MAX_SCALE = 10_000.0
_PRODUCT_STREAM = 0
_CUSTOMER_STREAM = 1


class DemoDataError(UserFacingError, ValueError):
    """The demo data cannot be generated with these arguments; the message says which one is wrong."""


@dataclass(frozen=True)
class DemoDataReport:
    """What :func:`generate` wrote.

    Attributes:
        out_uri: the output folder's URI.
        fmt: ``parquet`` or ``csv``.
        scale, seed: the arguments used.
        rows: row count per table.
        files: object URI per table.
        schema_uri: URI of ``schema.json``.
        seconds: wall time of the generation.
    """

    out_uri: str
    fmt: str
    scale: float
    seed: int
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    schema_uri: str = ""
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def chunk_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """The generator of one stream's chunk, derived only from (seed, stream, chunk index)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, index)))


def _validate(scale: float, seed: int, fmt: str) -> None:
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise DemoDataError(f"--scale must be a positive number, got {scale!r}")
    if not 0 < scale <= MAX_SCALE:
        raise DemoDataError(f"--scale must be in (0, {MAX_SCALE:g}], got {scale:g}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DemoDataError(f"--seed must be a non-negative integer, got {seed!r}")
    if fmt not in FORMATS:
        raise DemoDataError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def generate(out_uri: str, scale: float = 1.0, seed: int = 0, fmt: str = "parquet",
             store: ObjectStore | None = None,
             progress: Callable[[int, int], None] | None = None) -> DemoDataReport:
    """Write the demo tables and ``schema.json`` under ``out_uri``.

    Args:
        out_uri: the output folder: a local path, ``file://`` or ``s3://`` URI.
        scale: size multiplier; 1 is 10,000 customers and about 10^5 orders, fractions are allowed.
        seed: the random seed; the same (scale, seed, fmt) gives the same bytes.
        fmt: ``parquet`` or ``csv`` (header, comma, ISO timestamps, empty cells for nulls).
        store: a store whose connection settings (S3 endpoint, keys) reach ``out_uri``; default a store built
            from ``out_uri`` alone.
        progress: called with (chunks done, chunks in all) after each chunk of customers.

    Returns:
        A :class:`DemoDataReport` with row counts and URIs.

    Raises:
        DemoDataError: an invalid scale, seed or format.
        ObjectStoreError: the output cannot be written; files already written by this call are removed.
    """
    _validate(scale, seed, fmt)
    started = time.perf_counter()
    target = store.for_uri(out_uri) if store is not None else ObjectStore(out_uri)
    if target.scheme == "s3":
        target.ensure_bucket()
    for name in TABLES:  # leftovers of the other format would contradict schema.json
        for other in FORMATS:
            if other != fmt:
                target.delete(f"{name}.{other}")

    sinks: dict[str, TableSink] = {}
    schema_uri = target.uri("schema.json")
    try:
        for spec in (CUSTOMERS, PRODUCTS, ORDERS, REVIEWS, SESSIONS):
            sinks[spec.name] = open_sink(target, spec, fmt)
        _write_all(sinks, scale, seed, progress)
        for sink in sinks.values():
            sink.close()
        target.write_bytes(schema_uri, (json.dumps(graph_schema(), indent=2) + "\n").encode())
    except BaseException as exc:
        _discard(target, sinks.values())
        if isinstance(exc, OSError) and not isinstance(exc, ObjectStoreError):
            raise ObjectStoreError(f"writing the demo data to {target.root_uri}: {exc}") from exc
        raise
    return DemoDataReport(
        out_uri=target.root_uri, fmt=fmt, scale=float(scale), seed=seed,
        rows={name: sink.rows for name, sink in sinks.items()},
        files={name: sink.uri for name, sink in sinks.items()},
        schema_uri=schema_uri, seconds=time.perf_counter() - started,
    )


def _discard(target: ObjectStore, sinks) -> None:
    """Best-effort removal of what a failed run wrote; the original error is what the caller sees."""
    for sink in sinks:
        for step in (sink.close, lambda: target.delete(sink.uri)):
            try:
                step()
            except Exception:  # noqa: BLE001 - the store may be the thing that failed
                pass


def _write_all(sinks: dict[str, TableSink], scale: float, seed: int,
               progress: Callable[[int, int], None] | None) -> None:
    catalogue = build_catalogue(chunk_rng(seed, _PRODUCT_STREAM, 0), scale)
    for offset in range(0, catalogue.table.num_rows, PRODUCT_BATCH):
        sinks["products"].write(catalogue.table.slice(offset, PRODUCT_BATCH))

    total = n_customers(scale)
    n_chunks = -(-total // CHUNK_SIZE)
    next_order = next_review = next_session = 1
    for index in range(n_chunks):
        rng = chunk_rng(seed, _CUSTOMER_STREAM, index)
        first = index * CHUNK_SIZE
        chunk = build_customers(rng, first + 1, min(CHUNK_SIZE, total - first), catalogue)
        activity = simulate(rng, chunk, catalogue)
        orders, ordered_at, product, bad = build_orders(rng, activity, chunk, catalogue, next_order)
        reviews = build_reviews(rng, orders, ordered_at, product, bad, catalogue, next_review)
        sessions = build_sessions(rng, activity, chunk, next_session)
        sinks["customers"].write(chunk.table)
        sinks["orders"].write(orders)
        sinks["reviews"].write(reviews)
        sinks["sessions"].write(sessions)
        next_order += orders.num_rows
        next_review += reviews.num_rows
        next_session += sessions.num_rows
        if progress is not None:
            progress(index + 1, n_chunks)
