"""How Spark reaches the object store: directly where it can, through a local scratch folder where not.

Jobs take and return object-store URIs. Spark reads and writes some schemes itself and not others:
:data:`SPARK_SCHEMES` maps each object-store scheme that Spark can reach to the scheme Spark uses for it.
Out of the box only ``file`` is there, because this platform's Spark has no ``s3a`` jars (they come from
Maven). For every other scheme (``s3``) a :class:`Staging` area stands in:

- inputs are downloaded file by file into the scratch folder (keeping their relative layout, so
  ``key=value`` partition folders still work), hashed on the way, and Spark reads the local copies;
- outputs are written by Spark into the scratch folder, then each part file is uploaded into the
  artifact's folder and recorded with :meth:`ArtifactWriter.add_existing`.

A deployment whose Spark has the ``hadoop-aws`` jars and credentials can let Spark read and write S3
itself by adding ``"s3": "s3a"`` to :data:`SPARK_SCHEMES` (:func:`register_spark_scheme`); nothing else
changes. The scratch folder is removed when the staging area closes.
"""

from __future__ import annotations

import hashlib
import posixpath
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from platform_core.artifacts import Artifact, ArtifactFile, ArtifactWriter
from platform_core.object_store import ObjectNotFoundError, ObjectStore

#: object-store scheme -> the scheme Spark itself uses for it; schemes not listed go through staging.
SPARK_SCHEMES: dict[str, str] = {"file": "file"}

#: Spark's own bookkeeping files, never data.
_MARKER_PREFIXES = ("_", ".")


def register_spark_scheme(store_scheme: str, spark_scheme: str) -> None:
    """Let Spark read and write ``store_scheme`` URIs itself (e.g. ``("s3", "s3a")`` with s3a jars)."""
    SPARK_SCHEMES[store_scheme] = spark_scheme


def spark_reaches(uri: str) -> bool:
    """Whether Spark reads and writes this URI's scheme without staging."""
    return _scheme(uri) in SPARK_SCHEMES


def _scheme(uri: str) -> str:
    return uri.split("://", 1)[0] if "://" in uri else "file"


def is_data_file(name: str) -> bool:
    """False for hidden files and Spark's markers (``_SUCCESS``, ``.crc``, ``_committed_...``)."""
    return not posixpath.basename(name).startswith(_MARKER_PREFIXES)


@dataclass(frozen=True)
class SourceFile:
    """One input file: where it lives, what it holds, and the path Spark reads it from."""

    uri: str
    relative: str
    size: int
    sha256: str
    spark_path: str


@dataclass(frozen=True)
class StagedSource:
    """The files of one source (a file, a folder or a prefix) ready for Spark."""

    uri: str
    files: list[SourceFile]
    spark_base: str | None  # the folder Spark should treat as base path (partition discovery), if any

    @property
    def fingerprint(self) -> str:
        """A SHA-256 over every file's relative name and content hash."""
        digest = hashlib.sha256()
        for f in sorted(self.files, key=lambda f: f.relative):
            digest.update(f"{f.relative}\0{f.sha256}\n".encode())
        return digest.hexdigest()


