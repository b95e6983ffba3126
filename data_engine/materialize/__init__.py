"""Graph and feature materialization: ingested tables in, node indexes, a CSR graph and feature blocks out.

Public interface::

    from data_engine.materialize import materialize_graph
    result = materialize_graph(schema, {"orders": "file:///.../tables/orders/v1", ...}, "graphs/shop")
    result.graph_uri, result.feature_uris["orders"], result.links["orders__customer_id__customers"]
    # rows appended to orders (ingested with previous=): only the new rows are read and encoded
    update = materialize_graph(schema, {..., "orders": "file:///.../tables/orders/v2"}, "graphs/shop-2",
                               previous=result)
    update.mode, update.fallback, update.work["rows_read"]

Steps (each also callable alone): :func:`build_node_index` / :func:`update_node_index`
(:mod:`~data_engine.materialize.node_index`), :func:`materialize_edges` (:mod:`~data_engine.materialize.edges`),
:func:`materialize_features` (:mod:`~data_engine.materialize.features`). Every step runs in Spark and streams
Spark's sorted output part by part into the artifact files; nothing collects a table to the driver.
"""

from data_engine.materialize.edges import materialize_edges
from data_engine.materialize.encoders import OTHER
from data_engine.materialize.errors import MaterializeError
from data_engine.materialize.features import FeatureOptions, materialize_features
from data_engine.materialize.job import MaterializeResult, materialize_graph
from data_engine.materialize.node_index import NodeIndex, build_node_index, update_node_index

__all__ = ["materialize_graph", "MaterializeResult", "MaterializeError", "FeatureOptions", "OTHER",
           "build_node_index", "update_node_index", "NodeIndex", "materialize_edges", "materialize_features"]
