"""Statistics of tables, columns and links, computed by Spark aggregations (never a whole table collected).

A table's statistics take three passes over its rows, whatever its number of columns:

1. one aggregation for every column at once: non-null counts, approximate distinct counts, min / max /
   mean / standard deviation and approximate quantiles of numbers and times, string lengths and word
   counts, and how often the list separators ``|`` ``;`` ``,`` occur;
2. one grouping of every (column, value) pair, and of every (column, token) pair of separated lists,
   for the top values and exact distinct counts of all but near-unique columns;
3. one grouping of every (column, bin) pair for fixed-bin histograms of numbers and times.

Link statistics (:func:`link_statistics`) count how many rows reference each primary key (the degree
distribution), and which foreign-key values reference no row (dangling keys).

The results are plain JSON-ready dicts; times are ISO 8601 strings in UTC.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any, Iterable

from data_engine.spark_session import col

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
SEPARATORS = ("|", ";", ",")
NUMERIC_DTYPES = {"int64", "float64", "int32", "int16", "int8", "float32"}
TEMPORAL_DTYPES = {"timestamp", "date"}
TOP_K = 10
BINS = 20
#: A separator is examined (tokens counted) when at least this fraction of a column's values contain it.
SEPARATOR_MIN_FRACTION = 0.05
_PERCENTILE_ACCURACY = 10000


def _iso(micros: float | int | None) -> str | None:
    if micros is None:
        return None
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=int(micros))
    return moment.isoformat().replace("+00:00", "Z")


def _number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _near_unique(distinct: int, count: int) -> bool:
    return distinct > max(1000, count // 2)


def table_statistics(df: "DataFrame", dtypes: dict[str, str], *, time_column: str | None = None,
                     top_k: int = TOP_K, bins: int = BINS) -> dict[str, Any]:
    """Statistics of one table and each of its columns.

    Args:
        df: the table's rows (typed).
        dtypes: platform dtype per column to describe (``int64``, ``float64``, ``bool``, ``string``,
            ``timestamp``, ``date``, ``list<...>``); other columns of ``df`` are ignored.
        time_column: the column whose range is the table's time range, if any.
        top_k: how many top values to keep per column.
        bins: the number of histogram bins for numbers and times.

    Returns:
        ``{"rows": n, "time_range": {...} | None, "columns": {name: {...}}}``.
    """
    names = list(dtypes)
    found = _column_measures(df, names, dtypes)
    rows = int(next(iter(found.values()), {}).get("rows") or 0)
    columns: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        columns[name] = _column_result(dtypes[name], found.get(i, {}), rows)
    _top_values(df, names, dtypes, columns, top_k)
    _histograms(df, names, dtypes, columns, bins)
    time_range = None
    if time_column and time_column in columns:
        stats = columns[time_column]
        time_range = {"column": time_column, "min": stats.get("min"), "max": stats.get("max")}
    return {"rows": rows, "time_range": time_range, "columns": columns}


def _value_expr(name: str, dtype: str):
    """A column's values as numbers: NaN-free doubles, integers, or epoch microseconds for times."""
    from pyspark.sql import functions as F

    c = col(name)
    if dtype in ("float64", "float32"):
        return F.when(~F.isnan(c), c)
    if dtype == "timestamp":
        return F.unix_micros(c)
    if dtype == "date":
        return F.unix_micros(c.cast("timestamp"))
    return c


