"""Artifacts: folders in the object store whose manifest is written last.

A writer puts its files into the folder, then writes ``_manifest.json`` (files with sizes and SHA-256,
Parquet/Arrow schemas and row counts, NumPy dtypes and shapes, a content hash, the producer and its
version, and the inputs the artifact was made from). A folder without a manifest does not exist for
readers, so a writer that crashes half way leaves nothing that anyone accepts; re-running a step with
the same inputs finds the manifest and can skip the work (:meth:`ArtifactStore.find`).

Typical use::

    with artifacts.writer(uri, producer="data_engine.ingest", inputs={"source": src}) as out:
        out.write_table("rows.parquet", table)
        out.write_numpy("indptr.npy", indptr)
    art = artifacts.open(uri)
    table = art.read_table("rows.parquet")
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from platform_core.object_store import (
    HashingWriter,
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreError,
    translate_errors,
)

MANIFEST_NAME = "_manifest.json"
MANIFEST_VERSION = 1


class ArtifactError(ObjectStoreError):
    """An artifact is missing, incomplete or does not match its manifest."""


class ArtifactNotFoundError(ArtifactError):
    """Nothing at all at the artifact's URI."""


class IncompleteArtifactError(ArtifactError):
    """Files exist but the manifest does not (a writer crashed or is still writing) or disagrees."""


