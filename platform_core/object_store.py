"""One object-store interface over ``file://`` and ``s3://``, the only hand-off between engines.

An :class:`ObjectStore` is rooted at a URI (``file:///abs/folder`` or ``s3://bucket/prefix``) and
addresses objects by absolute URI or by a key relative to that root. Artifacts (folders with a manifest
written last) are in :mod:`platform_core.artifacts`; this module only moves bytes and files.
"""

from __future__ import annotations

import io
import posixpath
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.fs as pafs

from platform_core.errors import UserFacingError

if TYPE_CHECKING:
    from platform_core.settings import Settings


class ObjectStoreError(UserFacingError, RuntimeError):
    """The store cannot be reached or refused an operation; the message names the URI."""


class ObjectNotFoundError(ObjectStoreError, FileNotFoundError):
    """No object at the given URI."""


@dataclass(frozen=True)
class S3Options:
    """How to reach an S3 server (AWS or any S3-compatible one such as SeaweedFS or MinIO)."""

    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str = "us-east-1"

    def filesystem(self) -> pafs.S3FileSystem:
        kwargs: dict = {"region": self.region, "allow_bucket_creation": True, "connect_timeout": 5,
                        "request_timeout": 30}
        if self.endpoint_url:
            parsed = urlparse(self.endpoint_url)
            kwargs["endpoint_override"] = parsed.netloc or parsed.path
            kwargs["scheme"] = parsed.scheme or "http"
        if self.access_key_id:
            kwargs["access_key"] = self.access_key_id
            kwargs["secret_key"] = self.secret_access_key or ""
        return pafs.S3FileSystem(**kwargs)


def _split_uri(uri: str) -> tuple[str, str]:
    """Return (scheme, filesystem path) for a file://, s3:// or plain local path."""
    if "://" not in uri:
        return "file", str(Path(uri).expanduser().resolve())
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return "file", unquote(parsed.path) or "/"
    if parsed.scheme == "s3":
        if len(parsed.netloc) < 3:
            raise ObjectStoreError(f"{uri}: an S3 bucket name needs at least 3 characters")
        return "s3", posixpath.join(parsed.netloc, parsed.path.lstrip("/")).rstrip("/")
    raise ObjectStoreError(f"{uri}: unsupported scheme {parsed.scheme!r} (expected file:// or s3://)")


