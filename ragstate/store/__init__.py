"""Chunk stores: one interface (:class:`ChunkStore`), two backends.

``open_store(settings, collection)`` returns the process-wide store for a collection, opened
once and reused by every activity in the worker. ``list_collections(settings)`` and
``drop_collection(settings, name)`` work on whichever backend the settings name.
"""

from __future__ import annotations

from ragstate.models.names import check_collection_name
from ragstate.settings import Settings, StoreBackend
from ragstate.store.answer_cache import forget
from ragstate.store.base import ChunkStore
from ragstate.store.records import (
    ChunkRecord,
    DocumentInfo,
    SearchFilter,
    StoreCounts,
    StoredChunk,
    chunk_id,
    source_under,
)
from ragstate.store.registry import close_stores, drop_physical, list_collections, open_physical
from ragstate.store.versions import edge_target, remove_pointer

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


def open_store(settings: Settings, collection: str | None = None) -> ChunkStore:
    """The store of ``collection`` (settings.collection when None): of the version it points at,
    after a re-index (:mod:`ragstate.store.versions`)."""
    collection = collection or settings.collection
    if settings.store_backend is StoreBackend.edge:
        # One small read per call, so a switch is seen by the next activity; a Qdrant server
        # resolves its aliases itself.
        collection = edge_target(settings.data_dir / "qdrant-edge", collection)
    return open_physical(settings, collection)


def drop_collection(settings: Settings, name: str) -> bool:
    """Delete a collection with every chunk in it (closing it first if this process has it
    open); False when there was none. ValueError for a name no collection can have. A name a
    re-index made a pointer loses the pointer and the version it points at.

    Example::

        drop_collection(Settings(), "scratch")   # -> True
    """
    check_collection_name(name)
    target = remove_pointer(settings, name)
    forget(settings, target)  # its cached answers go with it
    if target != name:
        return drop_physical(settings, target)
    return drop_physical(settings, name)
