"""The store servers as real processes: started and stopped like the orchestrator and ``pq graph`` do."""

import multiprocessing
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from torch_geometric.loader import NodeLoader
from typer.testing import CliRunner

from graph_engine.features.store import ArtifactFeatureStore
from graph_engine.graph_store import ArtifactGraphStore
from graph_engine.sampling.sampler import TemporalNeighborSampler
from graph_engine.service import RemoteFeatureStore, RemoteGraphStore, StoreServiceError, StoreUnavailableError
from graph_engine.service.launch import (
    server_names,
    server_status,
    start_feature_server,
    start_graph_server,
    stop_server,
)
from graph_engine.synthetic import SyntheticConfig, generate
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore
from platform_core.processes import PortInUseError
from platform_core.settings import load_settings
from services.cli.graph_commands import graph_app

pytestmark = pytest.mark.integration

CONFIG = SyntheticConfig(customers=200, products=30, orders=2000, reviews=500, seed=3)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    root = tmp_path_factory.mktemp("stores")
    settings = load_settings(home=root / "home", store_uri=(root / "store").as_uri())
    store = ObjectStore.from_settings(settings)
    uris = generate(CONFIG).write(ArtifactStore(store), "shop")
    return settings, store, uris


@pytest.fixture(scope="module")
def servers(home):
    settings, store, uris = home
    with ThreadPoolExecutor(2) as pool:  # start both at once: each takes a while to import its stack
        graph = pool.submit(start_graph_server, settings, uris.graph, name="test-graph")
        features = pool.submit(start_feature_server, settings, ["shop/features"], name="test-features")
        records = graph.result(), features.result()
    yield records
    for record in records:
        stop_server(settings, record.name)


def loader(features, graph, workers: int) -> NodeLoader:
    times = torch.from_numpy(np.asarray(graph.node_time("customers")) + 90 * 86_400)
    sampler = TemporalNeighborSampler((features, graph), [5, 3], seed=4)
    # Workers get the stores pickled (remote ones as addresses) and open their own connections.
    return NodeLoader((features, graph), sampler, input_nodes=("customers", torch.arange(CONFIG.customers)),
                      input_time=times, batch_size=25, num_workers=workers, multiprocessing_context="forkserver",
                      timeout=120)


def test_servers_report_health_and_start_once(home, servers):
    settings, _, uris = home
    graph, features = servers
    assert {"test-graph", "test-features"} <= set(server_names(settings))
    status = server_status(settings, "test-graph")
    assert status.running and status.health["kind"] == "graph store" and status.health["graph"] == uris.graph
    assert status.health["pid"] == graph.pid and status.health["memory"]["peak_rss_bytes"] > 0
    assert server_status(settings, "test-features").health["features"].keys() == set(uris.features)
    # Starting a running server again returns it; other artifacts under its name are refused.
    assert start_graph_server(settings, uris.graph, name="test-graph") == graph
    with pytest.raises(StoreServiceError, match="already runs"):
        start_graph_server(settings, "shop/other", name="test-graph")


def test_worker_processes_share_the_servers(home, servers):
    _, store, uris = home
    graph, features = servers
    local = loader(ArtifactFeatureStore.open(store, "shop/features"), ArtifactGraphStore.open(store, uris.graph), 2)
    remote = loader(RemoteFeatureStore(features.address), RemoteGraphStore(graph.address), 2)
    expected, got = list(local), list(remote)  # two worker processes per loader: several clients at once
    assert len(got) == len(expected) == 8
    for a, b in zip(expected, got):
        for key in list(a.node_types) + list(a.edge_types):
            for name, value in a[key].items():
                other = b[key][name]
                if isinstance(value, torch.Tensor):
                    assert torch.equal(value, other) or torch.allclose(value, other, equal_nan=True), (key, name)
                elif hasattr(value, "offset"):
                    assert torch.equal(value.offset, other.offset) and torch.equal(value.values, other.values)
                else:
                    assert value == other, (key, name)
    health = RemoteGraphStore(graph.address).health()
    assert health["requests"]["sample"] >= 8


def _health_in_child(store, results) -> None:
    try:
        store.health()
        results.put("answered")
    except StoreServiceError as exc:
        results.put(str(exc))


def test_forked_processes_are_told_to_use_forkserver(servers):
    graph, _ = servers
    store = RemoteGraphStore(graph.address)
    store.health()  # gRPC is in use in this process now: a child forked from it cannot use gRPC
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_health_in_child, args=(store, results))
    child.start()
    try:
        message = results.get(timeout=60)
    finally:
        child.join(30)
    assert "forked after its parent used gRPC" in message and "multiprocessing_context='forkserver'" in message
    assert store.health()["status"] == "ok"  # the parent is unaffected


def test_a_killed_server_gives_a_clear_error_and_stop_is_graceful(home, servers):
    settings, _, _ = home
    graph, features = servers
    store = RemoteGraphStore(graph.address, timeout_s=10)
    assert store.num_nodes("customers") == CONFIG.customers
    os.kill(graph.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server_status(settings, "test-graph").running and time.monotonic() < deadline:
        time.sleep(0.1)
    with pytest.raises(StoreUnavailableError, match=f"graph store at {graph.address} is unreachable"):
        store.draw_nodes("customers", 2)
    assert not server_status(settings, "test-graph").running
    assert stop_server(settings, "test-graph") is False  # nothing left to stop; its files are cleaned up
    assert server_status(settings, "test-graph") is None
    assert stop_server(settings, "test-features") is True
    log = features.log_file.read_text()
    assert f"feature store serving at {features.address}" in log and f"at {features.address} stopped" in log


def test_pq_graph_commands(home, monkeypatch):
    settings, _, uris = home
    monkeypatch.setenv("PQ_HOME", str(settings.home))
    monkeypatch.setenv("PQ_STORE_URI", settings.store_uri)
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    runner = CliRunner()
    result = runner.invoke(graph_app, ["serve-graph", "--graph", "shop/graph", "--detach", "--name", "cli-graph"])
    assert result.exit_code == 0, result.output
    assert "cli-graph: serving at grpc://127.0.0.1:" in result.output
    try:
        status = runner.invoke(graph_app, ["status"])
        assert status.exit_code == 0 and "cli-graph" in status.output and "healthy" in status.output
        failed = runner.invoke(graph_app, ["serve-features", "--features", "shop/missing", "--detach",
                                           "--name", "cli-broken"])
        assert failed.exit_code != 0
        message = str(failed.exception)
        assert "cli-broken exited with status 2" in message and "cli-broken.log" in message
        assert "error:" in message and "shop/missing" in message  # the server's own one-line error
    finally:
        stopped = runner.invoke(graph_app, ["stop", "cli-graph"])
    assert "cli-graph: stopped" in stopped.output
    assert server_status(settings, "cli-graph") is None


def test_a_given_port_is_used_and_a_taken_one_is_refused(home):
    settings, _, uris = home
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port-graph: port {port} on 127.0.0.1 is already in use"):
            start_graph_server(settings, uris.graph, name="port-graph", port=port)
    assert server_status(settings, "port-graph") is None  # nothing half-started
    record = start_graph_server(settings, uris.graph, name="port-graph", port=port)
    try:
        assert record.address == f"grpc://127.0.0.1:{port}"
        assert RemoteGraphStore(record.address).health()["pid"] == record.pid
    finally:
        assert stop_server(settings, "port-graph") is True
