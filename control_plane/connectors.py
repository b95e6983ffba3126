"""Connectors: where source files live (a local folder or an S3 prefix), and how to reach them.

A connector stores a *reference* to its credentials, never the credentials: ``env:PREFIX`` means the
variables ``PREFIX_ACCESS_KEY_ID`` and ``PREFIX_SECRET_ACCESS_KEY`` of the process that reads the files
(the API, the workers). Without a reference, the platform's own S3 settings (``PQ_S3_*``) apply.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow.fs as pafs

from control_plane.db.models import Connector, ConnectorKind
from platform_core.errors import UserFacingError
from platform_core.object_store import ObjectStore, S3Options, translate_errors
from platform_core.settings import ENV_PREFIX, Settings

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ENV_REF = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)$")


class ConnectorError(UserFacingError, ValueError):
    """A connector URI, path or credentials reference that cannot be used; the message says why."""


@dataclass(frozen=True)
class ConnectorFile:
    """A file under a connector: its URI, its path relative to the connector's root, its size."""

    uri: str
    path: str
    size: int | None


def parse_connector_uri(uri: str) -> tuple[ConnectorKind, str]:
    """Check a connector URI and put it in canonical form.

    Args:
        uri: ``file:///abs/folder``, an absolute local path, or ``s3://bucket[/prefix]``.

    Returns:
        The kind and the canonical URI (``file:///...`` of an existing folder, or ``s3://bucket/prefix``
        without a trailing slash).

    Raises:
        ConnectorError: another scheme, a relative path, a missing local folder or an invalid bucket name.
    """
    uri = uri.strip()
    if uri.startswith("s3://"):
        parsed = urlparse(uri)
        bucket = parsed.netloc
        if not _BUCKET.match(bucket):
            raise ConnectorError(f"{uri}: {bucket!r} is not a valid S3 bucket name (3-63 lower-case letters, "
                                 "digits, dots and hyphens)")
        prefix = _clean_relative(parsed.path.strip("/"), uri) if parsed.path.strip("/") else ""
        return ConnectorKind.S3, f"s3://{bucket}/{prefix}".rstrip("/")
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise ConnectorError(f"{uri}: a file:// URI names a local folder (file:///abs/path), not a host")
        path = Path(unquote(parsed.path))
    elif "://" in uri:
        raise ConnectorError(f"{uri}: unsupported scheme (expected file:///folder, /abs/folder or s3://bucket/prefix)")
    else:
        path = Path(uri).expanduser()
        if not path.is_absolute():
            raise ConnectorError(f"{uri}: a local folder must be given as an absolute path")
    if ".." in path.parts:
        raise ConnectorError(f"{uri}: the path must not contain '..'")
    if not path.is_dir():
        raise ConnectorError(f"{uri}: there is no folder {path}")
    return ConnectorKind.LOCAL, path.resolve().as_uri()


def check_connector_root(uri: str, roots: Sequence[Path]) -> None:
    """Check that a canonical local connector URI lies under one of the allowed folders.

    Args:
        uri: a canonical ``file:///`` URI (from :func:`parse_connector_uri`; symbolic links resolved).
        roots: the allowed folders (``PQ_CONNECTOR_ROOTS``, resolved); empty allows any folder.

    Raises:
        ConnectorError: the folder is outside every root.
    """
    if not roots or not uri.startswith("file://"):
        return
    path = Path(unquote(urlparse(uri).path))
    if not any(path == root or root in path.parents for root in roots):
        raise ConnectorError(f"{path} is outside the folders local connectors may read "
                             f"({', '.join(str(r) for r in roots)}; see PQ_CONNECTOR_ROOTS)")


def check_credentials_ref(ref: str | None) -> None:
    """Check a credentials reference (``env:PREFIX``).

    Raises:
        ConnectorError: not of the form ``env:PREFIX``, or a prefix in the platform's own ``PQ_`` namespace.
    """
    if ref is None:
        return
    match = _ENV_REF.match(ref)
    if match is None:
        raise ConnectorError(f"credentials reference {ref!r}: expected env:PREFIX (the name of environment "
                             "variables, never the secret itself)")
    if match.group(1).upper().startswith(ENV_PREFIX):
        raise ConnectorError(f"credentials reference {ref!r}: {ENV_PREFIX}* variables are the platform's "
                             "settings; choose another prefix")


