"""Chunk stores: one interface (:class:`ChunkStore`), two backends.

``open_store(settings, collection)`` returns the process-wide store for a collection, opened
once and reused by every activity in the worker.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ragstate.settings import Settings, StoreBackend
from ragstate.store.base import ChunkRecord, ChunkStore, SearchFilter, StoreCounts, StoredChunk, chunk_id

__all__ = [
    "ChunkRecord",
    "ChunkStore",
    "SearchFilter",
    "StoreCounts",
    "StoredChunk",
    "chunk_id",
    "close_stores",
    "open_store",
]

_stores: dict[tuple, ChunkStore] = {}
if TYPE_CHECKING:
    from qdrant_client import QdrantClient

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


def open_store(settings: Settings, collection: str | None = None) -> ChunkStore:
    collection = collection or settings.collection
    key = _key(settings, collection)
    with _lock:
        store = _stores.get(key)
        if store is None:
            if settings.store_backend is StoreBackend.edge:
                from ragstate.store.edge import EdgeStore

                store = EdgeStore(settings.data_dir / "qdrant-edge" / collection, dim=settings.embedding_dim)
            else:
                from ragstate.store.qdrant_server import QdrantServerStore, connect

                where = key[2:4]
                client = _qdrant_clients.get(where)
                if client is None:
                    api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
                    client = _qdrant_clients[where] = connect(
                        settings.qdrant_url, api_key, str(settings.qdrant_path) if settings.qdrant_path else None
                    )
                store = QdrantServerStore(client, collection, dim=settings.embedding_dim)
            _stores[key] = store
        return store


def close_stores() -> None:
    with _lock:
        for store in _stores.values():
            store.close()
        for client in _qdrant_clients.values():
            client.close()
        _stores.clear()
        _qdrant_clients.clear()
