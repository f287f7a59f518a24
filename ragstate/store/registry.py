"""The process's open stores and Qdrant connections: each collection is opened once per process
and shared by every activity of the worker. No pointer is followed here (:mod:`.versions` does
that), so the versions module can use the registry without importing the package."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ragstate.models.names import check_collection_name
from ragstate.settings import Settings, StoreBackend
from ragstate.store.base import ChunkStore
from ragstate.store.layout import StoreLayout

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

_stores: dict[tuple, ChunkStore] = {}
_qdrant_clients: dict[tuple, QdrantClient] = {}  # one connection (or local-mode lock) per location
_lock = threading.Lock()


def _key(settings: Settings, collection: str) -> tuple:
    return (
        settings.store_backend,
        str(settings.data_dir.resolve()),
        settings.qdrant_url,
        str(settings.qdrant_path),
        collection,
    )


def open_physical(settings: Settings, collection: str) -> ChunkStore:
    """The process-wide store of one physical collection (no pointer is followed), opened once.
    ValueError for a name no collection can have: the last check before it names a folder."""
    check_collection_name(collection)
    key = _key(settings, collection)
    with _lock:
        store = _stores.get(key)
        if store is None:
            if settings.store_backend is StoreBackend.edge:
                from ragstate.store.edge import EdgeStore

                store = EdgeStore(
                    settings.data_dir / "qdrant-edge" / collection,
                    dim=settings.embedding_dim,
                    layout=StoreLayout.from_settings(settings),
                )
            else:
                from ragstate.store.qdrant_server import QdrantServerStore

                store = QdrantServerStore(
                    qdrant_client(settings),
                    collection,
                    dim=settings.embedding_dim,
                    layout=StoreLayout.from_settings(settings),
                )
            _stores[key] = store
        return store


def qdrant_client(settings: Settings) -> QdrantClient:
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

        return server_collection_names(qdrant_client(settings))


def drop_physical(settings: Settings, name: str) -> bool:
    """Delete one physical collection (no pointer is followed); False when there was none.
    Callers also forget its cached answers (ragstate.store.answer_cache.forget)."""
    with _lock:
        store = _stores.pop(_key(settings, name), None)
        if store is not None:
            store.close()
        if settings.store_backend is StoreBackend.edge:
            from ragstate.store.edge import remove_collection

            return remove_collection(settings.data_dir / "qdrant-edge", name)
        from ragstate.store.qdrant_server import remove_collection as remove_server_collection

        return remove_server_collection(qdrant_client(settings), name)


def close_stores() -> None:
    with _lock:
        for store in _stores.values():
            store.close()
        for client in _qdrant_clients.values():
            client.close()
        _stores.clear()
        _qdrant_clients.clear()