def producer_version() -> str:
    """The installed version of the platform, recorded in every manifest."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("predictive-query")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class ArtifactFile:
    """One file of an artifact as recorded in its manifest."""

    name: str
    kind: str  # parquet | arrow | numpy | json | bytes
    size: int
    sha256: str
    rows: int | None = None
    schema: list[dict[str, str]] | None = None
    dtype: str | None = None
    shape: list[int] | None = None


@dataclass(frozen=True)
class Manifest:
    """What an artifact holds, who made it and from what."""

    producer: str
    producer_version: str
    inputs: dict[str, Any]
    files: list[ArtifactFile]
    content_hash: str
    created_at: str
    metadata: dict[str, Any] = field(default_factory=dict)
    manifest_version: int = MANIFEST_VERSION

    @property
    def rows(self) -> dict[str, int]:
        return {f.name: f.rows for f in self.files if f.rows is not None}

    def file(self, name: str) -> ArtifactFile:
        for entry in self.files:
            if entry.name == name:
                return entry
        raise ArtifactError(f"artifact has no file {name!r} (it has: {', '.join(f.name for f in self.files)})")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        raw = json.loads(text)
        raw["files"] = [ArtifactFile(**f) for f in raw["files"]]
        return cls(**raw)


def _schema_json(schema: pa.Schema) -> list[dict[str, str]]:
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def content_hash(files: Iterable[ArtifactFile], metadata: dict[str, Any]) -> str:
    """A hash of the artifact's content: every file's name and hash, and its metadata."""
    digest = hashlib.sha256()
    for entry in sorted(files, key=lambda f: f.name):
        digest.update(f"{entry.name}\0{entry.sha256}\n".encode())
    digest.update(json.dumps(metadata, sort_keys=True, default=str).encode())
    return digest.hexdigest()


class ArtifactWriter:
    """Writes the files of one artifact; :meth:`commit` writes the manifest last.

    Use it through :meth:`ArtifactStore.writer` as a context manager, which commits on success and
    removes the partial folder when the block raises.
    """

    def __init__(self, store: ObjectStore, uri: str, producer: str, inputs: dict[str, Any]) -> None:
        self.store = store
        self.uri = uri.rstrip("/")
        self.producer = producer
        self.inputs = dict(inputs)
        self.metadata: dict[str, Any] = {}
        self._files: dict[str, ArtifactFile] = {}
        self._committed = False

    def _check_name(self, name: str) -> str:
        if not name or name.startswith(("/", ".")) or ".." in name.split("/") or name == MANIFEST_NAME:
            raise ArtifactError(f"{self.uri}: invalid artifact file name {name!r}")
        if name in self._files:
            raise ArtifactError(f"{self.uri}: file {name!r} written twice")
        return name

    def file_uri(self, name: str) -> str:
        return f"{self.uri}/{name}"

    def _write(self, name: str, kind: str, body, **extra) -> ArtifactFile:
        name = self._check_name(name)
        uri = self.file_uri(name)
        with translate_errors("write", uri), self.store.open_output(uri) as stream:
            sink = HashingWriter(stream)
            body(sink)
        entry = ArtifactFile(name=name, kind=kind, size=sink.size, sha256=sink.hexdigest(), **extra)
        self._files[name] = entry
        return entry

    def write_table(self, name: str, table: pa.Table, *, compression: str = "zstd") -> ArtifactFile:
        """Write a whole Arrow table as one Parquet file."""
        return self.write_batches(name, table.schema, table.to_batches(), compression=compression)

    def write_batches(
        self, name: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch], *, compression: str = "zstd"
    ) -> ArtifactFile:
        """Stream record batches into one Parquet file without holding them all in memory."""
        rows = 0

        def body(sink: HashingWriter) -> None:
            nonlocal rows
            with pq.ParquetWriter(sink, schema, compression=compression) as writer:
                for batch in batches:
                    rows += batch.num_rows
                    writer.write_batch(batch)

        self._write(name, "parquet", body, schema=_schema_json(schema))
        entry = self._files[name]
        self._files[name] = ArtifactFile(**{**asdict(entry), "rows": rows})
        return self._files[name]

    def write_arrow(self, name: str, table: pa.Table) -> ArtifactFile:
        """Write an Arrow IPC file (uncompressed, memory-mappable by readers on local disks)."""
        return self.write_arrow_batches(name, table.schema, table.to_batches())

    def write_arrow_batches(self, name: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> ArtifactFile:
        """Stream record batches into one Arrow IPC file (memory-mappable), without holding them all."""
        rows = 0

        def body(sink: HashingWriter) -> None:
            nonlocal rows
            with ipc.new_file(sink, schema) as writer:
                for batch in batches:
                    rows += batch.num_rows
                    writer.write_batch(batch)

        self._write(name, "arrow", body, schema=_schema_json(schema))
        entry = self._files[name]
        self._files[name] = ArtifactFile(**{**asdict(entry), "rows": rows})
        return self._files[name]

    def write_numpy(self, name: str, array: np.ndarray) -> ArtifactFile:
        """Write a NumPy array in .npy format (memory-mappable by readers on local disks)."""
        array = np.ascontiguousarray(array)
        return self._write(
            name, "numpy", lambda sink: np.save(sink, array, allow_pickle=False),
            dtype=array.dtype.str, shape=list(array.shape), rows=int(array.shape[0]) if array.ndim else None,
        )

    def write_numpy_chunks(
        self, name: str, dtype: Any, shape: tuple[int, ...], chunks: Iterable[np.ndarray]
    ) -> ArtifactFile:
        """Stream a .npy file whose shape is known up front, chunk by chunk along the first axis.

        Raises:
            ArtifactError: the chunks do not add up to ``shape``.
        """
        dtype = np.dtype(dtype)
        shape = tuple(int(n) for n in shape)
        expected = int(np.prod(shape, dtype=np.int64))
        written = 0

        def body(sink: HashingWriter) -> None:
            nonlocal written
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_1_0(sink, header)
            for chunk in chunks:
                block = np.ascontiguousarray(chunk, dtype=dtype)
                written += block.size
                if written > expected:
                    break
                sink.write(memoryview(block).cast("B"))
            if written != expected:
                raise ArtifactError(f"{self.uri}/{name}: chunks hold {written} values, shape {shape} needs {expected}")

        return self._write(name, "numpy", body, dtype=dtype.str, shape=list(shape),
                           rows=shape[0] if shape else None)

    def write_json(self, name: str, value: Any) -> ArtifactFile:
        data = json.dumps(value, indent=2, sort_keys=True, default=str).encode()
        return self._write(name, "json", lambda sink: sink.write(data))

    def write_bytes(self, name: str, data: bytes) -> ArtifactFile:
        return self._write(name, "bytes", lambda sink: sink.write(data))

    def add_existing(self, name: str, kind: str = "bytes") -> ArtifactFile:
        """Record a file that another writer (e.g. Spark) already put into the artifact's folder."""
        name = self._check_name(name)
        uri = self.file_uri(name)
        digest = hashlib.sha256()
        size = 0
        for chunk in self.store.iter_chunks(uri):
            digest.update(chunk)
            size += len(chunk)
        extra: dict[str, Any] = {}
        if kind == "parquet":
            with self.store.open_input(uri) as stream:
                meta = pq.ParquetFile(stream).metadata
                extra = {"rows": meta.num_rows, "schema": _schema_json(meta.schema.to_arrow_schema())}
        entry = ArtifactFile(name=name, kind=kind, size=size, sha256=digest.hexdigest(), **extra)
        self._files[name] = entry
        return entry

    def commit(self) -> Manifest:
        """Write the manifest, which makes the artifact exist for readers."""
        if self._committed:
            raise ArtifactError(f"{self.uri}: already committed")
        files = sorted(self._files.values(), key=lambda f: f.name)
        manifest = Manifest(
            producer=self.producer,
            producer_version=producer_version(),
            inputs=self.inputs,
            files=files,
            content_hash=content_hash(files, self.metadata),
            created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            metadata=self.metadata,
        )
        self.store.write_bytes(self.file_uri(MANIFEST_NAME), manifest.to_json().encode())
        self._committed = True
        return manifest

    def abort(self) -> None:
        """Remove everything written so far (best effort: a crash leaves files but no manifest)."""
        try:
            self.store.delete(self.uri)
        except ObjectStoreError:
            pass


