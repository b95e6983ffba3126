"""Customers: the observable ``customers`` rows and the hidden traits that drive their activity.

The hidden traits (purchase rate, lifetime, taste, favourites, repeat propensity) are drawn independently of
the observable columns, except the segment, which follows the customer's favourite category group. So the
customers table alone tells little about churn or spend; the customer's orders, products and reviews tell a lot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from data_engine.demo_data import text
from data_engine.demo_data.calendar import DAY_MS, N_DAYS, START_MS
from data_engine.demo_data.catalogue import Catalogue
from data_engine.demo_data.schema import CUSTOMERS
from data_engine.demo_data.vocabulary import (ACQUISITION, ACQUISITION_SHARES, CATEGORIES, CHANNEL_SHARES,
                                              DEVICE_SHARES, GENDER_SHARES, GENDERS, REGION_SHARES, REGIONS,
                                              SEGMENTS)

CUSTOMERS_PER_SCALE = 10_000
N_FAVOURITES = 4
BASE_ORDER_RATE = 0.036  # per day, before the power-law multiplier and seasonality
MAX_ORDER_RATE = 0.5


@dataclass(frozen=True)
class CustomerChunk:
    """One chunk of customers: their table rows and the hidden traits the simulation uses.

    Attributes:
        customer_id: public ids (consecutive across chunks).
        signup_day: day index of signup (negative: before the data range starts).
        order_rate: daily purchase probability before seasonality (power-law distributed).
        session_rate: daily browsing probability before seasonality.
        loss_hazard: daily probability of leaving for good, independent of experience.
        taste_cum: row-wise cumulative category preferences.
        favourites: internal product indices the customer re-buys.
        favourite_brand: brand index the customer seeks out.
        repeat_p: probability that a purchase is one of the favourites.
        brand_p: probability that a purchase is chosen by the favourite brand.
        price_tilt: exponent applied to the uniform draw inside a category: below 1 favours dearer products.
        channel, channel_loyalty, device: preferred order channel, how often it is used, preferred device.
        table: the ``customers`` rows.
    """

    customer_id: np.ndarray
    signup_day: np.ndarray
    order_rate: np.ndarray
    session_rate: np.ndarray
    loss_hazard: np.ndarray
    taste_cum: np.ndarray
    favourites: np.ndarray
    favourite_brand: np.ndarray
    repeat_p: np.ndarray
    brand_p: np.ndarray
    price_tilt: np.ndarray
    channel: np.ndarray
    channel_loyalty: np.ndarray
    device: np.ndarray
    table: pa.Table

    def __len__(self) -> int:
        return len(self.customer_id)


def n_customers(scale: float) -> int:
    """How many customers the data set holds at ``scale``."""
    return max(1, round(scale * CUSTOMERS_PER_SCALE))


def build_customers(rng: np.random.Generator, first_id: int, n: int, catalogue: Catalogue) -> CustomerChunk:
    """Draw ``n`` customers with ids ``first_id..first_id+n-1`` from ``rng``."""
    existing = rng.random(n) < 0.4
    signup_day = np.where(existing, -rng.integers(1, 3 * 365, size=n),
                          np.floor(rng.random(n) ** 0.85 * (N_DAYS - 14))).astype(np.int64)

    # Hidden behaviour: a power law of purchase rates (a few customers buy a lot), lifetimes, taste.
    order_rate = np.minimum(BASE_ORDER_RATE * (1.0 + rng.pareto(1.25, size=n)), MAX_ORDER_RATE)
    session_rate = 0.01 * rng.lognormal(0.0, 0.5, size=n) + 1.2 * order_rate
    loss_hazard = 1.0 / rng.gamma(2.0, 700.0, size=n)
    shares = np.array([c.share for c in CATEGORIES])
    taste = 0.85 * rng.dirichlet(0.25 * len(shares) * shares, size=n) + 0.15 * shares
    taste_cum = np.cumsum(taste / taste.sum(1, keepdims=True), axis=1)
    taste_cum[:, -1] = 1.0
    top_category = taste.argmax(1)
    price_tilt = np.exp(-1.2 * rng.normal(0.0, 1.0, size=n))
    favourite_category = np.stack([text.row_choice(rng, taste_cum) for _ in range(N_FAVOURITES)], axis=1)
    favourites = catalogue.sample_in_category(rng.random((n, N_FAVOURITES)) ** price_tilt[:, None],
                                              favourite_category, good_only=True)
    favourite_brand = catalogue.brand[catalogue.sample_in_category(rng.random(n), top_category)]
    repeat_p = rng.beta(2.0, 3.5, size=n)
    brand_p = rng.beta(1.0, 6.0, size=n)
    channel = text.choice(rng, CHANNEL_SHARES, n)
    channel_loyalty = rng.beta(4.0, 2.0, size=n)

    # Observable columns: independent of the behaviour above, except segment (taste) and device (age).
    age = np.clip(np.round(rng.gamma(9.0, 4.6, size=n)), 18, 90)
    young = age < 35
    device = np.where(young & (rng.random(n) < 0.4), 1, text.choice(rng, DEVICE_SHARES, n))
    group_of = np.array([SEGMENTS.index(c.group) for c in CATEGORIES])
    segment = np.where(rng.random(n) < 0.85, group_of[top_category], rng.integers(0, len(SEGMENTS), size=n))
    signup_ms = START_MS + signup_day * DAY_MS
    table = pa.table({
        "customer_id": pa.array(np.arange(first_id, first_id + n, dtype=np.int64)),
        "signup_date": pa.array(signup_ms.astype("datetime64[ms]")),
        "age": text.with_nulls(age.astype(np.int64), rng.random(n) < 0.15, pa.int64()),
        "gender": text.with_nulls(text.pick(GENDERS, text.choice(rng, GENDER_SHARES, n)), rng.random(n) < 0.1),
        "region": text.pick(REGIONS, text.choice(rng, REGION_SHARES, n)),
        "segment": text.pick(SEGMENTS, segment),
        "acquisition_channel": text.with_nulls(text.pick(ACQUISITION, text.choice(rng, ACQUISITION_SHARES, n)),
                                               rng.random(n) < 0.2),
        "newsletter": pa.array(rng.random(n) < 0.35),
    }, schema=CUSTOMERS.schema)
    return CustomerChunk(
        customer_id=np.arange(first_id, first_id + n, dtype=np.int64), signup_day=signup_day,
        order_rate=order_rate, session_rate=session_rate, loss_hazard=loss_hazard, taste_cum=taste_cum,
        favourites=favourites, favourite_brand=favourite_brand, repeat_p=repeat_p, brand_p=brand_p,
        price_tilt=price_tilt, channel=channel, channel_loyalty=channel_loyalty, device=device, table=table,
    )
