"""Finding the ingested tables of a schema in a folder (the ``pq materialize`` CLI's ``--tables``)."""

from __future__ import annotations

from typing import Iterable

from platform_core.artifacts import MANIFEST_NAME, ArtifactError, ArtifactStore
from platform_core.object_store import ObjectNotFoundError, ObjectStore


def tables_in_folder(store: ObjectStore, folder: str, names: Iterable[str]) -> dict[str, str]:
    """Ingested table artifacts in a folder with one sub-folder per table.

    ``<folder>/<name>`` is used when it is a committed artifact; otherwise the most recently created
    committed artifact directly under it (ingestion's default layout ``tables/<name>/v<hash>``).

    Args:
        store: the object store.
        folder: the folder (URI or key under the store's root).
        names: the table names to look for.

    Returns:
        Name -> artifact URI for each name found (missing names are left out).
    """
    artifacts = ArtifactStore(store)
    base = (folder if "://" in folder else store.uri(folder)).rstrip("/")
    found: dict[str, str] = {}
    for name in names:
        uri = f"{base}/{name}"
        if artifacts.find(uri) is not None:
            found[name] = uri
            continue
        newest: tuple[str, str] | None = None
        try:
            listed = store.list(uri, recursive=True)
        except ObjectNotFoundError:
            continue
        for file_uri in listed:
            relative = file_uri[len(uri) + 1:]
            if relative.count("/") != 1 or not relative.endswith("/" + MANIFEST_NAME):
                continue
            candidate = file_uri[: -len(MANIFEST_NAME) - 1]
            try:
                created = artifacts.open(candidate).manifest.created_at
            except ArtifactError:
                continue
            if newest is None or (created, candidate) > newest:
                newest = (created, candidate)
        if newest is not None:
            found[name] = newest[1]
    return found