def _clean_relative(path: str, where: str) -> str:
    parts = [part for part in path.replace("\\", "/").split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ConnectorError(f"{where}: the path must not contain '..'")
    return "/".join(parts)


def source_uri(connector: Connector, path: str) -> str:
    """The URI of ``path`` under the connector.

    Raises:
        ConnectorError: an absolute path or one that climbs out of the connector with ``..``.
    """
    if path.startswith("/") or "://" in path:
        raise ConnectorError(f"path {path!r}: give a path relative to the connector's root {connector.uri}")
    relative = _clean_relative(path, f"path {path!r}")
    return f"{connector.uri}/{relative}" if relative else connector.uri


def s3_options(connector: Connector, settings: Settings, environ: Mapping[str, str] | None = None) -> S3Options:
    """How to reach the S3 server of a connector, credentials resolved from its reference.

    Raises:
        ConnectorError: the reference names variables that are not set.
    """
    environ = os.environ if environ is None else environ
    endpoint = connector.endpoint_url or settings.s3_endpoint_url
    region = connector.region or settings.s3_region
    ref = connector.credentials_ref
    if ref is None:
        return S3Options(endpoint_url=endpoint, access_key_id=settings.s3_access_key_id,
                         secret_access_key=settings.s3_secret_access_key, region=region)
    check_credentials_ref(ref)
    prefix = ref.removeprefix("env:")
    names = (f"{prefix}_ACCESS_KEY_ID", f"{prefix}_SECRET_ACCESS_KEY")
    missing = [name for name in names if not environ.get(name)]
    if missing:
        raise ConnectorError(f"connector {connector.name}: credentials reference {ref} needs the variable(s) "
                             f"{', '.join(missing)} in the environment of the API and the workers")
    return S3Options(endpoint_url=endpoint, access_key_id=environ[names[0]], secret_access_key=environ[names[1]],
                     region=region)


def connector_store(connector: Connector, settings: Settings) -> ObjectStore:
    """An object store rooted at the connector's URI.

    Raises:
        ConnectorError: its credentials reference cannot be resolved, or its folder is outside
            ``PQ_CONNECTOR_ROOTS`` (set after it was made).
    """
    if connector.kind == ConnectorKind.S3.value:
        return ObjectStore(connector.uri, s3=s3_options(connector, settings))
    check_connector_root(connector.uri, settings.connector_roots)
    return ObjectStore(connector.uri)


def list_files(connector: Connector, settings: Settings, prefix: str = "", *, recursive: bool = True) -> list[ConnectorFile]:
    """The files under the connector (or under ``prefix`` inside it), sorted by path.

    Raises:
        ConnectorError: a bad prefix or unresolvable credentials.
        platform_core.object_store.ObjectStoreError: the store cannot be reached.
    """
    store = connector_store(connector, settings)
    relative = _clean_relative(prefix, f"prefix {prefix!r}") if prefix else ""
    root = store.path(connector.uri)
    selector = pafs.FileSelector(store.path(source_uri(connector, relative)), recursive=recursive,
                                 allow_not_found=True)
    with translate_errors("list", connector.uri):
        infos = store.fs.get_file_info(selector)
    files = []
    for info in infos:
        if info.type != pafs.FileType.File:
            continue
        uri = Path(info.path).as_uri() if store.scheme == "file" else f"s3://{info.path}"
        files.append(ConnectorFile(uri=uri, path=posixpath.relpath(info.path, root), size=info.size))
    return sorted(files, key=lambda f: f.path)


def path_exists(connector: Connector, settings: Settings, path: str) -> bool:
    """Whether a file or folder exists at ``path`` under the connector.

    Raises:
        ConnectorError: a bad path or unresolvable credentials.
        platform_core.object_store.ObjectStoreError: the store cannot be reached.
    """
    return connector_store(connector, settings).exists(source_uri(connector, path))
