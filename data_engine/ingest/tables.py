"""Ingested tables as later jobs see them: a committed artifact with Parquet parts and a profile.

Layout of a table artifact (written by :func:`data_engine.ingest.ingest_table`)::

    data/part-*.parquet       the typed rows, in source order
    rejected/part-*.parquet   malformed rows as strings, with _reason, _record and _file (only if any)
    report.json               how the source was read: files, dialect, types, malformed-row report
    stats.json                profile: statistics, semantic types, primary key and time column
    _manifest.json            written last; metadata holds table, rows, schema, dtypes, proposals
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from platform_core.artifacts import Artifact, ArtifactError, ArtifactStore
from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectStore

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from data_engine.staging import Staging

TABLE_PRODUCER = "data_engine.ingest"
DATA_FOLDER = "data"
REJECTED_FOLDER = "rejected"
REPORT_FILE = "report.json"
STATS_FILE = "stats.json"


class TableNotFoundError(UserFacingError, LookupError):
    """A URI that should hold an ingested table does not."""


@dataclass(frozen=True)
class IngestedTable:
    """A committed table artifact.

    Attributes:
        uri: the artifact's URI.
        artifact: the opened artifact (manifest and readers).
    """

    uri: str
    artifact: Artifact

    @property
    def metadata(self) -> dict[str, Any]:
        return self.artifact.manifest.metadata

    @property
    def name(self) -> str:
        return self.metadata["table"]

    @property
    def rows(self) -> int:
        return int(self.metadata["rows"])

    @property
    def dtypes(self) -> dict[str, str]:
        """Each column's platform dtype, in table order."""
        dtypes = self.metadata["dtypes"]
        return {name: dtypes[name] for name in self.metadata["columns"]}

    @property
    def columns(self) -> list[str]:
        """The column names, in table order."""
        return list(self.metadata["columns"])

    @property
    def data_files(self) -> list[str]:
        """Names of the Parquet parts holding the rows, in order."""
        return [f.name for f in self.artifact.manifest.files
                if f.name.startswith(DATA_FOLDER + "/") and f.kind == "parquet"]

    @property
    def rejected_files(self) -> list[str]:
        return [f.name for f in self.artifact.manifest.files
                if f.name.startswith(REJECTED_FOLDER + "/") and f.kind == "parquet"]

    @property
    def primary_key(self) -> str | None:
        return self.metadata.get("primary_key")

    @property
    def time_column(self) -> str | None:
        return self.metadata.get("time_column")

    @property
    def stypes(self) -> dict[str, str]:
        """Each column's semantic type name (empty when the table was not profiled)."""
        return dict(self.metadata.get("stypes") or {})

    def stats(self) -> dict[str, Any] | None:
        """The profile (``stats.json``), or None when the table was ingested without one."""
        names = {f.name for f in self.artifact.manifest.files}
        return self.artifact.read_json(STATS_FILE) if STATS_FILE in names else None

    def report(self) -> dict[str, Any]:
        return self.artifact.read_json(REPORT_FILE)

    def dataframe(self, spark: "SparkSession", staging: "Staging") -> "DataFrame":
        """The table's rows as a Spark DataFrame (parts staged locally when Spark cannot reach the store)."""
        return spark.read.parquet(*staging.artifact_paths(self.artifact, self.data_files))


def open_table(store: ObjectStore, uri: str) -> IngestedTable:
    """Open an ingested table.

    Raises:
        TableNotFoundError: no committed artifact at ``uri``, or one that is not a table.
    """
    try:
        artifact = ArtifactStore(store).open(uri)
    except ArtifactError as exc:
        raise TableNotFoundError(f"no ingested table at {uri}: {exc}") from None
    if artifact.manifest.producer != TABLE_PRODUCER or "dtypes" not in artifact.manifest.metadata:
        raise TableNotFoundError(f"{uri} is an artifact of {artifact.manifest.producer}, not an ingested table")
    return IngestedTable(artifact.uri, artifact)
