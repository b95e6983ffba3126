"""The demo's time range and its seasonality: day-of-week, time-of-year, holidays and time-of-day."""

from __future__ import annotations

import numpy as np

START = np.datetime64("2023-01-01", "D")
END = np.datetime64("2025-01-01", "D")  # exclusive: the newest event is before this instant
N_DAYS = int((END - START).astype(int))
START_MS = int(START.astype("datetime64[ms]").astype(np.int64))
END_MS = int(END.astype("datetime64[ms]").astype(np.int64))
DAY_MS = 86_400_000

# Relative demand per weekday, Monday first: weekends sell more.
_ORDER_WEEKDAY = np.array([0.95, 0.9, 0.92, 0.97, 1.05, 1.2, 1.15])
_SESSION_WEEKDAY = np.array([1.0, 0.98, 0.98, 1.0, 1.0, 1.07, 1.05])
# Share of events per hour of day: a lunch bump and an evening peak.
_HOUR_WEIGHTS = np.array([0.6, 0.35, 0.2, 0.15, 0.15, 0.25, 0.6, 1.2, 1.8, 2.2, 2.4, 2.7,
                          3.2, 3.0, 2.6, 2.5, 2.6, 2.9, 3.4, 4.0, 4.4, 4.0, 2.8, 1.5])
HOUR_P = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()


def _day_parts() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    days = START + np.arange(N_DAYS)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    years = days.astype("datetime64[Y]")
    day_of_year = (days - years.astype("datetime64[D]")).astype(np.int64)
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day_of_month = (days - days.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    return weekday, day_of_year, month, day_of_month


def _holiday_boost(weekday: np.ndarray, month: np.ndarray, day_of_month: np.ndarray) -> np.ndarray:
    boost = np.ones(N_DAYS)
    christmas_run = (month == 12) & (day_of_month <= 22)
    boost[christmas_run] = 1.45
    boost[(month == 11) & (day_of_month >= 20)] = 1.3
    # Black Friday (the fourth Friday of November) through Cyber Monday.
    black_friday = (month == 11) & (weekday == 4) & (day_of_month >= 22) & (day_of_month <= 28)
    for day in np.flatnonzero(black_friday):
        boost[day:day + 4] = 2.3
    boost[(month == 1) & (day_of_month >= 2) & (day_of_month <= 10)] = 1.2  # January sales
    boost[(month == 12) & (day_of_month >= 24) & (day_of_month <= 26)] = 0.6
    return boost


def _seasonality() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    weekday, day_of_year, month, day_of_month = _day_parts()
    yearly = 1.0 + 0.12 * np.cos(2 * np.pi * (day_of_year - 15) / 365.25)  # winter high, summer low
    trend = 1.0 + 0.1 * np.arange(N_DAYS) / N_DAYS
    holiday = _holiday_boost(weekday, month, day_of_month)
    promo = (holiday > 1.25).astype(np.float64)
    orders = _ORDER_WEEKDAY[weekday] * yearly * trend * holiday
    sessions = _SESSION_WEEKDAY[weekday] * yearly * trend * np.sqrt(holiday)
    return orders, sessions, promo


ORDER_SEASON, SESSION_SEASON, PROMO_DAY = _seasonality()


def times_of_day_ms(rng: np.random.Generator, n: int) -> np.ndarray:
    """Milliseconds after midnight for ``n`` events, whole seconds, following :data:`HOUR_P`."""
    hours = rng.choice(24, size=n, p=HOUR_P)
    return (hours * 3600 + rng.integers(0, 3600, size=n)) * 1000
