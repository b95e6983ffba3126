import numpy as np
import pytest

from data_engine.artifact_formats.errors import ArtifactFormatError
from data_engine.artifact_formats.graph import (
    GraphArtifact,
    Link,
    NodeTable,
    build_csr,
    check_csr,
    edge_folder,
    reverse_edge_type,
    write_graph_artifact,
)
from platform_core.artifacts import ArtifactStore

pytestmark = pytest.mark.unit


def _shop(artifacts: ArtifactStore, uri: str = "graph"):
    nodes = [
        NodeTable("users", 3, np.array([10, 20, 30])),
        NodeTable("items", 2, None),
        NodeTable("orders", 5, np.array([50, 15, 40, 35, 60])),
    ]
    links = [
        Link("orders", "user_id", "users", np.arange(5), np.array([0, 0, 1, 0, 2])),
        Link("orders", "item_id", "items", np.array([0, 1, 2, 4]), np.array([1, 1, 0, 1])),
    ]
    return write_graph_artifact(artifacts, uri, nodes, links, producer="tests", inputs={"n": 1})


def test_graph_artifact_round_trip(file_store):
    artifacts = ArtifactStore(file_store)
    art = _shop(artifacts)
    graph = GraphArtifact(art)
    graph.validate()
    assert graph.edge_types == [("orders", "user_id", "users"), ("users", "rev_user_id", "orders"),
                                ("orders", "item_id", "items"), ("items", "rev_item_id", "orders")]
    assert graph.num_nodes("orders") == 5 and graph.has_node_time("users") and not graph.has_node_time("items")
    assert art.manifest.metadata["format"] == "pq.graph"
    assert art.manifest.metadata["node_types"]["items"] == {"num_nodes": 2, "time": False}

    # users -> orders: user 0 has orders 0 (t50), 1 (t15), 3 (t35): sorted by time.
    rev = graph.csr(("users", "rev_user_id", "orders"))
    assert rev.indptr.tolist() == [0, 3, 4, 5]
    assert rev.indices.tolist() == [1, 3, 0, 2, 4]
    # Edge time is the later of the two rows' times.
    assert rev.time.tolist() == [15, 35, 50, 40, 60]
    fwd = graph.csr(("orders", "user_id", "users"))
    assert fwd.indptr.tolist() == [0, 1, 2, 3, 4, 5] and fwd.indices.tolist() == [0, 0, 1, 0, 2]
    # orders 3 has no item: the CSR row is empty; items have no time, so the order's time is used.
    items = graph.csr(("orders", "item_id", "items"))
    assert items.indptr.tolist() == [0, 1, 2, 3, 3, 4]
    assert items.time.tolist() == [50, 15, 40, 60]
    assert isinstance(rev.indices, np.memmap) and not rev.indices.flags.writeable
    assert graph.node_time("orders").tolist() == [50, 15, 40, 35, 60]
    assert graph.node_time("items") is None


def test_edge_time_is_the_later_row_time(file_store):
    nodes = [NodeTable("a", 2, np.array([100, 5])), NodeTable("b", 2, np.array([50, 50]))]
    art = write_graph_artifact(ArtifactStore(file_store), "g", nodes,
                               [Link("a", "b_id", "b", np.array([0, 1]), np.array([0, 1]))])
    csr = GraphArtifact(art).csr(("b", "rev_b_id", "a"))
    assert csr.time.tolist() == [100, 50]


def test_untimed_links_have_no_time_file(file_store):
    nodes = [NodeTable("a", 2), NodeTable("b", 1)]
    art = write_graph_artifact(ArtifactStore(file_store), "g", nodes,
                               [Link("a", "b_id", "b", np.array([0, 1]), np.array([0, 0]))])
    graph = GraphArtifact(art)
    assert not graph.has_edge_time(("a", "b_id", "b"))
    assert graph.csr(("b", "rev_b_id", "a")).time is None
    assert f"{edge_folder(('a', 'b_id', 'b'))}/time.npy" not in {f.name for f in art.manifest.files}


def test_reverse_edge_type_round_trips():
    assert reverse_edge_type(("orders", "user_id", "users")) == ("users", "rev_user_id", "orders")
    assert reverse_edge_type(("users", "rev_user_id", "orders")) == ("orders", "user_id", "users")


def test_build_csr_sorts_by_source_then_time_then_destination():
    csr = build_csr(np.array([1, 0, 1, 1]), np.array([3, 2, 1, 0]), 3, np.array([5, 9, 5, 1]))
    assert csr.indptr.tolist() == [0, 1, 4, 4]
    assert csr.indices.tolist() == [2, 0, 1, 3]
    assert csr.time.tolist() == [9, 1, 5, 5]
    check_csr("x", csr, 3, 4)


@pytest.mark.parametrize("bad, message", [
    (lambda n, l: (n, [Link("orders", "user_id", "users", np.arange(5), np.array([0, 0, 9, 0, 2]))]), "node indices"),
    (lambda n, l: (n, [Link("orders", "user_id", "nobody", np.arange(5), np.zeros(5, int))]), "unknown table"),
    (lambda n, l: (n, l + [l[0]]), "given twice"),
    (lambda n, l: (n, [Link("orders", "rev_x", "users", np.arange(5), np.zeros(5, int))]), "reserved"),
    (lambda n, l: (n, [Link("orders", "a__b", "users", np.arange(5), np.zeros(5, int))]), "cannot be used"),
    (lambda n, l: (n + [NodeTable("users", 1)], l), "given twice"),
    (lambda n, l: ([NodeTable("users", 3, np.array([1, 2]))] + n[1:], l), "int64 unix seconds"),
    (lambda n, l: (n, [Link("orders", "user_id", "users", np.arange(4), np.zeros(5, int))]), "differ in length"),
])
def test_writer_rejects_bad_input_and_leaves_nothing(file_store, bad, message):
    nodes = [NodeTable("users", 3, np.array([10, 20, 30])), NodeTable("orders", 5, np.arange(5))]
    links = [Link("orders", "user_id", "users", np.arange(5), np.array([0, 0, 1, 0, 2]))]
    nodes, links = bad(nodes, links)
    artifacts = ArtifactStore(file_store)
    with pytest.raises(ArtifactFormatError, match=message):
        write_graph_artifact(artifacts, "g", nodes, links)
    assert artifacts.find("g") is None


def test_check_csr_rejects_unsorted_times():
    csr = build_csr(np.array([0, 0]), np.array([0, 1]), 1, np.array([1, 2]))
    csr.time[:] = [2, 1]
    with pytest.raises(ArtifactFormatError, match="not sorted by time"):
        check_csr("x", csr, 1, 2)


def test_reader_rejects_other_artifacts(file_store):
    artifacts = ArtifactStore(file_store)
    with artifacts.writer("other", producer="tests") as out:
        out.write_json("x.json", {})
    with pytest.raises(ArtifactFormatError, match="not a graph artifact"):
        GraphArtifact.open(artifacts, "other")