class Artifact:
    """A committed artifact: its manifest and readers for its files."""

    def __init__(self, store: ObjectStore, uri: str, manifest: Manifest) -> None:
        self.store = store
        self.uri = uri.rstrip("/")
        self.manifest = manifest

    def file_uri(self, name: str) -> str:
        self.manifest.file(name)
        return f"{self.uri}/{name}"

    def local_path(self, name: str) -> str | None:
        """A path on the local disk for ``name`` when the store is a local folder (for mmap), else None."""
        path = self.store.local_path(self.file_uri(name))
        return str(path) if path is not None else None

    def read_table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        uri = self.file_uri(name)
        with translate_errors("read", uri), self.store.open_input(uri) as stream:
            return pq.read_table(stream, columns=columns)

    def iter_batches(self, name: str, batch_size: int = 65536, columns: list[str] | None = None
                     ) -> Iterator[pa.RecordBatch]:
        """Stream a Parquet file batch by batch (out of core)."""
        with self.store.open_input(self.file_uri(name)) as stream:
            yield from pq.ParquetFile(stream).iter_batches(batch_size=batch_size, columns=columns)

    def read_arrow(self, name: str) -> pa.Table:
        """Read an Arrow IPC file; memory-mapped (zero-copy) on a local store."""
        local = self.local_path(name)
        if local is not None:
            return ipc.open_file(pa.memory_map(local, "r")).read_all()
        with self.store.open_input(self.file_uri(name)) as stream:
            return ipc.open_file(stream).read_all()

    def read_numpy(self, name: str, *, mmap: bool = True) -> np.ndarray:
        """Read a .npy file; read-only memory-mapped on a local store when ``mmap`` is true."""
        local = self.local_path(name)
        if local is not None:
            return np.load(local, mmap_mode="r" if mmap else None, allow_pickle=False)
        return np.load(io.BytesIO(self.store.read_bytes(self.file_uri(name))), allow_pickle=False)

    def read_json(self, name: str) -> Any:
        return json.loads(self.store.read_bytes(self.file_uri(name)))

    def read_bytes(self, name: str) -> bytes:
        return self.store.read_bytes(self.file_uri(name))

    def verify(self) -> None:
        """Re-hash every file against the manifest.

        Raises:
            IncompleteArtifactError: a file is missing or its bytes differ from the manifest.
        """
        for entry in self.manifest.files:
            digest = hashlib.sha256()
            try:
                for chunk in self.store.iter_chunks(f"{self.uri}/{entry.name}"):
                    digest.update(chunk)
            except ObjectNotFoundError:
                raise IncompleteArtifactError(f"{self.uri}: file {entry.name} is missing") from None
            if digest.hexdigest() != entry.sha256:
                raise IncompleteArtifactError(f"{self.uri}: file {entry.name} does not match its manifest")


