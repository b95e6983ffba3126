"""Profile a table: statistics, semantic types, primary key and time column, as one JSON document.

Ingestion profiles every table it writes (``stats.json`` in the table artifact). :func:`profile_table`
profiles an ingested table again with other semantic-type, key or time-column overrides and writes the
result as its own artifact under the table's folder (``<table>/profiles/p<hash>``), so rewriting the table
removes its stale profiles with it.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from data_engine.ingest.options import IngestOptions, IngestOptionsError
from data_engine.ingest.tables import STATS_FILE, open_table
from data_engine.semantics import (
    Proposal,
    SemanticType,
    infer_semantic_types,
    primary_key_candidates,
    propose_primary_key,
    propose_time_column,
)
from data_engine.statistics import exact_distinct, table_statistics

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from platform_core.object_store import ObjectStore
    from platform_core.settings import Settings

PROFILE_PRODUCER = "data_engine.profile"
PROFILE_VERSION = 1


def check_column_names(table: str, columns: list[str], options: IngestOptions) -> None:
    """Every column named by an override, the primary key or the time column must exist.

    Raises:
        IngestOptionsError: naming the unknown column and the closest existing one.
    """
    import difflib

    named = [("column override", c) for c in options.columns]
    named += [("primary key", options.primary_key)] if options.primary_key else []
    named += [("time column", options.time_column)] if options.time_column else []
    for what, name in named:
        if name not in columns:
            close = difflib.get_close_matches(name, columns, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (columns: {', '.join(columns)})"
            raise IngestOptionsError(f"table {table}: {what} {name!r} is not a column{hint}")


def profile_dataframe(df: "DataFrame", table: str, dtypes: dict[str, str], options: IngestOptions) -> dict[str, Any]:
    """Statistics, semantic types and key/time proposals of a typed table.

    Args:
        df: the typed rows.
        table: the table's name.
        dtypes: each column's dtype, in order.
        options: semantic-type overrides (``columns[...].stype`` / ``separator``), ``primary_key`` and
            ``time_column`` (``""`` for none).

    Returns:
        The profile document (what ``stats.json`` holds).

    Raises:
        IngestOptionsError: an override names an unknown column.
        SemanticTypeError: a semantic type override does not fit its column.
    """
    check_column_names(table, list(dtypes), options)
    stats = table_statistics(df, dtypes)
    rows = stats["rows"]
    columns = stats["columns"]
    semantic = infer_semantic_types(table, dtypes, columns, options.columns)
    issues: list[dict[str, str]] = []

    declared_pk = options.primary_key
    candidates = primary_key_candidates(semantic, columns, rows)
    checked = set(candidates) | ({declared_pk} if declared_pk else set())
    # The top-values pass already counted most columns exactly; only near-unique ones need a count here.
    exact = {c: columns[c]["distinct"] for c in checked if columns[c].get("distinct_exact")}
    exact.update(exact_distinct(df, sorted(c for c in checked if c not in exact)))
    for name, distinct in exact.items():
        columns[name]["distinct"] = distinct
        columns[name]["distinct_exact"] = True
    unique = {c: exact[c] == rows and columns[c]["nulls"] == 0 for c in candidates}
    if declared_pk == "":
        pk = Proposal(None, ("declared: no primary key",), origin="override")
    elif declared_pk:
        pk = Proposal(declared_pk, ("declared",), origin="override")
        s = columns[declared_pk]
        if s["nulls"]:
            issues.append({"severity": "error", "column": declared_pk,
                           "message": f"primary key {table}.{declared_pk} has {s['nulls']} null values"})
        if exact[declared_pk] < s["count"]:
            issues.append({"severity": "error", "column": declared_pk,
                           "message": f"primary key {table}.{declared_pk} has {s['count'] - exact[declared_pk]} "
                                      "duplicate values"})
    else:
        pk = propose_primary_key(table, semantic, unique)
    if pk.column and semantic[pk.column].stype is not SemanticType.ID and semantic[pk.column].origin != "override":
        # A key is an identifier whatever its name says.
        old = semantic[pk.column]
        semantic[pk.column] = type(old)(old.name, SemanticType.ID, old.dtype, old.reasons + ("primary key",))

    declared_time = options.time_column
    if declared_time == "":
        time = Proposal(None, ("declared: no time column",), origin="override")
    elif declared_time:
        if semantic[declared_time].stype is not SemanticType.TIMESTAMP:
            raise IngestOptionsError(
                f"table {table}: time column {declared_time!r} is {dtypes[declared_time]}, not a timestamp "
                "(override its dtype, date_format or unix_unit)")
        time = Proposal(declared_time, ("declared",), origin="override")
    else:
        time = propose_time_column(table, semantic, columns)
    time_range = None
    if time.column:
        time_range = {"column": time.column, "min": columns[time.column].get("min"),
                      "max": columns[time.column].get("max")}

    for name, column in semantic.items():
        columns[name].update(column.to_dict())
    return {
        "table": table, "rows": rows, "time_range": time_range, "column_order": list(dtypes),
        "primary_key": pk.to_dict(), "time_column": time.to_dict(),
        "columns": columns, "issues": issues,
    }


def profile_metadata(profile: dict[str, Any]) -> dict[str, Any]:
    """The small part of a profile that goes into manifest metadata (for the API and the graph builder)."""
    return {
        "primary_key": profile["primary_key"]["column"],
        "time_column": profile["time_column"]["column"],
        "stypes": {name: c["stype"] for name, c in profile["columns"].items()},
        "separators": {name: c["separator"] for name, c in profile["columns"].items() if c.get("separator")},
        "time_range": profile["time_range"],
    }


def profile_table(table_uri: str, *, options: IngestOptions | None = None, output: str | None = None,
                  settings: "Settings | None" = None, store: "ObjectStore | None" = None,
                  spark: "SparkSession | None" = None) -> dict[str, Any]:
    """Profile an ingested table, with semantic-type, primary-key and time-column overrides.

    Without overrides and without ``output`` this returns the profile stored at ingestion time (no Spark).

    Args:
        table_uri: the table artifact.
        options: overrides (only ``columns[...].stype`` / ``separator``, ``primary_key`` and
            ``time_column`` are used).
        output: where to write the profile artifact (default ``<table_uri>/profiles/p<hash>``).
        settings, store, spark: defaults from the environment's settings.

    Returns:
        The profile document; ``profile["uri"]`` is the artifact it was read from or written to.

    Raises:
        TableNotFoundError: no ingested table at ``table_uri``.
        IngestOptionsError, SemanticTypeError: an invalid override.
    """
    from platform_core.artifacts import ArtifactStore
    from platform_core.object_store import ObjectStore
    from platform_core.settings import load_settings

    from data_engine.spark_session import get_spark
    from data_engine.staging import Staging

    settings = settings or load_settings()
    store = store or ObjectStore.from_settings(settings)
    table = open_table(store, table_uri)
    options = (options or IngestOptions()).validated()
    overrides = {"columns": {c: {k: v for k, v in (("stype", o.stype), ("separator", o.separator)) if v}
                             for c, o in sorted(options.columns.items())},
                 "primary_key": options.primary_key, "time_column": options.time_column}
    overrides["columns"] = {c: o for c, o in overrides["columns"].items() if o}
    plain = not overrides["columns"] and options.primary_key is None and options.time_column is None
    stored = table.stats()
    if plain and output is None and stored is not None:
        return {**stored, "uri": table.uri}
    inputs = {"table": table.uri, "table_hash": table.artifact.manifest.content_hash, "overrides": overrides,
              "version": PROFILE_VERSION}
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]
    output = output or f"{table.uri}/profiles/p{key}"
    artifacts = ArtifactStore(store)
    found = artifacts.find(output, inputs)
    if found is not None:
        return {**found.read_json(STATS_FILE), "uri": found.uri}
    spark = spark or get_spark(settings)
    with Staging(store, settings.home / "scratch") as staging:
        df = table.dataframe(spark, staging)
        profile = profile_dataframe(df, table.name, table.dtypes, options)
        with artifacts.writer(output, producer=PROFILE_PRODUCER, inputs=inputs) as writer:
            writer.write_json(STATS_FILE, profile)
            writer.metadata.update({"table": table.name, **profile_metadata(profile)})
    return {**profile, "uri": writer.uri}
