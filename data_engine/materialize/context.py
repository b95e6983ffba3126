"""What every materialization job needs: settings, the object store, artifacts, a staging area, Spark."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

from data_engine.staging import Staging
from platform_core.artifacts import ArtifactStore
from platform_core.object_store import ObjectStore

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from platform_core.settings import Settings


@dataclass
class JobContext:
    """Shared handles of one job run; Spark starts only when a step first needs it.

    Attributes:
        settings: the platform settings.
        store: the object store the job reads and writes.
        staging: the scratch area between the store and Spark (closed when the run ends).
    """

    settings: "Settings"
    store: ObjectStore
    staging: Staging
    _spark: "SparkSession | None" = field(default=None, repr=False)

    @property
    def artifacts(self) -> ArtifactStore:
        return ArtifactStore(self.store)

    @property
    def spark(self) -> "SparkSession":
        if self._spark is None:
            from data_engine.spark_session import get_spark

            self._spark = get_spark(self.settings)
        return self._spark

    def uri(self, uri_or_path: str) -> str:
        """An absolute URI: URIs stay as they are, local paths become ``file://`` URIs, keys go under the store."""
        if "://" in uri_or_path:
            return uri_or_path.rstrip("/")
        if uri_or_path.startswith(("/", ".", "~")):
            from pathlib import Path

            return Path(uri_or_path).expanduser().resolve().as_uri()
        return self.store.uri(uri_or_path)


@contextmanager
def job_context(settings: "Settings | None" = None, store: ObjectStore | None = None,
                spark: "SparkSession | None" = None) -> Iterator[JobContext]:
    """Open a :class:`JobContext` from optional handles (defaults from the environment's settings)."""
    from platform_core.settings import load_settings

    settings = settings or load_settings()
    store = store or ObjectStore.from_settings(settings)
    with Staging(store, settings.home / "scratch") as staging:
        yield JobContext(settings, store, staging, spark)
