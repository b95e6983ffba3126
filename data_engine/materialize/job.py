"""The materialization job: node indexes, the graph and the features of a whole schema, in one call.

Layout under ``output_uri`` (each an artifact with its own manifest and inputs, so a run that stops half
way resumes where it stopped)::

    index/<table>       node index per table (:mod:`data_engine.materialize.node_index`)
    graph               the graph artifact, format "pq.graph" (:mod:`data_engine.materialize.edges`)
    features/<table>    the feature artifact per table, format "pq.features" (:mod:`...features`)
    result              result.json: this job's :class:`MaterializeResult`; its manifest records the job's
                        inputs, so a second call with the same inputs returns at once

Incremental updates: given the ``previous`` result (or its output URI), a run whose tables differ from
the previous ones only by rows appended at the end works from the previous artifacts. A table counts as
appended when its data parts in name order start with exactly the previous version's parts (same names,
same bytes: what :func:`~data_engine.ingest.ingest_table` writes with ``previous=``), with the same
columns and dtypes; its new rows are those of the remaining parts, and only those are read. Then:

- **node index** of an appended table: the previous index followed by the new keys (nodes) in order of
  their first new row; every previous node keeps its index (:func:`~data_engine.materialize.update_node_index`);
- **features** of an appended table: the previous blocks copied, only the new nodes encoded, with the
  previous vocabularies (codes stay valid; a value a vocabulary lacks is encoded as OTHER, appended to
  the vocabulary when it had none) and statistics (they describe the rows of the last full build,
  ``statistics_rows``), until a full rebuild;
- **graph**: links with new fact nodes join only those; their forward CSR is the previous one followed
  by the new nodes' rows, the reverse one merges each target node's previous and new edges in (time,
  destination) order; links untouched are copied; a link whose target gained nodes while some previous
  fact row named no target (dangling keys, which a new target could now match) is joined again in full;
- **unchanged tables** keep their previous index and feature artifacts (the result points at them).

The result is the one a full build of the same tables gives (same node indices, edges in the same
order, same feature values), except the vocabularies and statistics noted above. Anything else (another
schema or options, a table that is not an append of its previous version, the previous output URI as
``output_uri``, a ``previous`` that names no result) falls back to a full build, and the result says why
(``fallback``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from data_engine.artifact_formats.features import FeatureArtifact
from data_engine.artifact_formats.graph import GraphArtifact
from data_engine.ingest.tables import IngestedTable, TableNotFoundError, open_table
from data_engine.materialize.context import JobContext, job_context
from data_engine.materialize.edges import append_edges_in_context, edges_in_context
from data_engine.materialize.features import FeatureOptions, features_in_context
from data_engine.materialize.node_index import NodeIndex, index_in_context
from data_engine.materialize.rows import as_schema, open_tables
from pql.schema import GraphSchema

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from platform_core.object_store import ObjectStore
    from platform_core.settings import Settings

PRODUCER = "data_engine.materialize"
VERSION = 2
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class MaterializeResult:
    """What :func:`materialize_graph` produced.

    Attributes:
        output_uri: the folder holding every artifact below.
        graph_uri: the graph artifact.
        index_uris: table -> node index artifact.
        feature_uris: table -> feature artifact.
        num_nodes: table -> nodes.
        num_edges: forward edge type key (``<fact>__<column>__<target>``) -> edges (the reverse has as many).
        links: forward edge type key -> ``fact_rows``, ``null_keys``, ``dangling_keys``, ``num_edges``.
        reused: whether the whole result was found from an earlier run with the same inputs.
        seconds: wall time of the run that made it (per step in ``timings_s``).
        mode: ``full`` (every table read and encoded) or ``incremental`` (from ``previous``).
        previous: the output URI of the previous result this one was updated from (incremental), else None.
        fallback: why a ``previous`` result given was not used (full build), else None.
        tables: table -> ``status`` (``built``, ``appended`` or ``unchanged``), ``rows_read`` (table rows
            the index and feature steps read), ``nodes_encoded`` (feature rows encoded), ``nodes_copied``
            (index and feature rows copied from the previous artifacts), ``new_nodes``.
        work: totals of ``rows_read``, ``nodes_encoded``, ``nodes_copied`` over the tables, plus
            ``edges_built`` (edges joined in Spark, each counted once for both directions) and
            ``edges_copied`` (edges taken from the previous graph) and ``lookup_rows`` (rows of link targets
            whose key and time columns were scanned to resolve new fact rows' keys; the full build reads
            every row anyway).
    """

    output_uri: str
    graph_uri: str
    index_uris: dict[str, str]
    feature_uris: dict[str, str]
    num_nodes: dict[str, int]
    num_edges: dict[str, int]
    links: dict[str, dict[str, int]]
    reused: bool = False
    seconds: float = 0.0
    timings_s: dict[str, float] = field(default_factory=dict)
    mode: str = "full"
    previous: str | None = None
    fallback: str | None = None
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    work: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def materialize_graph(schema: GraphSchema | Mapping | str, table_uris: Mapping[str, str], output_uri: str, *,
                      options: FeatureOptions | None = None, settings: "Settings | None" = None,
                      store: "ObjectStore | None" = None, spark: "SparkSession | None" = None,
                      progress: Callable[[str], None] | None = None,
                      previous: "MaterializeResult | str | None" = None) -> MaterializeResult:
    """Build node indexes, the graph artifact and every table's feature artifact of a schema.

    With ``previous``, tables that only gained rows at the end since the previous result are updated
    incrementally (see the module docstring); otherwise everything is built from the tables.

    Idempotent: when ``output_uri`` already holds a result made from the same schema, table contents and
    options, it is returned without running Spark (``reused=True``); each sub-artifact is also kept when
    its own inputs are unchanged.

    Args:
        schema: the graph schema (object, dict or JSON text): tables, keys, time columns, semantic types, links.
        table_uris: table name -> ingested table artifact URI, for every schema table.
        output_uri: the folder for the artifacts (URI, local path, or key under the store's root).
        options: feature encoding options.
        settings, store, spark: defaults from the environment's settings.
        progress: called with a short message before each step.
        previous: the result of an earlier run (or its ``output_uri``) to update from; ``output_uri`` must
            differ from its output for the incremental path to be taken.

    Returns:
        The URIs and counts of what was written; ``mode``, ``fallback``, ``tables`` and ``work`` say
        what was read, encoded and copied.

    Raises:
        MaterializeError: the tables do not fit the schema.
        ArtifactFormatError: a table or column name that the graph format cannot hold.
    """
    schema = as_schema(schema)
    options = options or FeatureOptions()
    say = progress or (lambda message: None)
    started = time.perf_counter()
    with job_context(settings, store, spark) as ctx:
        output = ctx.uri(output_uri)
        tables = open_tables(ctx.store, schema, {t: ctx.uri(u) for t, u in table_uris.items()})
        inputs = {"schema": schema.to_dict(), "options": options.to_dict(), "version": VERSION,
                  "tables": {t: {"uri": tables[t].uri, "hash": tables[t].artifact.manifest.content_hash}
                             for t in schema.tables}}
        result_uri = f"{output}/result"
        found = ctx.artifacts.find(result_uri, inputs)
        if found is not None:
            return MaterializeResult(**{**found.read_json(RESULT_FILE), "reused": True})
        if isinstance(previous, MaterializeResult):
            previous = previous.output_uri
        timings: dict[str, float] = {}
        lap = time.perf_counter()

        def done(step: str) -> None:
            nonlocal lap
            now = time.perf_counter()
            timings[step] = round(now - lap, 3)
            lap = now

        plan, fallback = (None, None) if previous is None else _increment(ctx, previous, inputs, tables, output)
        if plan is not None:
            say(f"incremental update of {plan.output_uri}")
        parts = plan.parts if plan is not None else {}
        indexes, features, report = {}, {}, {}
        for name, spec in schema.tables.items():
            if plan is not None and name not in parts:
                indexes[name] = NodeIndex.open(ctx.artifacts, plan.result["index_uris"][name])
                report[name] = {"status": "unchanged", "rows_read": 0, "nodes_encoded": 0, "nodes_copied": 0,
                                "new_nodes": 0}
                continue
            say(f"node index of {name}")
            earlier = None if plan is None else NodeIndex.open(ctx.artifacts, plan.result["index_uris"][name])
            indexes[name] = index_in_context(ctx, tables[name], f"{output}/index/{name}",
                                             primary_key=spec.primary_key, previous=earlier,
                                             appended_parts=parts.get(name))
            n0 = 0 if earlier is None else earlier.num_nodes
            read = tables[name].rows if name not in parts else sum(
                int(tables[name].artifact.manifest.file(p).rows or 0) for p in parts[name])
            report[name] = {"status": "built" if earlier is None else "appended", "rows_read": read,
                            "nodes_encoded": indexes[name].num_nodes - n0, "nodes_copied": n0,
                            "new_nodes": indexes[name].num_nodes - n0}
        done("node_index")
        say("edges")
        if plan is None:
            graph = edges_in_context(ctx, schema, tables, indexes, f"{output}/graph")
        else:
            graph = append_edges_in_context(ctx, schema, tables, indexes, f"{output}/graph",
                                            GraphArtifact.open(ctx.artifacts, plan.result["graph_uri"]), parts)
        done("edges")
        for name in schema.tables:
            if plan is not None and name not in parts:
                features[name] = FeatureArtifact.open(ctx.artifacts, plan.result["feature_uris"][name])
                continue
            say(f"features of {name}")
            earlier = None if plan is None else FeatureArtifact.open(ctx.artifacts, plan.result["feature_uris"][name])
            features[name] = features_in_context(ctx, schema, tables[name], indexes[name],
                                                 f"{output}/features/{name}", options, earlier=earlier,
                                                 appended_parts=parts.get(name))
        done("features")
        links = graph.manifest.metadata["links"]
        build = graph.manifest.metadata.get("build") or {}
        work = {k: sum(int(r[k]) for r in report.values()) for k in ("rows_read", "nodes_encoded", "nodes_copied")}
        work.update({k: int(build.get(k, 0)) for k in ("edges_built", "edges_copied", "lookup_rows")})
        result = MaterializeResult(
            output_uri=output, graph_uri=graph.uri, index_uris={t: i.uri for t, i in indexes.items()},
            feature_uris={t: f.artifact.uri for t, f in features.items()},
            num_nodes={t: i.num_nodes for t, i in indexes.items()},
            num_edges={k: v["num_edges"] for k, v in links.items()}, links=links,
            seconds=round(time.perf_counter() - started, 3), timings_s=timings,
            mode="full" if plan is None else "incremental", previous=None if plan is None else plan.output_uri,
            fallback=fallback, tables=report, work=work)
        with ctx.artifacts.writer(result_uri, producer=PRODUCER, inputs=inputs) as writer:
            writer.write_json(RESULT_FILE, result.to_dict())
            writer.metadata.update({"graph": graph.uri, "num_nodes": result.num_nodes})
        return result


@dataclass(frozen=True)
class _Increment:
    """How to update a previous result: its output and contents, and the new parts of each appended table."""

    output_uri: str
    result: dict[str, Any]
    parts: dict[str, list[str]]


def appended_parts(before: IngestedTable, after: IngestedTable) -> list[str] | None:
    """The data parts of ``after`` past those of ``before`` when ``after`` is ``before`` with rows appended
    (its parts in name order start with ``before``'s, same names and bytes, and the columns and dtypes are
    the same); None otherwise."""
    old, new = sorted(before.data_files), sorted(after.data_files)
    if before.dtypes != after.dtypes or new[: len(old)] != old:
        return None
    old_files, new_files = before.artifact.manifest, after.artifact.manifest
    if any(old_files.file(n).sha256 != new_files.file(n).sha256 for n in old):
        return None
    return new[len(old):]


def _increment(ctx: JobContext, previous: str, inputs: dict[str, Any], tables: Mapping[str, IngestedTable],
               output: str) -> tuple[_Increment | None, str | None]:
    """The incremental plan from ``previous`` for these inputs, or (None, why not)."""
    previous = ctx.uri(previous)
    found = ctx.artifacts.find(f"{previous}/result")
    if found is None:
        return None, f"no materialization result at {previous}"
    made = found.manifest.inputs
    if previous == output:
        return None, "the output URI is the previous result's (an update needs a new one)"
    for what in ("schema", "options", "version"):
        if made.get(what) != inputs[what]:
            return None, f"the {what} differs from the previous result's"
    parts: dict[str, list[str]] = {}
    for name, table in tables.items():
        was = made["tables"].get(name)
        if was == inputs["tables"][name]:
            continue
        try:
            before = open_table(ctx.store, was["uri"])
        except TableNotFoundError:
            return None, f"table {name}: its previous version {was['uri']} is gone"
        new = appended_parts(before, table)
        if new is None:
            return None, f"table {name}: {table.uri} is not {before.uri} with rows appended"
        parts[name] = new
    return _Increment(previous, found.read_json(RESULT_FILE), parts), None
