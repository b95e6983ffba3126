"""On-disk formats that the data engine writes and the graph engine serves.

Both formats are artifacts (folders with a manifest written last, see :mod:`platform_core.artifacts`)
made of NumPy ``.npy`` files (memory-mappable) plus an Arrow IPC file for text. This package depends on
NumPy and PyArrow only, so Spark jobs and the graph engine's servers can share it.

- :mod:`data_engine.artifact_formats.graph`: the relational graph as per-edge-type CSR with timestamps.
- :mod:`data_engine.artifact_formats.features`: per-table feature rows grouped by semantic type.
"""

from data_engine.artifact_formats.errors import ArtifactFormatError

__all__ = ["ArtifactFormatError"]
