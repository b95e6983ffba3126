"""The graph store and feature store as services: Arrow Flight servers and the clients that talk to them.

- :class:`GraphStoreServer` / :class:`RemoteGraphStore`: a graph artifact served to any number of
  trainers; sampling runs in the server (one round trip per mini-batch).
- :class:`FeatureStoreServer` / :class:`RemoteFeatureStore`: feature artifacts served the same way
  (one round trip per mini-batch for all its tables and attributes).
- :mod:`graph_engine.service.launch`: start and stop the servers as local processes.

The clients implement the same PyG interfaces as the in-process stores, so
``NodeLoader(data=(feature_store, graph_store), node_sampler=...)`` works with either.
"""

from graph_engine.service.errors import StoreServiceError, StoreStartError, StoreUnavailableError
from graph_engine.service.feature_server import FeatureStoreServer, open_feature_store
from graph_engine.service.graph_server import GraphStoreServer
from graph_engine.service.remote_feature_store import RemoteFeatureStore
from graph_engine.service.remote_graph_store import RemoteGraphStore

__all__ = [
    "FeatureStoreServer",
    "GraphStoreServer",
    "RemoteFeatureStore",
    "RemoteGraphStore",
    "StoreServiceError",
    "StoreStartError",
    "StoreUnavailableError",
    "open_feature_store",
]
