"""Benchmark of node reordering: feature gathers for sampled batches, with and without locality.

Usage: ``python bench/locality.py [--quick] [--edges N] [--columns N] [--batch N] [--batches N]``

Builds the synthetic shop (:mod:`graph_engine.synthetic`) with at least ``--edges`` edges (default
10^7; 10^6 with ``--quick``) and gives every table ``--columns`` float32 feature columns (default 32:
rows of 128 bytes, as encoded tables with a few dozen columns have). It writes the same graph and
features three times, with the rows of every table in three orders (:mod:`graph_engine.locality`):

- ``ingest``: the generator's order (facts in time order, as tables that grow by appending are) —
  the reference, measured in the same run;
- ``random``: shuffled (as after an ingest that partitions by a hash of the key);
- ``fk``: each fact table sorted by the foreign key it is sampled through, then time.

It samples ``--batches`` batches of ``--batch`` customers with anchor times (2 hops, fan-out [16, 8],
disjoint, temporal) once on the original graph and maps the sampled nodes into each layout, so each
layout gathers exactly the same logical rows: every feature row of every sampled node through
``ArtifactFeatureStore.multi_get_tensor`` over the memory-mapped artifacts. The layouts alternate over
``--rounds`` rounds; each keeps its best time. Besides rows per second it counts the distinct 4 KiB pages
each batch reads (what a cold cache or an object store pays for), which does not depend on timing.

``ratio`` = fk rows per second / ingest rows per second (above 1: reordering helps);
``random_ratio`` likewise for the shuffled layout; ``pages_ratio`` = ingest pages / fk pages per batch.

Prints a summary, then as its last line one JSON object::

    {"bench": "locality", "edges": ..., "columns": ..., "batch": ..., "batches": ...,
     "rows_per_s": {"ingest": ..., "random": ..., "fk": ...}, "pages_per_batch": {...},
     "ratio": ..., "random_ratio": ..., "pages_ratio": ..., "peak_rss_mb": ...}
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import numpy as np
import torch
from torch_geometric.data import TensorAttr
from torch_geometric.sampler import NodeSamplerInput

from data_engine.artifact_formats.features import FeatureBlocks, write_feature_artifact
from data_engine.artifact_formats.graph import write_graph_artifact
from graph_engine.features.store import ArtifactFeatureStore
from graph_engine.graph_store import ArtifactGraphStore
from graph_engine.locality import node_order, pages_touched, permute_features, permute_graph
from graph_engine.sampling.sampler import TemporalNeighborSampler
from graph_engine.synthetic import END, SyntheticConfig, generate
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore

LAYOUTS = ("ingest", "random", "fk")
FANOUT = [16, 8]


def wide_features(nodes, columns: int, seed: int) -> dict[str, FeatureBlocks]:
    """``columns`` float32 columns for every table (the synthetic shop's own features are a few columns)."""
    rng = np.random.default_rng(seed)
    out = {}
    for table in nodes:
        blocks = FeatureBlocks(table=table.name, num_rows=table.num_nodes)
        blocks.columns["numerical"] = [f"x{i}" for i in range(columns)]
        blocks.numerical = rng.standard_normal((table.num_nodes, columns), dtype=np.float32)
        blocks.time = None if table.time is None else np.asarray(table.time)
        out[table.name] = blocks
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller graph and fewer batches")
    parser.add_argument("--edges", type=int, default=None, help="least number of edges (default 10^7)")
    parser.add_argument("--columns", type=int, default=32, help="float32 feature columns per table")
    parser.add_argument("--batch", type=int, default=1024, help="seed customers per batch")
    parser.add_argument("--batches", type=int, default=None, help="sampled batches (default 40; 10 quick)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds (best of each kept)")
    args = parser.parse_args()
    edges = args.edges or (1_000_000 if args.quick else 10_000_000)
    num_batches = args.batches or (10 if args.quick else 40)

    config = SyntheticConfig.for_edges(edges, seed=0)
    shop = generate(config, features=False)
    features = wide_features(shop.nodes, args.columns, seed=1)
    orders = {"ingest": node_order(shop.nodes, shop.links, "identity"),
              "random": node_order(shop.nodes, shop.links, "random", seed=2),
              "fk": node_order(shop.nodes, shop.links, "fk")}
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = ArtifactStore(ObjectStore(Path(tmp).as_uri()))
        stores = {}
        for layout, order in orders.items():
            nodes, links = permute_graph(shop.nodes, shop.links, order)
            graph = write_graph_artifact(artifacts, f"{layout}/graph", nodes, links)
            uris = [write_feature_artifact(artifacts, f"{layout}/features/{t}", permute_features(b, order)).uri
                    for t, b in features.items()]
            stores[layout] = (ArtifactGraphStore.open(artifacts, graph.uri), ArtifactFeatureStore.open(artifacts, uris))

        # Sample once, on the ingest layout, and map the nodes: every layout gathers the same logical rows.
        graph = stores["ingest"][0]
        sampler = TemporalNeighborSampler(graph, FANOUT, seed=3)
        rng = np.random.default_rng(4)
        signup = np.asarray(graph.node_time("customers"))
        batches = []
        for _ in range(num_batches):
            seeds = rng.choice(graph.num_nodes("customers"), min(args.batch, graph.num_nodes("customers")),
                               replace=False)
            times = signup[seeds] + (rng.random(seeds.size) * (END - signup[seeds])).astype(np.int64)
            out = sampler.sample_from_nodes(NodeSamplerInput(torch.arange(seeds.size), torch.from_numpy(seeds),
                                                             torch.from_numpy(times), "customers"))
            batches.append({t: n.numpy() for t, n in out.node.items()})
        requests = {layout: [{t: torch.from_numpy(order.to_new(t, n)) for t, n in batch.items()} for batch in batches]
                    for layout, order in orders.items()}
        row_bytes = args.columns * 4
        pages = {layout: float(np.mean([sum(pages_touched(n.numpy(), row_bytes) for n in batch.values())
                                        for batch in requests[layout]])) for layout in LAYOUTS}
        rows_per_batch = float(np.mean([sum(n.size for n in batch.values()) for batch in batches]))

        def gather(layout: str) -> None:
            store = stores[layout][1]
            for batch in requests[layout]:
                store.multi_get_tensor([TensorAttr(t, a, index) for t, index in batch.items()
                                        for a in store.attr_names(t)])

        for layout in LAYOUTS:
            gather(layout)  # compile, page the memory maps in
        best = {layout: float("inf") for layout in LAYOUTS}
        for _ in range(args.rounds):
            for layout in LAYOUTS:
                start = time.perf_counter()
                gather(layout)
                best[layout] = min(best[layout], time.perf_counter() - start)

    total = rows_per_batch * num_batches
    result = {
        "bench": "locality",
        "edges": config.num_edges,
        "columns": args.columns,
        "batch": args.batch,
        "batches": num_batches,
        "rows_per_batch": round(rows_per_batch),
        "rows_per_s": {layout: round(total / best[layout]) for layout in LAYOUTS},
        "pages_per_batch": {layout: round(pages[layout]) for layout in LAYOUTS},
        "ratio": round(best["ingest"] / best["fk"], 4),
        "random_ratio": round(best["ingest"] / best["random"], 4),
        "pages_ratio": round(pages["ingest"] / pages["fk"], 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(f"{num_batches} sampled batches of {args.batch} customers, {result['rows_per_batch']:,} feature rows of "
          f"{row_bytes} bytes each per batch, graph of {config.num_edges:,} edges")
    for layout in LAYOUTS:
        print(f"  {layout:>6}: {result['rows_per_s'][layout] / 1e6:.2f} M rows/s, "
              f"{result['pages_per_batch'][layout]:,} pages per batch")
    print(f"fk / ingest: {result['ratio']:.3f}x rows/s, {result['pages_ratio']:.2f}x fewer pages; "
          f"random / ingest: {result['random_ratio']:.3f}x rows/s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
