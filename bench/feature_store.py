"""Benchmark of the feature store: feature rows per second for mini-batch fetches.

Usage: ``python bench/feature_store.py [--quick] [--rows N] [--columns N] [--fetches N] [--batch N]``

Writes a feature artifact with ``--rows`` rows (default 2*10^6) of ``--columns`` float32 numerical
columns plus 4 categorical columns, then fetches mini-batches of ``--batch`` random rows (with repeats,
as sampled subgraphs have) of both blocks through ``multi_get_tensor`` — the call PyG's loaders make —
two ways:

- remote: a feature store server started as a local process (:mod:`graph_engine.service.launch`) over
  the memory-mapped artifact, through :class:`graph_engine.service.RemoteFeatureStore` (Arrow Flight);
- in-process: ``ArtifactFeatureStore`` over the same memory-mapped artifact.

Reference, measured in the same run: an in-process NumPy gather (``block[index]``) of the same rows
from the same blocks held in memory. The three alternate over ``--rounds`` rounds; each keeps its best.
``ratio`` = remote rows per second / NumPy rows per second (goal >= 0.5); ``store_ratio`` likewise for
the in-process store. Memory: the server's resident and peak memory as its own process reports it
(``/proc/<pid>/status``; its file-backed part is the shared memory map), and this client's peak.

Prints a summary, then as its last line one JSON object::

    {"bench": "feature_store", "rows": ..., "columns": ..., "batch": ..., "remote_rows_per_s": ...,
     "store_rows_per_s": ..., "numpy_rows_per_s": ..., "ratio": ..., "store_ratio": ...,
     "server_peak_rss_mb": ..., "client_peak_rss_mb": ..., ...}
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

import numba
import numpy as np
import torch
from torch_geometric.data import TensorAttr

from data_engine.artifact_formats.features import FeatureBlocks, write_feature_artifact
from graph_engine.features.store import ArtifactFeatureStore
from graph_engine.service import RemoteFeatureStore
from graph_engine.service.launch import start_feature_server, stop_server
from graph_engine.service.memory import mib, process_memory
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore
from platform_core.settings import load_settings


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_blocks(rows: int, columns: int) -> FeatureBlocks:
    rng = np.random.default_rng(0)
    blocks = FeatureBlocks(table="items", num_rows=rows)
    blocks.columns["numerical"] = [f"x{i}" for i in range(columns)]
    blocks.numerical = rng.standard_normal((rows, columns), dtype=np.float32)
    blocks.columns["categorical"] = [f"c{i}" for i in range(4)]
    blocks.categorical = rng.integers(0, 100, (rows, 4)).astype(np.int32)
    blocks.vocabularies = {f"c{i}": list(range(100)) for i in range(4)}
    return blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller table and fewer fetches")
    parser.add_argument("--rows", type=int, default=None, help="rows of the table (default 2*10^6)")
    parser.add_argument("--columns", type=int, default=32, help="float32 columns")
    parser.add_argument("--batch", type=int, default=100_000, help="rows per fetch")
    parser.add_argument("--fetches", type=int, default=None, help="timed fetches per round (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds (best of each is kept)")
    parser.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    args = parser.parse_args()
    rows = args.rows or (200_000 if args.quick else 2_000_000)
    fetches = args.fetches or (5 if args.quick else 20)
    numba.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(home=Path(tmp) / "home", store_uri=(Path(tmp) / "store").as_uri())
        store = ObjectStore.from_settings(settings)
        blocks = make_blocks(rows, args.columns)
        art = write_feature_artifact(ArtifactStore(store), "features/items", blocks)
        features = ArtifactFeatureStore.open(store, [art.uri])
        in_memory = (blocks.numerical, blocks.categorical)
        rng = np.random.default_rng(1)
        indexes = [torch.from_numpy(rng.integers(0, rows, args.batch)) for _ in range(fetches)]
        server = start_feature_server(settings, [art.uri], name="bench-features")
        try:
            remote = RemoteFeatureStore(server.address)

            def through(store_) -> None:
                for index in indexes:
                    store_.multi_get_tensor([TensorAttr("items", "numerical", index),
                                             TensorAttr("items", "categorical", index)])

            def via_numpy() -> None:
                for index in indexes:
                    positions = index.numpy()
                    for block in in_memory:
                        torch.from_numpy(block[positions])

            ways = {"remote": lambda: through(remote), "store": lambda: through(features), "numpy": via_numpy}
            for run in ways.values():  # compile (or load cached code), page the memory map in, connect
                run()
            best = {name: float("inf") for name in ways}
            for _ in range(args.rounds):
                for name, run in ways.items():
                    start = time.perf_counter()
                    run()
                    best[name] = min(best[name], time.perf_counter() - start)
            server_memory = process_memory(server.pid)
        finally:
            stop_server(settings, "bench-features")

    total_rows = fetches * args.batch
    result = {
        "bench": "feature_store",
        "rows": rows,
        "columns": args.columns + 4,
        "batch": args.batch,
        "fetches": fetches,
        "threads": args.threads,
        "remote_rows_per_s": round(total_rows / best["remote"]),
        "store_rows_per_s": round(total_rows / best["store"]),
        "numpy_rows_per_s": round(total_rows / best["numpy"]),
        "ratio": round(best["numpy"] / best["remote"], 4),
        "store_ratio": round(best["numpy"] / best["store"], 4),
        "server_rss_mb": mib(server_memory.get("rss_bytes")),
        "server_peak_rss_mb": mib(server_memory.get("peak_rss_bytes")),
        "server_anon_mb": mib(server_memory.get("anon_bytes")),
        "server_file_mb": mib(server_memory.get("file_bytes")),
        "client_peak_rss_mb": round(peak_rss_mb(), 1),
    }
    print(f"remote store: {result['remote_rows_per_s'] / 1e6:.2f} M rows/s; in-process store: "
          f"{result['store_rows_per_s'] / 1e6:.2f} M rows/s; NumPy gather: {result['numpy_rows_per_s'] / 1e6:.2f} M rows/s "
          f"({args.columns + 4} columns, batches of {args.batch:,}, {args.threads} thread(s))")
    print(f"ratio (remote / NumPy) {result['ratio']:.3f} (goal >= 0.5); in-process store / NumPy "
          f"{result['store_ratio']:.3f}")
    print(f"peak RSS: server {result['server_peak_rss_mb']} MiB (of which file-backed, shared: "
          f"{result['server_file_mb']} MiB now), client {result['client_peak_rss_mb']} MiB")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
