"""Chunk stores: one interface (:class:`ChunkStore`), two backends.

``open_store(settings, collection)`` returns the process-wide store for a collection, opened
once and reused by every activity in the worker. ``list_collections(settings)`` and
``drop_collection(settings, name)`` work on whichever backend the settings name.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

from ragstate.settings import Settings, StoreBackend
from ragstate.store.base import (
    ChunkRecord,
    ChunkStore,
    DocumentInfo,
    SearchFilter,
    StoreCounts,
    StoredChunk,
    chunk_id,
    source_under,
)

__all__ = [
    "ChunkRecord",
    "ChunkStore",
    "DocumentInfo",
    "SearchFilter",
    "StoreCounts",
    "StoredChunk",
    "check_collection_name",
    "chunk_id",
    "close_stores",
    "drop_collection",
    "list_collections",
    "open_store",
    "source_under",
]

_stores: dict[tuple, ChunkStore] = {}
if TYPE_CHECKING:
    from qdrant_client import QdrantClient

_qdrant_clients: dict[tuple, QdrantClient] = {}  # one connection (or local-mode lock) per location
_lock = threading.Lock()
#: A collection name is a folder of the embedded store: no separators, no "..", no hidden names.
_COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_collection_name(name: str) -> str:
    """``name`` if it can name a collection on every backend, else ValueError saying why."""
    if not _COLLECTION_NAME.fullmatch(name or ""):
        raise ValueError(
            f"invalid collection name {name!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def _key(settings: Settings, collection: str) -> tuple:
    return (
        settings.store_backend,
        str(settings.data_dir.resolve()),
        settings.qdrant_url,
        str(settings.qdrant_path),
        collection,
    )


def open_store(settings: Settings, collection: str | None = None) -> ChunkStore:
    """The store of ``collection`` (settings.collection when None): of the version it points at,
    after a re-index (:mod:`ragstate.store.versions`)."""
    collection = collection or settings.collection
    if settings.store_backend is StoreBackend.edge:
        from ragstate.store.versions import edge_target

        # One small read per call, so a switch is seen by the next activity; a Qdrant server
        # resolves its aliases itself.
        collection = edge_target(settings.data_dir / "qdrant-edge", collection)
    key = _key(settings, collection)
    with _lock:
        store = _stores.get(key)
        if store is None:
            if settings.store_backend is StoreBackend.edge:
                from ragstate.store.edge import EdgeStore

                store = EdgeStore(settings.data_dir / "qdrant-edge" / collection, dim=settings.embedding_dim)
            else:
                from ragstate.store.qdrant_server import QdrantServerStore

                store = QdrantServerStore(_qdrant_client(settings), collection, dim=settings.embedding_dim)
            _stores[key] = store
        return store


def _qdrant_client(settings: Settings) -> QdrantClient:
    """The process's one connection to the settings' Qdrant (server or local-mode folder)."""
    from ragstate.store.qdrant_server import connect

    where = _key(settings, "")[2:4]
    client = _qdrant_clients.get(where)
    if client is None:
        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        client = _qdrant_clients[where] = connect(
            settings.qdrant_url, api_key, str(settings.qdrant_path) if settings.qdrant_path else None
        )
    return client


def list_collections(settings: Settings) -> list[str]:
    """The collections of the settings' backend, by name.

    Example::

        list_collections(Settings())   # -> ["ragstate", "scifact"]
    """
    with _lock:
        if settings.store_backend is StoreBackend.edge:
            from ragstate.store.edge import collection_names

            return collection_names(settings.data_dir / "qdrant-edge")
        from ragstate.store.qdrant_server import collection_names as server_collection_names

        return server_collection_names(_qdrant_client(settings))


def drop_collection(settings: Settings, name: str) -> bool:
    """Delete a collection with every chunk in it (closing it first if this process has it
    open); False when there was none. ValueError for a name no collection can have. A name a
    re-index made a pointer loses the pointer and the version it points at.

    Example::

        drop_collection(Settings(), "scratch")   # -> True
    """
    check_collection_name(name)
    from ragstate.store.versions import remove_pointer

    target = remove_pointer(settings, name)
    if target != name:
        return drop_physical(settings, target)
    return drop_physical(settings, name)


def drop_physical(settings: Settings, name: str) -> bool:
    """Delete one physical collection (no pointer is followed); False when there was none."""
    with _lock:
        store = _stores.pop(_key(settings, name), None)
        if store is not None:
            store.close()
        if settings.store_backend is StoreBackend.edge:
            from ragstate.store.edge import remove_collection

            return remove_collection(settings.data_dir / "qdrant-edge", name)
        from ragstate.store.qdrant_server import remove_collection as remove_server_collection

        return remove_server_collection(_qdrant_client(settings), name)


def close_stores() -> None:
    with _lock:
        for store in _stores.values():
            store.close()
        for client in _qdrant_clients.values():
            client.close()
        _stores.clear()
        _qdrant_clients.clear()
