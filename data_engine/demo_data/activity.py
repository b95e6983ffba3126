"""Turns one chunk's simulated events into ``orders``, ``reviews`` and ``sessions`` rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from data_engine.demo_data import text
from data_engine.demo_data.calendar import DAY_MS, END_MS, PROMO_DAY, START_MS, times_of_day_ms
from data_engine.demo_data.catalogue import NOUNS, Catalogue
from data_engine.demo_data.customers import CustomerChunk
from data_engine.demo_data.schema import ORDERS, REVIEWS, SESSIONS
from data_engine.demo_data.simulation import Activity
from data_engine.demo_data.vocabulary import (CATEGORIES, CHANNEL_SHARES, CHANNELS, DEVICE_SHARES, DEVICES,
                                              PAYMENT_SHARES, PAYMENTS, REFERRER_SHARES, REFERRERS,
                                              REVIEW_CLOSERS, REVIEW_DETAILS, REVIEW_OPENERS, REVIEW_TITLES)

RETURN_WINDOW_MS = 14 * DAY_MS  # returns of newer orders are not known yet: null
DISCOUNTS = np.array([0.05, 0.1, 0.15, 0.2, 0.3])
_GROCERY = [c.name for c in CATEGORIES].index("grocery")


def _flatten(pools: tuple[tuple, ...]) -> tuple[list, np.ndarray, np.ndarray]:
    sizes = np.array([len(p) for p in pools])
    return [x for p in pools for x in p], np.cumsum(np.concatenate([[0], sizes]))[:-1], sizes


def _pick_by_sentiment(rng: np.random.Generator, pools: tuple[tuple, ...], sentiment: np.ndarray) -> np.ndarray:
    """Indices into the flattened pools, one pool per sentiment."""
    _, offset, size = _flatten(pools)
    return offset[sentiment] + (rng.random(len(sentiment)) * size[sentiment]).astype(np.int64)


def build_orders(rng: np.random.Generator, activity: Activity, chunk: CustomerChunk, catalogue: Catalogue,
                 first_id: int) -> tuple[pa.Table, np.ndarray, np.ndarray, np.ndarray]:
    """The chunk's orders sorted by time, with (in the same order) their times in ms, internal product
    indices and bad-experience flags."""
    m = len(activity.order_day)
    at = START_MS + activity.order_day * DAY_MS + times_of_day_ms(rng, m)
    order = np.argsort(at, kind="stable")
    at, day = at[order], activity.order_day[order]
    customer, product, bad = (activity.order_customer[order], activity.order_product[order],
                              activity.order_bad[order])
    quality = catalogue.quality[product]

    grocery = catalogue.category[product] == _GROCERY
    quantity = rng.geometric(np.where(grocery, 0.5, 0.8)).astype(np.int64)
    has_discount = rng.random(m) < np.where(PROMO_DAY[day] > 0, 0.55, 0.15)
    discount = DISCOUNTS[rng.integers(0, len(DISCOUNTS), size=m)]
    paid = np.round(catalogue.price[product] * quantity * (1.0 - np.where(has_discount, discount, 0.0)), 2)
    channel = np.where(rng.random(m) < chunk.channel_loyalty[customer], chunk.channel[customer],
                       text.choice(rng, CHANNEL_SHARES, m))
    returned = rng.random(m) < np.where(bad, 0.8, 0.02 + 0.04 * (1.0 - quality))
    table = pa.table({
        "order_id": pa.array(np.arange(first_id, first_id + m, dtype=np.int64)),
        "customer_id": pa.array(chunk.customer_id[customer]),
        "product_id": pa.array(catalogue.product_id[product]),
        "ordered_at": pa.array(at.astype("datetime64[ms]")),
        "quantity": pa.array(quantity),
        "price": pa.array(paid),
        "discount": text.with_nulls(discount, ~has_discount, pa.float64()),
        "channel": text.with_nulls(text.pick(CHANNELS, channel), rng.random(m) < 0.02),
        "payment_method": text.with_nulls(text.pick(PAYMENTS, text.choice(rng, PAYMENT_SHARES, m)),
                                          rng.random(m) < 0.04),
        "returned": text.with_nulls(returned, at >= END_MS - RETURN_WINDOW_MS, pa.bool_()),
    }, schema=ORDERS.schema)
    return table, at, product, bad


def build_reviews(rng: np.random.Generator, orders: pa.Table, ordered_at: np.ndarray, product: np.ndarray,
                  bad: np.ndarray, catalogue: Catalogue, first_id: int) -> pa.Table:
    """Reviews written a few days after some orders: disappointed buyers review more, and badly."""
    m = orders.num_rows
    quality = catalogue.quality[product]
    writes = rng.random(m) < np.where(bad, 0.6, 0.1)
    at = ordered_at + DAY_MS + (rng.exponential(4.0 * 86_400, size=m)).astype(np.int64) * 1000
    good_rating = np.clip(np.round(1.6 + 3.6 * quality + rng.normal(0.0, 0.7, size=m)), 1, 5)
    rating = np.where(bad, np.where(rng.random(m) < 0.6, 1, 2), good_rating).astype(np.int64)
    keep = np.flatnonzero(writes & (at < END_MS))
    keep = keep[np.argsort(at[keep], kind="stable")]
    k = len(keep)
    rating, at, product = rating[keep], at[keep], product[keep]
    sentiment = np.where(rating <= 2, 0, np.where(rating == 3, 1, 2))

    openers, _, _ = _flatten(REVIEW_OPENERS)
    opener = _pick_by_sentiment(rng, REVIEW_OPENERS, sentiment)
    body = text.join([
        text.join([text.pick([o[0] for o in openers], opener), text.pick(NOUNS, catalogue.noun[product]),
                   text.pick([o[1] for o in openers], opener)], ""),
        text.pick(_flatten(REVIEW_DETAILS)[0], _pick_by_sentiment(rng, REVIEW_DETAILS, sentiment)),
        text.pick(_flatten(REVIEW_CLOSERS)[0], _pick_by_sentiment(rng, REVIEW_CLOSERS, sentiment)),
    ])
    title = text.pick(_flatten(REVIEW_TITLES)[0], _pick_by_sentiment(rng, REVIEW_TITLES, sentiment))
    votes = (rng.geometric(np.where(sentiment == 0, 0.35, 0.6)) - 1).astype(np.int64)
    return pa.table({
        "review_id": pa.array(np.arange(first_id, first_id + k, dtype=np.int64)),
        "customer_id": orders.column("customer_id").take(pa.array(keep)),
        "product_id": pa.array(catalogue.product_id[product]),
        "reviewed_at": pa.array(at.astype("datetime64[ms]")),
        "rating": pa.array(rating),
        "title": text.with_nulls(title, rng.random(k) < 0.4),
        "body": text.with_nulls(body, rng.random(k) < 0.15),
        "helpful_votes": text.with_nulls(votes, rng.random(k) < 0.05, pa.int64()),
    }, schema=REVIEWS.schema)


def build_sessions(rng: np.random.Generator, activity: Activity, chunk: CustomerChunk, first_id: int) -> pa.Table:
    """The chunk's web and app sessions sorted by start time."""
    m = len(activity.session_day)
    at = START_MS + activity.session_day * DAY_MS + times_of_day_ms(rng, m)
    order = np.argsort(at, kind="stable")
    at, customer, with_order = at[order], activity.session_customer[order], activity.session_with_order[order]
    device = np.where(rng.random(m) < 0.75, chunk.device[customer], text.choice(rng, DEVICE_SHARES, m))
    pages = np.where(with_order, 2 + rng.geometric(0.2, size=m), rng.geometric(0.35, size=m)).astype(np.int64)
    duration = np.round(pages * rng.lognormal(np.log(40.0), 0.6, size=m), 1)
    return pa.table({
        "session_id": pa.array(np.arange(first_id, first_id + m, dtype=np.int64)),
        "customer_id": pa.array(chunk.customer_id[customer]),
        "started_at": pa.array(at.astype("datetime64[ms]")),
        "device": text.with_nulls(text.pick(DEVICES, device), rng.random(m) < 0.03),
        "pages_viewed": pa.array(pages),
        "duration_s": text.with_nulls(duration, rng.random(m) < 0.1, pa.float64()),
        "referrer": text.with_nulls(text.pick(REFERRERS, text.choice(rng, REFERRER_SHARES, m)),
                                    rng.random(m) < 0.2),
    }, schema=SESSIONS.schema)