class Staging:
    """A scratch folder for one job, and the moves between the object store and Spark.

    Args:
        store: the platform's object store (its S3 options are used for any ``s3://`` URI).
        scratch_root: where scratch folders are made (default: the system temp folder).

    Use it as a context manager; the scratch folder goes away on exit.
    """

    def __init__(self, store: ObjectStore, scratch_root: str | Path | None = None) -> None:
        self.store = store
        self._root = Path(scratch_root) if scratch_root else None
        self._dir: Path | None = None

    def __enter__(self) -> "Staging":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    @property
    def scratch(self) -> Path:
        """This job's scratch folder, created on first use."""
        if self._dir is None:
            if self._root is not None:
                self._root.mkdir(parents=True, exist_ok=True)
            self._dir = Path(tempfile.mkdtemp(prefix="pq-stage-", dir=self._root))
        return self._dir

    # ---- stores and paths -------------------------------------------------------------------
    def store_for(self, uri: str) -> ObjectStore:
        """A store that can address ``uri`` (this one when the scheme matches)."""
        return self.store if _scheme(uri) == self.store.scheme else self.store.for_uri(uri)

    def spark_path(self, uri: str) -> str:
        """The path Spark uses for a URI of a scheme it reaches itself.

        Raises:
            ValueError: Spark cannot reach the scheme (stage the data instead).
        """
        scheme = _scheme(uri)
        if scheme not in SPARK_SCHEMES:
            raise ValueError(f"{uri}: Spark cannot reach {scheme}:// here; stage it")
        path = self.store_for(uri).path(uri)
        if scheme == "file":
            return "file://" + path
        return f"{SPARK_SCHEMES[scheme]}://{path}"

    # ---- inputs -----------------------------------------------------------------------------
    def list_source(self, uri: str) -> tuple[list[str], str | None]:
        """The data files of a source given as one file, a folder or a key prefix.

        Returns:
            (file URIs sorted, the folder they are under or None for a single file / a name prefix).

        Raises:
            ObjectNotFoundError: nothing matches ``uri``.
        """
        store = self.store_for(uri)
        uri = uri.rstrip("/")
        try:
            store.size(uri)
            return [uri], None
        except ObjectNotFoundError:
            pass
        files = [f for f in store.list(uri, recursive=True) if is_data_file(f[len(uri):])]
        if files:
            return files, uri
        parent = uri.rsplit("/", 1)[0]
        prefixed = [f for f in store.list(parent, recursive=True)
                    if f.startswith(uri) and is_data_file(f[len(parent):])]
        if not prefixed:
            raise ObjectNotFoundError(f"{uri}: no file, folder or prefix with data files there")
        return prefixed, None

    def stage_source(self, uri: str, files: Iterable[str] | None = None) -> StagedSource:
        """Make a source's files readable by Spark and fingerprint their content.

        Args:
            uri: the source (file, folder or prefix).
            files: a subset of :meth:`list_source`'s files to use (default: all).

        Returns:
            The files with content hashes and Spark paths (local copies when Spark cannot reach them).
        """
        listed, base = self.list_source(uri)
        chosen = list(files) if files is not None else listed
        store = self.store_for(uri)
        native = spark_reaches(uri)
        local_base = self.scratch / "in" / hashlib.sha256(uri.encode()).hexdigest()[:12] if not native else None
        result = []
        for file_uri in chosen:
            relative = file_uri[len(base) + 1:] if base else file_uri.rsplit("/", 1)[-1]
            digest = hashlib.sha256()
            size = 0
            if native:
                for chunk in store.iter_chunks(file_uri):
                    digest.update(chunk)
                    size += len(chunk)
                spark_path = self.spark_path(file_uri)
            else:
                target = local_base / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as out:
                    for chunk in store.iter_chunks(file_uri):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                spark_path = "file://" + str(target)
            result.append(SourceFile(uri=file_uri, relative=relative, size=size, sha256=digest.hexdigest(),
                                     spark_path=spark_path))
        if base is None:
            spark_base = None
        elif native:
            spark_base = self.spark_path(base)
        else:
            spark_base = "file://" + str(local_base)
        return StagedSource(uri=uri, files=result, spark_base=spark_base)

    def read_sample(self, uri: str, limit: int) -> bytes:
        """The first ``limit`` bytes of one object."""
        with self.store_for(uri).open_input(uri) as stream:
            return stream.read(limit)

    def artifact_paths(self, artifact: Artifact, names: Iterable[str]) -> list[str]:
        """Spark paths for files of a committed artifact (downloaded first when Spark cannot reach them)."""
        names = list(names)
        if spark_reaches(artifact.uri):
            return [self.spark_path(artifact.file_uri(n)) for n in names]
        local_base = self.scratch / "art" / hashlib.sha256(artifact.uri.encode()).hexdigest()[:12]
        paths = []
        for name in names:
            target = local_base / name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as out:
                    for chunk in artifact.store.iter_chunks(artifact.file_uri(name)):
                        out.write(chunk)
            paths.append("file://" + str(target))
        return paths

    # ---- outputs ----------------------------------------------------------------------------
    def output_path(self, writer: ArtifactWriter, folder: str) -> str:
        """Where Spark writes the artifact's sub-folder ``folder`` (in place, or in scratch to upload)."""
        uri = writer.file_uri(folder)
        if spark_reaches(uri):
            return self.spark_path(uri)
        local = self.scratch / "out" / hashlib.sha256(uri.encode()).hexdigest()[:12] / folder
        shutil.rmtree(local, ignore_errors=True)
        return "file://" + str(local)

    def publish(self, writer: ArtifactWriter, folder: str, *, kind: str = "parquet") -> list[ArtifactFile]:
        """Record the part files Spark wrote for ``folder`` in the artifact (uploading them if staged).

        Spark's marker and checksum files are removed (in place) or left behind (staged).

        Returns:
            The manifest entries of the part files, sorted by name.
        """
        uri = writer.file_uri(folder)
        written = self.output_path_local(writer, folder)
        entries = []
        if written is None:
            store = self.store_for(uri)
            for file_uri in store.list(uri, recursive=True):
                relative = file_uri[len(uri) + 1:]
                if not is_data_file(relative):
                    store.delete(file_uri)
            for file_uri in store.list(uri, recursive=True):
                entries.append(writer.add_existing(f"{folder}/{file_uri[len(uri) + 1:]}", kind=kind))
            return entries
        for path in sorted(written.rglob("*")):
            relative = path.relative_to(written).as_posix()
            if not path.is_file() or not is_data_file(relative):
                continue
            with open(path, "rb") as src, writer.store.open_output(f"{uri}/{relative}") as dst:
                shutil.copyfileobj(src, dst, 8 << 20)
            entries.append(writer.add_existing(f"{folder}/{relative}", kind=kind))
        return entries

    def written_rows(self, writer: ArtifactWriter, folder: str) -> int:
        """The rows in the Parquet parts Spark wrote for ``folder`` (read from their footers)."""
        import pyarrow.parquet as pq

        local = self.output_path_local(writer, folder)
        total = 0
        if local is not None:
            for path in local.rglob("*"):
                if path.is_file() and is_data_file(path.relative_to(local).as_posix()):
                    total += pq.ParquetFile(path).metadata.num_rows
            return total
        uri = writer.file_uri(folder)
        store = self.store_for(uri)
        for file_uri in store.list(uri, recursive=True):
            if is_data_file(file_uri[len(uri) + 1:]):
                with store.open_input(file_uri) as stream:
                    total += pq.ParquetFile(stream).metadata.num_rows
        return total

    def discard(self, writer: ArtifactWriter, folder: str) -> None:
        """Remove what Spark wrote for ``folder`` without recording it in the artifact."""
        local = self.output_path_local(writer, folder)
        if local is not None:
            shutil.rmtree(local, ignore_errors=True)
        else:
            self.store_for(writer.file_uri(folder)).delete(writer.file_uri(folder))

    def output_path_local(self, writer: ArtifactWriter, folder: str) -> Path | None:
        """The scratch folder Spark wrote ``folder`` into, or None when it wrote in place."""
        uri = writer.file_uri(folder)
        if spark_reaches(uri):
            return None
        return self.scratch / "out" / hashlib.sha256(uri.encode()).hexdigest()[:12] / folder
