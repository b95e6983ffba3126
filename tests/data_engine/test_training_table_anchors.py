"""Anchor times and splits: the default layout, user boundaries, and the non-overlap property."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from data_engine.training_table.anchors import SplitBoundaries, parse_duration, plan_anchors, to_utc
from data_engine.training_table.errors import AnchorError
from platform_core.errors import UserFacingError

pytestmark = pytest.mark.unit

DAY = 86400
UTC = dt.timezone.utc
T0 = dt.datetime(2023, 1, 1, tzinfo=UTC)


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)


def test_default_layout_steps_back_by_the_window_from_the_newest_complete_anchor() -> None:
    lo, hi = T0, T0 + days(200)
    split = plan_anchors(lo, hi, step_seconds=30 * DAY, horizon_seconds=30 * DAY)
    assert split.holdout == (hi - days(30),)
    assert split.validation == (hi - days(60),)
    assert split.train == tuple(hi - days(d) for d in (180, 150, 120, 90))
    assert split.min_time == lo and split.max_time == hi


def test_forecast_horizon_longer_than_step_leaves_a_gap_between_splits() -> None:
    hi = T0 + days(400)
    split = plan_anchors(T0, hi, step_seconds=7 * DAY, horizon_seconds=28 * DAY)
    assert split.holdout == (hi - days(28),)
    # The validation anchor's four weekly windows end exactly at the holdout anchor.
    assert split.validation == (hi - days(56),)
    assert split.train[-1] == hi - days(84)
    assert all(b - a == days(7) for a, b in zip(split.train, split.train[1:]))


def test_given_boundaries_follow_the_benchmark_layout() -> None:
    hi = T0 + days(365)
    bounds = SplitBoundaries(validation_start="2023-09-01", holdout_start=dt.date(2023, 10, 15),
                             anchor_step="14 days", eval_windows=2)
    split = plan_anchors(T0, hi, step_seconds=30 * DAY, horizon_seconds=30 * DAY, boundaries=bounds)
    vs, hs = dt.datetime(2023, 9, 1, tzinfo=UTC), dt.datetime(2023, 10, 15, tzinfo=UTC)
    assert split.validation == (vs, vs + days(14))
    assert split.holdout == (hs, hs + days(14))
    # 30 days of horizon need three 14-day steps of gap before the first validation anchor.
    assert split.train[-1] == vs - days(42)
    assert split.train[0] > T0 and split.train[0] - days(14) <= T0
    assert split.step_seconds == 14 * DAY


def test_eval_windows_that_would_overlap_the_next_split_are_cut() -> None:
    bounds = SplitBoundaries(validation_start="2023-06-01", holdout_start="2023-07-01", eval_windows=5)
    split = plan_anchors(T0, T0 + days(220), step_seconds=10 * DAY, horizon_seconds=10 * DAY, boundaries=bounds)
    assert [t.day for t in split.validation] == [1, 11, 21]  # 2023-07-01 is the holdout start
    assert split.holdout[-1] + days(10) <= T0 + days(220)


def test_max_train_anchors_keeps_the_newest() -> None:
    full = plan_anchors(T0, T0 + days(300), step_seconds=10 * DAY, horizon_seconds=10 * DAY)
    capped = plan_anchors(T0, T0 + days(300), step_seconds=10 * DAY, horizon_seconds=10 * DAY,
                          boundaries=SplitBoundaries(max_train_anchors=3))
    assert capped.train == full.train[-3:]


@pytest.mark.parametrize("kwargs, message", [
    ({"hi": T0 + days(80)}, "no training anchor"),
    ({"hi": T0 + days(20)}, "validation"),
    ({"bounds": SplitBoundaries(holdout_start="2023-03-25")}, "no holdout anchor"),
    ({"bounds": SplitBoundaries(validation_start="2023-02-20", holdout_start="2023-03-10")}, "no validation anchor"),
    ({"bounds": SplitBoundaries(validation_start="2023-01-20")}, "no training anchor"),
])
def test_impossible_layouts_are_user_errors(kwargs, message) -> None:
    with pytest.raises(AnchorError, match=message) as info:
        plan_anchors(T0, kwargs.get("hi", T0 + days(100)), step_seconds=30 * DAY, horizon_seconds=30 * DAY,
                     boundaries=kwargs.get("bounds"))
    assert isinstance(info.value, UserFacingError)


def test_boundaries_validate_and_round_trip() -> None:
    b = SplitBoundaries(validation_start="2024-01-01T00:00:00+02:00", holdout_start="2024-02-01",
                        anchor_step=dt.timedelta(days=7), eval_windows=2)
    assert b.validation_start == dt.datetime(2023, 12, 31, 22, tzinfo=UTC)
    assert b.anchor_step == 7 * DAY
    assert SplitBoundaries.from_dict(b.to_dict()) == b
    assert SplitBoundaries().is_empty and not b.is_empty
    with pytest.raises(AnchorError, match="before"):
        SplitBoundaries(validation_start="2024-02-01", holdout_start="2024-01-01")
    with pytest.raises(AnchorError, match="eval_windows"):
        SplitBoundaries(eval_windows=0)
    with pytest.raises(AnchorError, match="unknown split boundary"):
        SplitBoundaries.from_dict({"val_start": "2024-01-01"})
    with pytest.raises(AnchorError, match="ISO"):
        to_utc("next tuesday")


@pytest.mark.parametrize("text, seconds", [("30 days", 30 * DAY), ("7d", 7 * DAY), ("2 weeks", 14 * DAY),
                                           ("90", 90), (3600, 3600), ("1.5 hours", 5400)])
def test_parse_duration(text, seconds) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0 days", "-3", "3 fortnights", "soon", "0.5"])
def test_parse_duration_rejects(text) -> None:
    with pytest.raises(AnchorError):
        parse_duration(text)


@settings(max_examples=300, deadline=None)
@given(
    span=st.integers(1, 2000 * DAY),
    step=st.integers(1, 200 * DAY),
    horizon=st.integers(1, 400 * DAY),
    n_eval=st.one_of(st.none(), st.integers(1, 4)),
    val_offset=st.one_of(st.none(), st.integers(0, 2000 * DAY)),
    hold_offset=st.one_of(st.none(), st.integers(0, 2000 * DAY)),
    cap=st.one_of(st.none(), st.integers(1, 50)),
)
def test_splits_never_overlap(span, step, horizon, n_eval, val_offset, hold_offset, cap) -> None:
    lo = T0
    hi = T0 + dt.timedelta(seconds=span)
    assume(span // step < 5000)
    vs = None if val_offset is None else lo + dt.timedelta(seconds=val_offset)
    hs = None if hold_offset is None else lo + dt.timedelta(seconds=hold_offset)
    assume(vs is None or hs is None or vs < hs)
    bounds = SplitBoundaries(validation_start=vs, holdout_start=hs, eval_windows=n_eval, max_train_anchors=cap)
    try:
        split = plan_anchors(lo, hi, step_seconds=step, horizon_seconds=horizon, boundaries=bounds)
    except AnchorError:
        return
    h, s = dt.timedelta(seconds=horizon), dt.timedelta(seconds=step)
    assert split.train and split.validation and split.holdout
    # The label window of one split ends by the next split's first anchor (its input time).
    assert split.train[-1] + h <= split.validation[0]
    assert split.validation[-1] + h <= split.holdout[0]
    assert split.holdout[-1] + h <= hi
    # Every anchor sees some data, and each split's anchors are ascending, one step apart.
    assert split.train[0] > lo
    for anchors in (split.train, split.validation, split.holdout):
        assert all(b - a == s for a, b in zip(anchors, anchors[1:]))
    assert len(split.validation) <= (n_eval or 1) and len(split.holdout) <= (n_eval or 1)
    assert cap is None or len(split.train) <= cap
    if vs is not None:
        assert split.validation[0] == vs
    if hs is not None:
        assert split.holdout[0] == hs
    if cap is None:  # stepping back stops only where the data starts
        assert split.train[0] - s <= lo
    assert [t for t, _ in split.items()] == sorted(t for t, _ in split.items())
