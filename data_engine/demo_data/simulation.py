"""Day-by-day simulation of one chunk of customers: who browses, who buys what, who leaves.

The loop runs over days and is vectorised over the chunk's customers. Each day a customer is in one of four
states: not signed up yet, awake, dormant (after a bad experience) or lost (for good). A purchase of a
product with low hidden quality is likely a *bad experience*: the customer then either leaves for good or goes
dormant for a few months. That is the planted churn signal; the tables only show its traces (returns, low
ratings, the product's record with other customers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_engine.demo_data.calendar import N_DAYS, ORDER_SEASON, SESSION_SEASON
from data_engine.demo_data.catalogue import Catalogue
from data_engine.demo_data.customers import N_FAVOURITES, CustomerChunk

LEAVE_AFTER_BAD_P = 0.65  # after a bad experience: leave for good, else go dormant
DORMANT_MEAN_DAYS = 120
DORMANT_BROWSING = 0.25  # browsing rate of dormant customers relative to awake ones
LOST_BROWSING = 0.02
WARM_UP_DAYS = 120  # customers who signed up earlier live this long before events are recorded


def bad_experience_p(quality: np.ndarray) -> np.ndarray:
    """Probability that buying a product of this hidden quality disappoints: steep below about 0.35."""
    return 0.95 / (1.0 + np.exp((quality - 0.35) / 0.06))


@dataclass(frozen=True)
class Activity:
    """The events of one chunk, in day order; customers are chunk-local indices, products internal ones."""

    order_customer: np.ndarray
    order_day: np.ndarray
    order_product: np.ndarray
    order_bad: np.ndarray
    session_customer: np.ndarray
    session_day: np.ndarray
    session_with_order: np.ndarray


def choose_products(rng: np.random.Generator, chunk: CustomerChunk, catalogue: Catalogue,
                    buyers: np.ndarray) -> np.ndarray:
    """One internal product index per buyer: a favourite, a product of the favourite brand, or one drawn by
    popularity (tilted by the buyer's price preference) inside a category drawn from the buyer's taste."""
    m = len(buyers)
    u = rng.random((4, m))
    repeat = u[0] < chunk.repeat_p[buyers]
    by_brand = ~repeat & (u[0] < chunk.repeat_p[buyers] + chunk.brand_p[buyers])
    category = (chunk.taste_cum[buyers] < u[1][:, None]).sum(1).clip(0, chunk.taste_cum.shape[1] - 1)
    product = catalogue.sample_in_category(u[2] ** chunk.price_tilt[buyers], category)
    if by_brand.any():
        product[by_brand] = catalogue.sample_in_brand(u[2][by_brand], chunk.favourite_brand[buyers[by_brand]])
    if repeat.any():
        slot = (u[3][repeat] * N_FAVOURITES).astype(np.int64)
        product[repeat] = chunk.favourites[buyers[repeat], slot]
    return product


def simulate(rng: np.random.Generator, chunk: CustomerChunk, catalogue: Catalogue) -> Activity:
    """Run the chunk's customers through every day of the range."""
    n = len(chunk)
    # Customers who signed up before the range may already be gone; the others (and the warm-up, which runs
    # without recording) settle them into a steady mix of awake, dormant and lost customers.
    tenure = np.maximum(-chunk.signup_day - WARM_UP_DAYS, 0)
    lost = rng.random(n) < 1.0 - np.exp(-chunk.loss_hazard * tenure)
    awake_from = np.full(n, -WARM_UP_DAYS, dtype=np.int64)
    orders: list[tuple[np.ndarray, ...]] = []
    sessions: list[tuple[np.ndarray, ...]] = []
    first_day = int(max(chunk.signup_day.min(), -WARM_UP_DAYS)) if n else N_DAYS
    for day in range(first_day, N_DAYS):
        u = rng.random((3, n))
        signed = chunk.signup_day <= day
        lost |= signed & (u[0] < chunk.loss_hazard)
        alive = signed & ~lost
        awake = alive & (awake_from <= day)
        season = day if day >= 0 else day + 365  # the warm-up borrows the first year's seasons
        buyers = np.flatnonzero(awake & (u[1] < chunk.order_rate * ORDER_SEASON[season]))
        product = choose_products(rng, chunk, catalogue, buyers)
        bad = rng.random(len(buyers)) < bad_experience_p(catalogue.quality[product])
        if bad.any():
            hurt = buyers[bad]
            leave = rng.random(len(hurt)) < LEAVE_AFTER_BAD_P
            lost[hurt[leave]] = True
            stay = hurt[~leave]
            awake_from[stay] = day + 1 + rng.geometric(1.0 / DORMANT_MEAN_DAYS, size=len(stay))
        if day < 0:
            continue
        orders.append((buyers, np.full(len(buyers), day), product, bad))
        # Most purchases come with a browsing session the same day.
        with_session = buyers[rng.random(len(buyers)) < 0.75]
        browse_factor = np.where(awake, 1.0, np.where(alive, DORMANT_BROWSING, LOST_BROWSING))
        browsers = np.flatnonzero(signed & (u[2] < chunk.session_rate * SESSION_SEASON[day] * browse_factor))
        sessions.append((with_session, np.full(len(with_session), day), np.ones(len(with_session), bool)))
        sessions.append((browsers, np.full(len(browsers), day), np.zeros(len(browsers), bool)))

    def stack(parts: list[tuple[np.ndarray, ...]], width: int, dtypes: tuple) -> list[np.ndarray]:
        if not parts:
            return [np.zeros(0, dtype=t) for t in dtypes]
        return [np.concatenate([p[i] for p in parts]).astype(dtypes[i], copy=False) for i in range(width)]

    oc, od, op, ob = stack(orders, 4, (np.int64, np.int64, np.int64, bool))
    sc, sd, sw = stack(sessions, 3, (np.int64, np.int64, bool))
    return Activity(order_customer=oc, order_day=od, order_product=op, order_bad=ob,
                    session_customer=sc, session_day=sd, session_with_order=sw)