def _column_measures(df: "DataFrame", names: list[str], dtypes: dict[str, str]) -> dict[int, dict[str, Any]]:
    """Every column's measures in one aggregation over (column index, typed slots) pairs.

    Each column fills the slot of its kind (``n`` number, ``l`` exact integer, ``s`` string, ``b`` boolean,
    ``z`` list size); the aggregation is the same whatever the table, so Spark compiles it once.
    """
    from pyspark.sql import functions as F

    none = {"n": "double", "l": "bigint", "s": "string", "b": "boolean", "z": "int"}
    elems = []
    for i, name in enumerate(names):
        dtype, c = dtypes[name], col(name)
        slots = {k: F.lit(None).cast(t) for k, t in none.items()}
        nan = F.lit(False)
        if dtype in NUMERIC_DTYPES or dtype in TEMPORAL_DTYPES:
            v = _value_expr(name, dtype)
            slots["n"] = v.cast("double")
            if dtype not in ("float64", "float32"):
                slots["l"] = v.cast("bigint")
            else:
                nan = F.coalesce(F.isnan(c), F.lit(False))
        elif dtype == "bool":
            slots["b"] = c
        elif dtype == "string":
            slots["s"] = c
        elif dtype.startswith("list<"):
            slots["z"] = F.size(c)
        elems.append(F.struct(F.lit(i).alias("i"), c.isNotNull().alias("nn"), c.cast("string").alias("k"),
                              nan.alias("nan"), *[slots[k].alias(k) for k in none]))
    stacked = df.select(F.explode(F.array(*elems)).alias("e")).select("e.*")
    s = F.col("s")
    derived = {"len": F.length(s), "words": F.size(F.split(F.trim(s), r"\s+"))}
    for k, sep in enumerate(SEPARATORS):
        derived[f"has{k}"] = F.when(s.isNotNull(), F.when(s.contains(sep), 1.0).otherwise(0.0))
        derived[f"parts{k}"] = F.when(s.isNotNull(), F.size(F.split(s, "\\" + sep)))
    # Derived values first, in a projection: the aggregation stays small and compiles quickly.
    stacked = stacked.select("*", *[e.alias(k) for k, e in derived.items()])
    n = F.col("n")
    aggs = [
        F.count(F.lit(1)).alias("rows"), F.sum(F.col("nn").cast("int")).alias("count"),
        F.approx_count_distinct("k").alias("distinct"),
        F.min("l").alias("lmin"), F.max("l").alias("lmax"), F.min(n).alias("min"), F.max(n).alias("max"),
        F.avg(n).alias("mean"), F.stddev_samp(n).alias("std"),
        F.percentile_approx(n, list(QUANTILES), _PERCENTILE_ACCURACY).alias("quantiles"),
        F.sum(F.col("nan").cast("int")).alias("nan"), F.sum(F.col("b").cast("int")).alias("true"),
        F.min("len").alias("len_min"), F.avg("len").alias("len_mean"), F.max("len").alias("len_max"),
        F.avg("words").alias("words"), F.avg("z").alias("list_mean"),
    ]
    for k in range(len(SEPARATORS)):
        aggs += [F.avg(f"has{k}").alias(f"sep{k}"), F.avg(f"parts{k}").alias(f"tokens{k}")]
    return {int(r["i"]): r.asDict() for r in stacked.groupBy("i").agg(*aggs).collect()}


def _column_result(dtype: str, m: dict[str, Any], rows: int) -> dict[str, Any]:
    count = int(m.get("count") or 0)
    result: dict[str, Any] = {
        "dtype": dtype, "count": count, "nulls": rows - count,
        "null_fraction": (rows - count) / rows if rows else 0.0,
        "distinct": min(int(m.get("distinct") or 0), count), "distinct_exact": False,
    }
    quantiles = m.get("quantiles") or []
    if dtype in NUMERIC_DTYPES:
        integral = dtype.startswith("int")
        result.update({
            "min": m.get("lmin") if integral else _number(m.get("min")),
            "max": m.get("lmax") if integral else _number(m.get("max")),
            "mean": _number(m.get("mean")), "std": _number(m.get("std")),
            "quantiles": {str(q): _number(v) for q, v in zip(QUANTILES, quantiles)},
        })
        if not integral:
            result["nan"] = int(m.get("nan") or 0)
    elif dtype in TEMPORAL_DTYPES:
        result.update({"min": _iso(m.get("lmin")), "max": _iso(m.get("lmax")),
                       "min_us": m.get("lmin"), "max_us": m.get("lmax"),
                       "quantiles": {str(q): _iso(v) for q, v in zip(QUANTILES, quantiles)}})
    elif dtype == "bool":
        true = int(m.get("true") or 0)
        result.update({"true": true, "false": count - true})
    elif dtype == "string":
        result["length"] = {"min": m.get("len_min"), "mean": m.get("len_mean"), "max": m.get("len_max")}
        result["mean_words"] = m.get("words")
        result["separators"] = {
            sep: {"fraction": m.get(f"sep{k}") or 0.0, "tokens_per_value": m.get(f"tokens{k}")}
            for k, sep in enumerate(SEPARATORS)
        }
    elif dtype.startswith("list<"):
        result["mean_list_length"] = m.get("list_mean")
    return result


