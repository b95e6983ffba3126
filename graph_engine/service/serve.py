"""Run a store server in this process until it is told to stop: what the server entrypoints call."""

from __future__ import annotations

from typing import Callable, Sequence

from graph_engine.graph_store import ArtifactGraphStore
from graph_engine.service.feature_server import FeatureStoreServer, open_feature_store
from graph_engine.service.graph_server import GraphStoreServer
from graph_engine.service.server import serve_until_stopped
from platform_core.object_store import ObjectStore
from platform_core.settings import Settings


def serve_graph(settings: Settings, graph_uri: str, *, host: str = "127.0.0.1", port: int = 0,
                announce: Callable[[str], None] | None = None) -> None:
    """Serve the graph artifact at ``graph_uri`` until SIGTERM or SIGINT.

    Args:
        settings: where the object store is.
        graph_uri: the graph artifact (absolute URI or key under the store root).
        host: the interface to listen on.
        port: the TCP port (0: any free one; the bound address is announced).
        announce: told when serving starts and stops (default: stdout).

    Raises:
        ArtifactError: no committed graph artifact there.
        ArtifactFormatError: it is not a graph artifact.
        OSError: the port cannot be bound.
    """
    store = ObjectStore.from_settings(settings)
    uri = graph_uri if "://" in graph_uri else store.uri(graph_uri)
    server = GraphStoreServer(ArtifactGraphStore.open(store, uri), host, port)
    serve_until_stopped(server, announce=announce)


def serve_features(settings: Settings, feature_uris: Sequence[str], *, host: str = "127.0.0.1", port: int = 0,
                   announce: Callable[[str], None] | None = None) -> None:
    """Serve feature artifacts (artifact URIs or folders of them) until SIGTERM or SIGINT.

    Args:
        settings: where the object store is.
        feature_uris: feature artifacts or folders holding them (absolute URIs or keys).
        host: the interface to listen on.
        port: the TCP port (0: any free one; the bound address is announced).
        announce: told when serving starts and stops (default: stdout).

    Raises:
        ArtifactError: an artifact is missing or incomplete.
        FeatureLookupError: two artifacts for one table, or none at all.
        OSError: the port cannot be bound.
    """
    store = ObjectStore.from_settings(settings)
    server = FeatureStoreServer(open_feature_store(store, list(feature_uris)), host, port)
    serve_until_stopped(server, announce=announce)
