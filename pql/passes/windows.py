"""Window rules: targets look into the future, WHERE into the past, ASSUMING into the future.

A window ``(start, end]`` selects rows with ``T + start < time <= T + end`` around the anchor time T.

- Target: ``start < end`` and ``end > 0``. ``start`` may be ``-INF`` ("ever, up to T + end"); the label
  then also counts rows the model can see, which is what such a question asks. With FORECAST the window
  must be finite and start at or after T (``0 <= start``), since it is repeated n times.
- WHERE: ``start < end <= 0``; ``start`` may be ``-INF``.
- ASSUMING: ``0 <= start < end``; no ``-INF``.
- ``end`` is never ``-INF``.
"""

from __future__ import annotations

from pql import ast
from pql.passes.common import aggregations, clauses, error_at


def _fmt(value: int | float | None, unit: str) -> str:
    return "-INF" if value is None else f"{value:g} {unit}"


def check_windows(query: ast.Query) -> None:
    """Check the window of every aggregation against the clause it appears in.

    Args:
        query: the query (only its windows are read).

    Raises:
        PQLError: at the offending window.
    """
    for clause, expr in clauses(query):
        for agg in aggregations(expr):
            _check(agg.window, clause, query.forecast is not None)


def _check(w: ast.Window, clause: str, forecast: bool) -> None:
    if w.end is None:
        raise error_at(w, "-INF can only be a window's start", "write the end as a number, e.g. (-INF, 0)")
    if w.start is not None and w.start >= w.end:
        raise error_at(w, f"a window's start must be before its end, got {_fmt(w.start, w.unit)} to "
                          f"{_fmt(w.end, w.unit)}", "windows are (start, end]: e.g. 0, 30 for the next 30 days")
    if clause == "target":
        if w.end <= 0:
            raise error_at(w, f"a target window must end in the future (end > 0), got end {_fmt(w.end, w.unit)}",
                           "a target looks ahead of the anchor time, e.g. COUNT(orders.*, 0, 30, days)")
        if forecast and (w.start is None or w.start < 0):
            raise error_at(w, f"FORECAST needs a window that starts at or after the anchor time (start >= 0), "
                              f"got {_fmt(w.start, w.unit)}",
                           "e.g. SUM(orders.price, 0, 7, days) FORECAST 4 TIMEFRAMES")
    elif clause == "where":
        if w.end > 0:
            raise error_at(w, f"a WHERE window must lie in the past (end <= 0), got end {_fmt(w.end, w.unit)}",
                           "WHERE sees only data known at the anchor time, e.g. COUNT(orders.*, -90, 0, days); "
                           "conditions on the future belong in ASSUMING")
    elif w.start is None or w.start < 0:
        raise error_at(w, f"an ASSUMING window must lie in the future (start >= 0), got start "
                          f"{_fmt(w.start, w.unit)}", "conditions on the past belong in WHERE")
