"""Anchor times of a temporal query and their split into train / validation / holdout (pure Python).

A temporal query is replayed at anchor times T: the input is the data with time <= T, the label is computed
over windows after T that end at most ``horizon`` after it. Anchors lie on one grid of spacing ``step``:

- **holdout**: ``eval_windows`` anchors from ``holdout_start`` on (default: the newest anchor whose label
  window is complete, ``T + horizon <= newest data time``, and the ones before it);
- **validation**: ``eval_windows`` anchors from ``validation_start`` on (default: the newest ones whose label
  windows end by ``holdout_start``);
- **training**: from ``validation_start - gap`` back by ``step`` while ``T > oldest data time`` (optionally
  only the newest ``max_train_anchors``), where ``gap`` is the smallest multiple of the step that is at
  least the horizon.

So the label window of one split never reaches past the next split's first anchor (the time up to which
that split's input is known): ``T_train + horizon <= first validation anchor``, ``T_val + horizon <= first
holdout anchor`` and ``T_holdout + horizon <= newest data time``. With the step equal to the horizon and
given boundaries, this is the layout of published temporal benchmarks (training anchors at
``validation_start - step``, ``- 2 step``...; evaluation anchors at the given starts).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from data_engine.training_table.errors import AnchorError

__all__ = ["SplitBoundaries", "AnchorSplit", "plan_anchors", "to_utc", "parse_duration", "SPLITS"]

#: The values of the ``split`` column, in time order.
SPLITS = ("train", "val", "holdout")
_UNITS = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60, "minutes": 60,
          "h": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400, "days": 86400,
          "w": 604800, "week": 604800, "weeks": 604800}


def to_utc(value: dt.datetime | dt.date | str) -> dt.datetime:
    """A time as a UTC-aware datetime (naive values and texts without offset are read as UTC).

    Raises:
        AnchorError: a text that is not an ISO date or datetime.
    """
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise AnchorError(f"{value!r} is not an ISO date or datetime (e.g. 2024-06-01 or "
                              "2024-06-01T12:00:00)") from None
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def parse_duration(value: int | float | dt.timedelta | str) -> int:
    """A duration in whole seconds: a number of seconds, a timedelta, or a text like ``"30 days"``/``"7d"``.

    Raises:
        AnchorError: not a positive whole number of seconds, or an unknown unit.
    """
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        text = value.strip().lower()
        number = text.rstrip("abcdefghijklmnopqrstuvwxyz ").strip()
        unit = text[len(number):].strip() or "s"
        if unit not in _UNITS:
            raise AnchorError(f"duration {value!r}: unknown unit {unit!r} (use seconds, minutes, hours, days, weeks)")
        try:
            seconds = float(number) * _UNITS[unit]
        except ValueError:
            raise AnchorError(f"duration {value!r} is not a number with a unit, e.g. '30 days'") from None
    else:
        seconds = float(value)
    if seconds <= 0 or seconds != int(seconds):
        raise AnchorError(f"duration {value!r} must be a positive whole number of seconds")
    return int(seconds)


@dataclass(frozen=True)
class SplitBoundaries:
    """Split boundaries given by the user instead of the defaults (every field optional).

    Attributes:
        validation_start: the first validation anchor (temporal queries); for a static query split by
            the entity's time column, the time from which entities are validation.
        holdout_start: the first holdout anchor; for a static time split, the time from which entities
            are holdout.
        anchor_step: the spacing of anchor times (seconds, a timedelta or ``"7 days"``); default the
            plan's step (the target window).
        eval_windows: how many anchors the validation and the holdout split each get (default: the
            plan's, 1).
        max_train_anchors: keep only this many newest training anchors (default: all).
    """

    validation_start: dt.datetime | None = None
    holdout_start: dt.datetime | None = None
    anchor_step: int | None = None
    eval_windows: int | None = None
    max_train_anchors: int | None = None

    def __post_init__(self) -> None:
        for name in ("validation_start", "holdout_start"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, to_utc(value))
        if self.anchor_step is not None:
            object.__setattr__(self, "anchor_step", parse_duration(self.anchor_step))
        for name in ("eval_windows", "max_train_anchors"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise AnchorError(f"{name} must be a whole number >= 1, not {value!r}")
        if (self.validation_start is not None and self.holdout_start is not None
                and self.validation_start >= self.holdout_start):
            raise AnchorError(f"validation_start {self.validation_start.isoformat()} must come before "
                              f"holdout_start {self.holdout_start.isoformat()}")

    @property
    def is_empty(self) -> bool:
        """No field given."""
        return all(getattr(self, f) is None for f in
                   ("validation_start", "holdout_start", "anchor_step", "eval_windows", "max_train_anchors"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (ISO times), for manifests and artifact inputs."""
        return {"validation_start": _iso(self.validation_start), "holdout_start": _iso(self.holdout_start),
                "anchor_step": self.anchor_step, "eval_windows": self.eval_windows,
                "max_train_anchors": self.max_train_anchors}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SplitBoundaries:
        """Rebuild from :meth:`to_dict` (or any dict with some of its keys)."""
        data = dict(data or {})
        unknown = set(data) - {"validation_start", "holdout_start", "anchor_step", "eval_windows",
                               "max_train_anchors"}
        if unknown:
            raise AnchorError(f"unknown split boundary field(s): {', '.join(sorted(unknown))}")
        return cls(**data)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class AnchorSplit:
    """Anchor times per split, each ascending.

    Attributes:
        train, validation, holdout: the anchors of each split.
        step_seconds: the grid spacing.
        horizon_seconds: the latest label (and ASSUMING) time after an anchor.
        validation_start, holdout_start: the first anchor of those splits.
        min_time, max_time: the data's time range the anchors were derived from.
    """

    train: tuple[dt.datetime, ...]
    validation: tuple[dt.datetime, ...]
    holdout: tuple[dt.datetime, ...]
    step_seconds: int
    horizon_seconds: int
    validation_start: dt.datetime
    holdout_start: dt.datetime
    min_time: dt.datetime
    max_time: dt.datetime

    def items(self) -> list[tuple[dt.datetime, str]]:
        """Every (anchor, split name) pair, oldest first; split names are :data:`SPLITS`."""
        return ([(t, "train") for t in self.train] + [(t, "val") for t in self.validation]
                + [(t, "holdout") for t in self.holdout])

    def by_split(self) -> dict[str, tuple[dt.datetime, ...]]:
        return {"train": self.train, "val": self.validation, "holdout": self.holdout}

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (ISO times), for the manifest."""
        return {"train": [t.isoformat() for t in self.train], "val": [t.isoformat() for t in self.validation],
                "holdout": [t.isoformat() for t in self.holdout], "step_seconds": self.step_seconds,
                "horizon_seconds": self.horizon_seconds, "validation_start": self.validation_start.isoformat(),
                "holdout_start": self.holdout_start.isoformat(), "min_time": self.min_time.isoformat(),
                "max_time": self.max_time.isoformat()}


def plan_anchors(
    min_time: dt.datetime,
    max_time: dt.datetime,
    *,
    step_seconds: int,
    horizon_seconds: int,
    boundaries: SplitBoundaries | None = None,
    holdout_anchors: int = 1,
    validation_anchors: int = 1,
) -> AnchorSplit:
    """The anchor times of each split (see the module docstring for the layout).

    Args:
        min_time: the oldest data time; every anchor is after it.
        max_time: the newest data time; every label window ends by it.
        step_seconds: the plan's anchor step (the target window unless the user gave one).
        horizon_seconds: the latest time after an anchor that a label or ASSUMING reads.
        boundaries: user-given boundaries overriding the defaults.
        holdout_anchors, validation_anchors: how many anchors the plan gives those splits by default.

    Returns:
        The :class:`AnchorSplit`.

    Raises:
        AnchorError: a split would get no anchor (the data is too short for the windows, or the
            boundaries lie outside the data or too close together), or invalid arguments.
    """
    boundaries = boundaries or SplitBoundaries()
    min_time, max_time = to_utc(min_time), to_utc(max_time)
    if horizon_seconds is None or horizon_seconds <= 0:
        raise AnchorError(f"the label horizon must be positive, not {horizon_seconds!r}")
    step_s = boundaries.anchor_step or parse_duration(step_seconds)
    step, horizon = dt.timedelta(seconds=step_s), dt.timedelta(seconds=horizon_seconds)
    gap = step * -(-horizon_seconds // step_s)  # the smallest multiple of the step >= the horizon
    n_hold = boundaries.eval_windows or holdout_anchors
    n_val = boundaries.eval_windows or validation_anchors
    if max_time <= min_time:
        raise AnchorError(f"the data spans no time (oldest {min_time.isoformat()}, newest {max_time.isoformat()})")

    holdout_start = boundaries.holdout_start
    if holdout_start is None:
        holdout_start = max_time - horizon - (n_hold - 1) * step
    holdout = tuple(t for t in (holdout_start + k * step for k in range(n_hold)) if t + horizon <= max_time)
    if not holdout:
        raise AnchorError(
            f"no holdout anchor: holdout_start {holdout_start.isoformat()} plus the label horizon "
            f"({_span(horizon)}) ends after the newest data ({max_time.isoformat()})")

    validation_start = boundaries.validation_start
    if validation_start is None:
        validation_start = holdout_start - gap - (n_val - 1) * step
    validation = tuple(t for t in (validation_start + k * step for k in range(n_val))
                       if t + horizon <= holdout_start)
    if not validation:
        raise AnchorError(
            f"no validation anchor: validation_start {validation_start.isoformat()} plus the label horizon "
            f"({_span(horizon)}) ends after holdout_start {holdout_start.isoformat()}")
    if validation[0] <= min_time:
        raise AnchorError(
            f"no room for validation and training: the data starts {min_time.isoformat()}, the first validation "
            f"anchor would be {validation[0].isoformat()}; the data must span more than the evaluation "
            f"windows ({_span(max_time - validation[0])})")

    train: list[dt.datetime] = []
    t = validation_start - gap
    while t > min_time and (boundaries.max_train_anchors is None or len(train) < boundaries.max_train_anchors):
        train.append(t)
        t -= step
    if not train:
        raise AnchorError(
            f"no training anchor: the data starts {min_time.isoformat()} and the newest training anchor would be "
            f"{(validation_start - gap).isoformat()}; give earlier split boundaries or a shorter step, or use "
            "data covering a longer time")
    return AnchorSplit(train=tuple(reversed(train)), validation=validation, holdout=holdout, step_seconds=step_s,
                       horizon_seconds=horizon_seconds, validation_start=validation[0], holdout_start=holdout[0],
                       min_time=min_time, max_time=max_time)


def _span(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} days"
    return f"{seconds} seconds"
