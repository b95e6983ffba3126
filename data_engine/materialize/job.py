"""The materialization job: node indexes, the graph and the features of a whole schema, in one call.

Layout under ``output_uri`` (each an artifact with its own manifest and inputs, so a run that stops half
way resumes where it stopped)::

    index/<table>       node index per table (:mod:`data_engine.materialize.node_index`)
    graph               the graph artifact, format "pq.graph" (:mod:`data_engine.materialize.edges`)
    features/<table>    the feature artifact per table, format "pq.features" (:mod:`...features`)
    result              result.json: this job's :class:`MaterializeResult`; its manifest records the job's
                        inputs, so a second call with the same inputs returns at once

Incremental updates (design; :func:`~data_engine.materialize.update_node_index` exists): when rows are
appended to a table, its new index comes from the previous one (old nodes keep their indices); the
feature artifact of that table is rebuilt by copying the old blocks' bytes and encoding only the new
node rows with the old vocabularies (codes stay valid; new values go to OTHER until a full rebuild);
the graph's CSR of edge types touching the table are merged (old CSR rows plus the new edges, sorted
by (source, time, destination)); tables and links untouched by the append are re-used as they are.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from data_engine.materialize.context import job_context
from data_engine.materialize.edges import edges_in_context
from data_engine.materialize.features import FeatureOptions, features_in_context
from data_engine.materialize.node_index import index_in_context
from data_engine.materialize.rows import as_schema, open_tables
from pql.schema import GraphSchema

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from platform_core.object_store import ObjectStore
    from platform_core.settings import Settings

PRODUCER = "data_engine.materialize"
VERSION = 1
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def materialize_graph(schema: GraphSchema | Mapping | str, table_uris: Mapping[str, str], output_uri: str, *,
                      options: FeatureOptions | None = None, settings: "Settings | None" = None,
                      store: "ObjectStore | None" = None, spark: "SparkSession | None" = None,
                      progress: Callable[[str], None] | None = None) -> MaterializeResult:
    """Build node indexes, the graph artifact and every table's feature artifact of a schema.

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

    Returns:
        The URIs and counts of what was written.

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
        timings: dict[str, float] = {}
        lap = time.perf_counter()

        def done(step: str) -> None:
            nonlocal lap
            now = time.perf_counter()
            timings[step] = round(now - lap, 3)
            lap = now

        indexes = {}
        for name, spec in schema.tables.items():
            say(f"node index of {name}")
            indexes[name] = index_in_context(ctx, tables[name], f"{output}/index/{name}",
                                             primary_key=spec.primary_key)
        done("node_index")
        say("edges")
        graph = edges_in_context(ctx, schema, tables, indexes, f"{output}/graph")
        done("edges")
        features = {}
        for name in schema.tables:
            say(f"features of {name}")
            features[name] = features_in_context(ctx, schema, tables[name], indexes[name],
                                                 f"{output}/features/{name}", options)
        done("features")
        links = graph.manifest.metadata["links"]
        result = MaterializeResult(
            output_uri=output, graph_uri=graph.uri, index_uris={t: i.uri for t, i in indexes.items()},
            feature_uris={t: f.artifact.uri for t, f in features.items()},
            num_nodes={t: i.num_nodes for t, i in indexes.items()},
            num_edges={k: v["num_edges"] for k, v in links.items()}, links=links,
            seconds=round(time.perf_counter() - started, 3), timings_s=timings)
        with ctx.artifacts.writer(result_uri, producer=PRODUCER, inputs=inputs) as writer:
            writer.write_json(RESULT_FILE, result.to_dict())
            writer.metadata.update({"graph": graph.uri, "num_nodes": result.num_nodes})
        return result