def _tagger(key: str, *, trim: bool):
    """A one-argument lambda for ``transform`` (two arguments would receive the element's index)."""
    from pyspark.sql import functions as F

    def tag(t):
        value = F.trim(t) if trim else t.cast("string")
        return F.struct(F.lit(key).alias("k"), value.alias("v"))

    return tag


def _or_empty(pairs):
    """An empty array for a null list or string: ``flatten`` makes the whole row null when a part is null."""
    from pyspark.sql import functions as F

    return F.coalesce(pairs, F.array().cast("array<struct<k:string,v:string>>"))


def _top_values(df: "DataFrame", names: list[str], dtypes: dict[str, str], columns: dict[str, dict],
                top_k: int) -> None:
    """Top values (and exact distinct counts) of every column that is not near-unique, in one job."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    parts = []
    keys: dict[str, tuple[str, str | None]] = {}
    for i, name in enumerate(names):
        stats, dtype = columns[name], dtypes[name]
        c = col(name)
        if dtype.startswith("list<"):
            key = f"{i}|items"
            keys[key] = (name, "items")
            parts.append(_or_empty(F.transform(c, _tagger(key, trim=False))))
            continue
        if not _near_unique(stats["distinct"], stats["count"]):
            key = f"{i}|values"
            keys[key] = (name, None)
            parts.append(F.array(F.struct(F.lit(key).alias("k"), c.cast("string").alias("v"))))
        for sep, info in (stats.get("separators") or {}).items():
            if info["fraction"] >= SEPARATOR_MIN_FRACTION:
                key = f"{i}|sep|{sep}"
                keys[key] = (name, sep)
                tokens = F.split(c, "\\" + sep)
                parts.append(_or_empty(F.transform(tokens, _tagger(key, trim=True))))
    if not parts:
        return
    melted = df.select(F.explode(F.flatten(F.array(*parts))).alias("e")).select("e.k", "e.v").where(
        F.col("v").isNotNull() & (F.col("v") != ""))
    grouped = melted.groupBy("k", "v").count().persist()
    try:
        # Counted apart from the ranking: with rank <= k in the same query Spark limits each group's rows
        # before the window (WindowGroupLimit), which would make the counts wrong.
        totals = {r["k"]: (int(r["distinct"]), int(r["total"])) for r in grouped.groupBy("k").agg(
            F.count(F.lit(1)).alias("distinct"), F.sum("count").alias("total")).collect()}
        ranked = grouped.select(
            "k", "v", "count",
            F.row_number().over(Window.partitionBy("k").orderBy(F.desc("count"), F.asc("v"))).alias("rank"),
        ).where(F.col("rank") <= top_k).collect()
    finally:
        grouped.unpersist()
    found: dict[str, dict[str, Any]] = {
        k: {"distinct": d, "total": t, "top": []} for k, (d, t) in totals.items()}
    for r in ranked:
        found[r["k"]]["top"].append((int(r["rank"]), r["v"], int(r["count"])))
    for key, (name, kind) in keys.items():
        entry = found.get(key, {"distinct": 0, "total": 0, "top": []})
        top = [{"value": v, "count": n} for _, v, n in sorted(entry["top"])]
        stats = columns[name]
        if kind is None:
            stats["distinct"] = entry["distinct"]
            stats["distinct_exact"] = True
            stats["top_values"] = top
        elif kind == "items":
            stats["items"] = {"distinct": entry["distinct"], "total": entry["total"], "top": top}
        else:
            stats["separators"][kind].update({"distinct_tokens": entry["distinct"], "total_tokens": entry["total"],
                                              "top_tokens": top})


def _histograms(df: "DataFrame", names: list[str], dtypes: dict[str, str], columns: dict[str, dict],
                bins: int) -> None:
    """Fixed-bin histograms of numeric and time columns, in one job."""
    from pyspark.sql import functions as F

    plans = {}
    for i, name in enumerate(names):
        stats, dtype = columns[name], dtypes[name]
        if dtype not in NUMERIC_DTYPES and dtype not in TEMPORAL_DTYPES:
            continue
        low = stats.get("min_us", stats.get("min"))
        high = stats.get("max_us", stats.get("max"))
        if low is None or high is None:
            continue
        integral = dtype in TEMPORAL_DTYPES or dtype.startswith("int")
        if integral and high - low + 1 <= bins:
            n, width = int(high - low + 1), 1.0
        else:
            n = bins if high > low else 1
            width = (high - low) / n if high > low else 1.0
        plans[i] = (name, float(low), float(width), n)
    if not plans:
        return
    parts = []
    for i, (name, low, width, n) in plans.items():
        v = _value_expr(name, dtypes[name]).cast("double")
        # least() skips nulls, so a null value would land in the last bin without the guard.
        b = F.when(v.isNotNull(), F.least(F.floor((v - F.lit(low)) / F.lit(width)), F.lit(n - 1))).cast("int")
        parts.append(F.struct(F.lit(i).alias("k"), b.alias("b")))
    counts = (df.select(F.explode(F.array(*parts)).alias("e")).select("e.k", "e.b").where(F.col("b").isNotNull())
              .groupBy("k", "b").count().collect())
    found: dict[int, dict[int, int]] = {}
    for r in counts:
        found.setdefault(int(r["k"]), {})[int(r["b"])] = int(r["count"])
    for i, (name, low, width, n) in plans.items():
        dtype = dtypes[name]
        edges = [low + width * j for j in range(n + 1)]
        if dtype in TEMPORAL_DTYPES:
            shown = [_iso(e) for e in edges]
        elif dtype.startswith("int"):
            shown = [e if width != 1.0 else int(e) for e in edges]
        else:
            shown = edges
        hist = found.get(i, {})
        columns[name]["histogram"] = {"edges": shown, "counts": [hist.get(j, 0) for j in range(n)]}
    for stats in columns.values():
        stats.pop("min_us", None)
        stats.pop("max_us", None)


def exact_distinct(df: "DataFrame", columns: Iterable[str]) -> dict[str, int]:
    """Exact distinct non-null counts of a few columns (primary-key candidates) in one job."""
    from pyspark.sql import functions as F

    columns = list(columns)
    if not columns:
        return {}
    row = df.agg(*[F.count_distinct(col(c)).alias(f"d{i}") for i, c in enumerate(columns)]).collect()[0]
    return {c: int(row[f"d{i}"]) for i, c in enumerate(columns)}


def _keys(fk_df: "DataFrame", fk_column: str, pk_df: "DataFrame", pk_column: str):
    """Both key columns as ``k``, compared as strings when their types differ (validation reports that)."""
    fk_type, pk_type = fk_df.schema[fk_column].dataType, pk_df.schema[pk_column].dataType
    cast = None if fk_type == pk_type else "string"
    fk = fk_df.select((col(fk_column).cast(cast) if cast else col(fk_column)).alias("k"))
    pk = pk_df.select((col(pk_column).cast(cast) if cast else col(pk_column)).alias("k"))
    return fk, pk


def link_statistics(fk_df: "DataFrame", fk_column: str, pk_df: "DataFrame", pk_column: str, *,
                    sample: int = 5) -> dict[str, Any]:
    """How a foreign key uses a primary key: degree distribution, dangling keys, coverage.

    One full outer join of the referenced values (with their counts) and the key values (with theirs),
    aggregated once; a second small job picks the dangling sample when there are dangling keys.

    Args:
        fk_df, fk_column: the referencing table and its foreign-key column.
        pk_df, pk_column: the referenced table and its primary-key column.
        sample: how many dangling values to show.

    Returns:
        ``{"fk_rows", "fk_nulls", "fk_distinct", "pk_rows", "pk_distinct", "coverage", "dangling_rows",
        "dangling_keys", "dangling_sample", "degree": {"min", "mean", "max", "zero", "quantiles"}}``;
        ``coverage`` is the fraction of non-null foreign-key values found among the keys (1.0 when there
        are none), the degree of a key is how many rows reference it.
    """
    from pyspark.sql import functions as F

    fk, pk = _keys(fk_df, fk_column, pk_df, pk_column)
    refs = fk.groupBy("k").agg(F.count(F.lit(1)).alias("n"))
    keys = pk.where(F.col("k").isNotNull()).groupBy("k").agg(F.count(F.lit(1)).alias("m"))
    # The null foreign-key group (k null, n = null count) never matches: a join never equates nulls.
    joined = refs.join(keys, refs["k"] == keys["k"], "full_outer").select(
        F.coalesce(refs["k"], keys["k"]).alias("k"), "n", "m")
    fk_value = F.col("n").isNotNull() & F.col("k").isNotNull()
    dangling = fk_value & F.col("m").isNull()
    degree = F.when(F.col("m").isNotNull(), F.coalesce(F.col("n"), F.lit(0)))
    row = joined.agg(
        F.sum(F.when(F.col("n").isNotNull(), F.col("n"))).alias("fk_rows"),
        F.sum(F.when(F.col("n").isNotNull() & F.col("k").isNull(), F.col("n"))).alias("fk_nulls"),
        F.sum(F.when(fk_value, 1).otherwise(0)).alias("fk_distinct"),
        F.sum(F.when(dangling, 1).otherwise(0)).alias("dangling_keys"),
        F.sum(F.when(dangling, F.col("n"))).alias("dangling_rows"),
        F.sum("m").alias("pk_rows"), F.count("m").alias("pk_distinct"),
        F.min(degree).alias("min"), F.avg(degree).alias("mean"), F.max(degree).alias("max"),
        F.sum(F.when(degree == 0, 1).otherwise(0)).alias("zero"),
        F.percentile_approx(degree, list(QUANTILES), _PERCENTILE_ACCURACY).alias("q"),
    ).collect()[0]
    fk_rows = int(row["fk_rows"] or 0)
    fk_nulls = int(row["fk_nulls"] or 0)
    nonnull = fk_rows - fk_nulls
    dangling_rows = int(row["dangling_rows"] or 0)
    dangling_keys = int(row["dangling_keys"] or 0)
    examples = []
    if dangling_keys:
        examples = [r["k"] for r in joined.where(dangling).orderBy(F.desc("n"), "k").limit(sample).collect()]
    return {
        "fk_rows": fk_rows, "fk_nulls": fk_nulls, "fk_distinct": int(row["fk_distinct"] or 0),
        "pk_rows": int(row["pk_rows"] or 0), "pk_distinct": int(row["pk_distinct"] or 0),
        "coverage": (nonnull - dangling_rows) / nonnull if nonnull else 1.0,
        "dangling_rows": dangling_rows, "dangling_keys": dangling_keys,
        "dangling_sample": [v.isoformat() if hasattr(v, "isoformat") else v for v in examples],
        "degree": {"min": row["min"], "mean": row["mean"], "max": row["max"], "zero": int(row["zero"] or 0),
                   "quantiles": {str(q): v for q, v in zip(QUANTILES, row["q"] or [])}},
    }


def containment(fk_df: "DataFrame", fk_column: str, pk_df: "DataFrame", pk_column: str) -> tuple[float, int]:
    """The fraction of non-null foreign-key values found among the primary-key values, and their count.

    Returns:
        (fraction found, non-null foreign-key rows); the fraction is 0.0 when there are no such rows.
    """
    from pyspark.sql import functions as F

    fk, pk = _keys(fk_df, fk_column, pk_df, pk_column)
    refs = fk.where(F.col("k").isNotNull()).groupBy("k").agg(F.count(F.lit(1)).alias("n"))
    keys = pk.where(F.col("k").isNotNull()).distinct().withColumn("found", F.lit(True))
    row = refs.join(keys, "k", "left").agg(
        F.sum("n").alias("all"), F.sum(F.when(F.col("found"), F.col("n"))).alias("found")).collect()[0]
    total = int(row["all"] or 0)
    return ((int(row["found"] or 0) / total) if total else 0.0), total