@contextmanager
def translate_errors(what: str, uri: str) -> Iterator[None]:
    """Turn the filesystem's OSErrors inside the block into one-line :class:`ObjectStoreError`s."""
    try:
        yield
    except ObjectStoreError:
        raise
    except FileNotFoundError as exc:
        raise ObjectNotFoundError(f"{uri}: not found") from exc
    except OSError as exc:
        raise ObjectStoreError(f"{what} {uri}: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


class ObjectStore:
    """Reads and writes objects under one root URI.

    Args:
        root_uri: ``file:///folder``, ``s3://bucket/prefix`` or a local path.
        s3: how to reach S3 when the root is an ``s3://`` URI.

    Raises:
        ObjectStoreError: an unsupported scheme or malformed URI.
    """

    def __init__(self, root_uri: str, *, s3: S3Options | None = None) -> None:
        self.scheme, self._root_path = _split_uri(root_uri)
        self._s3 = s3 or S3Options()
        self.root_uri = self._to_uri(self._root_path)
        self.fs: pafs.FileSystem = (
            pafs.LocalFileSystem() if self.scheme == "file" else self._s3.filesystem()
        )

    @classmethod
    def from_settings(cls, settings: "Settings") -> "ObjectStore":
        """The store that ``PQ_STORE_URI`` and the ``PQ_S3_*`` settings describe."""
        return cls(
            settings.store_uri,
            s3=S3Options(
                endpoint_url=settings.s3_endpoint_url,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=settings.s3_secret_access_key,
                region=settings.s3_region,
            ),
        )

    def for_uri(self, uri: str) -> "ObjectStore":
        """A store rooted at ``uri`` that reaches S3 the same way as this one."""
        return ObjectStore(uri, s3=self._s3)

    # ---- addressing -------------------------------------------------------------------------
    def _to_uri(self, path: str) -> str:
        return Path(path).as_uri() if self.scheme == "file" else f"s3://{path}"

    def uri(self, *keys: str) -> str:
        """The absolute URI of a key under the root (``uri("a", "b")`` is ``<root>/a/b``)."""
        return self._to_uri(posixpath.join(self._root_path, *keys)) if keys else self.root_uri

    def path(self, uri_or_key: str) -> str:
        """The filesystem path (for :attr:`fs`) of an absolute URI or a key under the root.

        Raises:
            ObjectStoreError: the URI belongs to another scheme than this store's.
        """
        if "://" not in uri_or_key:
            return posixpath.join(self._root_path, uri_or_key)
        scheme, path = _split_uri(uri_or_key)
        if scheme != self.scheme:
            raise ObjectStoreError(f"{uri_or_key}: this store is {self.root_uri}, not a {scheme}:// store")
        return path

    def local_path(self, uri_or_key: str) -> Path | None:
        """The local file path of an object when the store is a local folder, else None."""
        return Path(self.path(uri_or_key)) if self.scheme == "file" else None

    # ---- objects ----------------------------------------------------------------------------
    def _call(self, what: str, uri: str, fn, *args):
        with translate_errors(what, uri):
            return fn(*args)

    def exists(self, uri_or_key: str) -> bool:
        path = self.path(uri_or_key)
        info = self._call("stat", uri_or_key, self.fs.get_file_info, path)
        return info.type != pafs.FileType.NotFound

    def size(self, uri_or_key: str) -> int:
        path = self.path(uri_or_key)
        info = self._call("stat", uri_or_key, self.fs.get_file_info, path)
        if info.type != pafs.FileType.File:
            raise ObjectNotFoundError(f"{uri_or_key}: not found")
        return int(info.size)

    def list(self, uri_or_key: str = "", *, recursive: bool = False) -> list[str]:
        """URIs of the files (not folders) under a prefix, sorted; empty when nothing is there."""
        path = self.path(uri_or_key)
        selector = pafs.FileSelector(path, recursive=recursive, allow_not_found=True)
        infos = self._call("list", uri_or_key, self.fs.get_file_info, selector)
        return sorted(self._to_uri(i.path) for i in infos if i.type == pafs.FileType.File)

    def makedirs(self, uri_or_key: str) -> None:
        self._call("create", uri_or_key, lambda p: self.fs.create_dir(p, recursive=True), self.path(uri_or_key))

    def open_input(self, uri_or_key: str) -> pa.NativeFile:
        """A random-access reader (seekable) for one object."""
        return self._call("open", uri_or_key, self.fs.open_input_file, self.path(uri_or_key))

    def open_output(self, uri_or_key: str) -> pa.NativeFile:
        """A writer for one object; parent folders are created. The object appears when closed."""
        path = self.path(uri_or_key)
        if self.scheme == "file":
            self.makedirs(posixpath.dirname(path))
        return self._call("write", uri_or_key, self.fs.open_output_stream, path)

    def read_bytes(self, uri_or_key: str) -> bytes:
        with translate_errors("read", uri_or_key), self.open_input(uri_or_key) as stream:
            return stream.read()

    def write_bytes(self, uri_or_key: str, data: bytes) -> None:
        with translate_errors("write", uri_or_key), self.open_output(uri_or_key) as stream:
            stream.write(data)

    def iter_chunks(self, uri_or_key: str, chunk_size: int = 8 << 20) -> Iterator[bytes]:
        with translate_errors("read", uri_or_key), self.open_input(uri_or_key) as stream:
            while chunk := stream.read(chunk_size):
                yield chunk

    def delete(self, uri_or_key: str) -> None:
        """Remove an object or a whole folder; nothing happens when it does not exist."""
        path = self.path(uri_or_key)
        info = self._call("stat", uri_or_key, self.fs.get_file_info, path)
        if info.type == pafs.FileType.Directory:
            self._call("delete", uri_or_key, self.fs.delete_dir, path)
        elif info.type == pafs.FileType.File:
            self._call("delete", uri_or_key, self.fs.delete_file, path)

    def ensure_bucket(self) -> None:
        """Create the root's bucket (S3) or folder (local) when missing.

        Raises:
            ObjectStoreError: the server cannot be reached or refuses, with the endpoint named.
        """
        if self.scheme == "file":
            self.makedirs(self._root_path)
            return
        bucket = self._root_path.split("/", 1)[0]
        try:
            info = self.fs.get_file_info(bucket)
            if info.type == pafs.FileType.NotFound:
                self.fs.create_dir(bucket)
        except OSError as exc:
            where = self._s3.endpoint_url or "AWS S3"
            raise ObjectStoreError(
                f"S3 at {where} is unreachable for bucket {bucket!r}: {_one_line(exc)}"
            ) from exc

    def check_reachable(self) -> None:
        """Raise :class:`ObjectStoreError` with one line when the store cannot be listed."""
        try:
            self.fs.get_file_info(pafs.FileSelector(self._root_path, allow_not_found=True))
        except OSError as exc:
            where = (self._s3.endpoint_url or "AWS S3") if self.scheme == "s3" else self.root_uri
            raise ObjectStoreError(
                f"object store {self.root_uri} is unreachable ({where}): {_one_line(exc)}"
            ) from None


class HashingWriter(io.RawIOBase):
    """A write-only file object that forwards bytes to a stream and hashes them on the way."""

    def __init__(self, stream: pa.NativeFile) -> None:
        import hashlib

        super().__init__()
        self._stream = stream
        self._hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        self._hash.update(view)
        self._stream.write(view)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        return self.size

    def hexdigest(self) -> str:
        return self._hash.hexdigest()
