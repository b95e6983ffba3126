"""Benchmark of remote stores: a NodeLoader epoch on the graph and feature store servers vs in-process stores.

Usage: ``python bench/loader.py [--quick] [--edges N] [--batch N] [--batches N] [--rounds N]``

Writes the synthetic shop (:mod:`graph_engine.synthetic`) with at least ``--edges`` edges (default
10^7; 10^6 with ``--quick``) as real graph and feature artifacts, starts a graph store server and a
feature store server as local processes (:mod:`graph_engine.service.launch`, the orchestrator's way),
and runs the same NodeLoader epoch — ``--batches`` batches of ``--batch`` customers with
anchor times between sign-up and the end of the data, ``--fanout`` (default [16, 8]) per edge type and hop,
disjoint temporal sampling, every feature attribute of every
sampled node — three ways:

- in-process: ``ArtifactGraphStore`` + ``ArtifactFeatureStore`` (the reference, measured in the same run);
- remote: ``RemoteGraphStore`` + ``RemoteFeatureStore``, the loader unchanged;
- remote + fetcher: the same loader wrapped in :class:`graph_engine.fetcher.MiniBatchFetcher`
  (prefetch 4, 4 batches per feature round trip), without and with a row cache.

The ways alternate over ``--rounds`` rounds and each keeps its best time (a busy machine penalises all
alike). ``ratio`` = in-process epoch time / remote epoch time (goal >= 0.7); ``fetcher_ratio`` and
``fetcher_cache_ratio`` likewise for remote + fetcher. Memory: the servers' resident and peak memory as their own processes report it
(``/proc/<pid>/status``), and this client's peak.

Prints a summary, then as its last line one JSON object::

    {"bench": "loader", "edges": ..., "batch": ..., "batches": ..., "inprocess_s": ..., "remote_s": ...,
     "remote_fetcher_s": ..., "ratio": ..., "fetcher_ratio": ..., "graph_server_peak_rss_mb": ...,
     "feature_server_peak_rss_mb": ..., "client_peak_rss_mb": ..., ...}
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
from torch_geometric.loader import NodeLoader

from graph_engine.features.store import ArtifactFeatureStore
from graph_engine.fetcher import MiniBatchFetcher
from graph_engine.graph_store import ArtifactGraphStore
from graph_engine.sampling.sampler import TemporalNeighborSampler
from graph_engine.service import RemoteFeatureStore, RemoteGraphStore
from graph_engine.service.launch import start_feature_server, start_graph_server, stop_server
from graph_engine.service.memory import mib, process_memory
from graph_engine.synthetic import END, SyntheticConfig, generate
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore
from platform_core.settings import load_settings

def make_loader(features, graph, seeds: torch.Tensor, times: torch.Tensor, batch: int, fanout: list[int]) -> NodeLoader:
    sampler = TemporalNeighborSampler((features, graph), fanout, seed=1)
    return NodeLoader((features, graph), sampler, input_nodes=("customers", seeds), input_time=times,
                      batch_size=batch)


def epoch(batches) -> tuple[float, int]:
    """Seconds for one pass, and the feature rows it delivered."""
    start = time.perf_counter()
    rows = 0
    for data in batches:
        rows += sum(int(data[t].num_nodes) for t in data.node_types)
    return time.perf_counter() - start, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller graph and fewer batches")
    parser.add_argument("--edges", type=int, default=None, help="least number of edges (default 10^7)")
    parser.add_argument("--batch", type=int, default=1024, help="seed customers per batch")
    parser.add_argument("--fanout", type=int, nargs="+", default=[16, 8], help="fan-out per hop (default 16 8)")
    parser.add_argument("--batches", type=int, default=None, help="batches per epoch (default 40; 12 quick)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating timed rounds, best kept (default 5; 3 quick)")
    parser.add_argument("--cache-rows", type=int, default=100_000, help="fetcher cache rows per table")
    args = parser.parse_args()
    edges = args.edges or (1_000_000 if args.quick else 10_000_000)
    num_batches = args.batches or (12 if args.quick else 40)
    rounds = args.rounds or (3 if args.quick else 5)

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(home=Path(tmp) / "home", store_uri=(Path(tmp) / "store").as_uri())
        store = ObjectStore.from_settings(settings)
        config = SyntheticConfig.for_edges(edges, seed=0)
        uris = generate(config).write(ArtifactStore(store), "shop")
        graph = ArtifactGraphStore.open(store, uris.graph)
        features = ArtifactFeatureStore.open(store, "shop/features")
        rng = np.random.default_rng(0)
        count = min(num_batches * args.batch, graph.num_nodes("customers"))
        seeds = np.sort(rng.choice(graph.num_nodes("customers"), count, replace=False))
        signup = np.asarray(graph.node_time("customers"))[seeds]
        # Anchors anywhere in a customer's life: part of its history is visible, as for monthly snapshots.
        times = torch.from_numpy(signup + (rng.random(seeds.size) * (END - signup)).astype(np.int64))
        seeds_t = torch.from_numpy(seeds.astype(np.int64))

        started = time.perf_counter()
        graph_server = start_graph_server(settings, uris.graph, name="bench-graph")
        feature_server = start_feature_server(settings, [store.uri("shop/features")], name="bench-features")
        startup_s = time.perf_counter() - started
        try:
            remote_graph = RemoteGraphStore(graph_server.address)
            remote_features = RemoteFeatureStore(feature_server.address)
            def remote(**fetcher: int):
                return lambda: MiniBatchFetcher(
                    make_loader(remote_features, remote_graph, seeds_t, times, args.batch, args.fanout), **fetcher)

            ways = {
                "inprocess": lambda: make_loader(features, graph, seeds_t, times, args.batch, args.fanout),
                "remote": lambda: make_loader(remote_features, remote_graph, seeds_t, times, args.batch, args.fanout),
                "remote_fetcher": remote(prefetch=4, batches_per_fetch=4),
                "remote_fetcher_cache": remote(prefetch=4, batches_per_fetch=4, cache_rows=args.cache_rows),
            }
            best = {name: float("inf") for name in ways}
            rows = {}
            fetcher_stats = None
            for name, make in ways.items():  # warm up: compile, page in, connect
                epoch(make())
            for _ in range(rounds):
                for name, make in ways.items():
                    batches = make()
                    seconds, rows[name] = epoch(batches)
                    best[name] = min(best[name], seconds)
                    if name == "remote_fetcher_cache":
                        fetcher_stats = batches.stats
            assert len(set(rows.values())) == 1, f"the ways delivered different rows: {rows}"
            graph_memory = process_memory(graph_server.pid)
            feature_memory = process_memory(feature_server.pid)
            requests = {"graph": remote_graph.health()["requests"], "features": remote_features.health()["requests"]}
        finally:
            stop_server(settings, "bench-graph")
            stop_server(settings, "bench-features")

    result = {
        "bench": "loader",
        "edges": config.num_edges,
        "batch": args.batch,
        "batches": -(-count // args.batch),
        "fanout": args.fanout,
        "rows_per_epoch": rows["inprocess"],
        "inprocess_s": round(best["inprocess"], 4),
        "remote_s": round(best["remote"], 4),
        "remote_fetcher_s": round(best["remote_fetcher"], 4),
        "remote_fetcher_cache_s": round(best["remote_fetcher_cache"], 4),
        "ratio": round(best["inprocess"] / best["remote"], 4),
        "fetcher_ratio": round(best["inprocess"] / best["remote_fetcher"], 4),
        "fetcher_cache_ratio": round(best["inprocess"] / best["remote_fetcher_cache"], 4),
        "fetcher_hit_rate": round(fetcher_stats.hit_rate, 4) if fetcher_stats else None,
        "fetcher_dedup_ratio": round(fetcher_stats.dedup_ratio, 3) if fetcher_stats else None,
        "server_startup_s": round(startup_s, 2),
        "graph_server_rss_mb": mib(graph_memory.get("rss_bytes")),
        "graph_server_peak_rss_mb": mib(graph_memory.get("peak_rss_bytes")),
        "graph_server_anon_mb": mib(graph_memory.get("anon_bytes")),
        "feature_server_rss_mb": mib(feature_memory.get("rss_bytes")),
        "feature_server_peak_rss_mb": mib(feature_memory.get("peak_rss_bytes")),
        "feature_server_anon_mb": mib(feature_memory.get("anon_bytes")),
        "client_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "server_requests": requests,
    }
    print(f"epoch of {result['batches']} batches x {args.batch} seeds ({rows['inprocess']:,} feature rows), "
          f"graph of {config.num_edges:,} edges")
    print(f"in-process {result['inprocess_s']:.3f} s; remote {result['remote_s']:.3f} s (ratio {result['ratio']:.3f}, "
          f"goal >= 0.7)")
    print(f"remote + fetcher (prefetch 4, 4 batches per round trip) {result['remote_fetcher_s']:.3f} s "
          f"(ratio {result['fetcher_ratio']:.3f}); with a {args.cache_rows:,}-row cache "
          f"{result['remote_fetcher_cache_s']:.3f} s (ratio {result['fetcher_cache_ratio']:.3f}, hit rate "
          f"{result['fetcher_hit_rate']}, de-duplication {result['fetcher_dedup_ratio']}x)")
    print(f"peak RSS: graph server {result['graph_server_peak_rss_mb']} MiB, feature server "
          f"{result['feature_server_peak_rss_mb']} MiB, client {result['client_peak_rss_mb']} MiB")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