class ArtifactStore:
    """Opens and writes artifacts in one :class:`ObjectStore`."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def writer(self, uri: str, *, producer: str, inputs: dict[str, Any] | None = None) -> "_WriterContext":
        """Start writing the artifact at ``uri``; any previous artifact there stops existing first.

        Args:
            uri: the artifact's folder (absolute URI or key under the store's root).
            producer: the module or job that makes it, e.g. ``"data_engine.ingest"``.
            inputs: what it was made from (URIs, content hashes, parameters), compared by :meth:`find`.

        Returns:
            A context manager yielding an :class:`ArtifactWriter`; it commits on success and removes
            the partial folder when the block raises.
        """
        return _WriterContext(self.store, self.store.uri(uri) if "://" not in uri else uri, producer, inputs or {})

    def open(self, uri: str) -> Artifact:
        """Open a committed artifact.

        Raises:
            ArtifactNotFoundError: nothing exists at ``uri``.
            IncompleteArtifactError: files without a manifest, or a manifest naming missing files.
        """
        uri = self.store.uri(uri) if "://" not in uri else uri.rstrip("/")
        manifest_uri = f"{uri}/{MANIFEST_NAME}"
        try:
            manifest = Manifest.from_json(self.store.read_bytes(manifest_uri).decode())
        except ObjectNotFoundError:
            if self.store.list(uri, recursive=True):
                raise IncompleteArtifactError(
                    f"{uri}: incomplete artifact (no {MANIFEST_NAME}; its writer crashed or is still writing)"
                ) from None
            raise ArtifactNotFoundError(f"{uri}: no artifact") from None
        except (ValueError, TypeError, KeyError) as exc:
            raise IncompleteArtifactError(f"{uri}: unreadable manifest ({exc})") from None
        for entry in manifest.files:
            try:
                size = self.store.size(f"{uri}/{entry.name}")
            except ObjectNotFoundError:
                raise IncompleteArtifactError(f"{uri}: file {entry.name} named in the manifest is missing") from None
            if size != entry.size:
                raise IncompleteArtifactError(
                    f"{uri}: file {entry.name} has {size} bytes, the manifest says {entry.size}"
                )
        return Artifact(self.store, uri, manifest)

    def find(self, uri: str, inputs: dict[str, Any] | None = None) -> Artifact | None:
        """The committed artifact at ``uri`` if it exists (and was made from ``inputs``), else None."""
        try:
            artifact = self.open(uri)
        except ArtifactError:
            return None
        if inputs is not None and json.loads(json.dumps(inputs, default=str)) != artifact.manifest.inputs:
            return None
        return artifact

    def exists(self, uri: str) -> bool:
        return self.find(uri) is not None


class _WriterContext:
    def __init__(self, store: ObjectStore, uri: str, producer: str, inputs: dict[str, Any]) -> None:
        self._writer = ArtifactWriter(store, uri, producer, json.loads(json.dumps(inputs, default=str)))

    def __enter__(self) -> ArtifactWriter:
        writer = self._writer
        # The old manifest goes first, so no reader ever accepts a mix of old and new files.
        writer.store.delete(writer.file_uri(MANIFEST_NAME))
        writer.store.delete(writer.uri)
        return writer

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self._writer.commit()
        else:
            self._writer.abort()
