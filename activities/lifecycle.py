"""Activities that change or list what an index holds: sync's prune, documents, collections.

They run on the workflow worker, next to the store (the embedded store lives in that process).
Every one is idempotent: deleting what is already gone removes nothing, so a retried or
restarted activity ends in the same state.

Example::

    acts = LifecycleActivities(settings)
    Worker(client, task_queue=..., activities=acts.all())
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ragstate.activities.qdrant import renormalise_bm25
from ragstate.contracts import Activity, ErrorType
from ragstate.ingest.discovery import discover
from ragstate.ingest.documents import JSONL_SUFFIXES
from ragstate.models import (
    CollectionList,
    CollectionRequest,
    DeleteDocumentsRequest,
    DeleteResult,
    DocumentChunk,
    DocumentList,
    DocumentSummary,
    DropResult,
    ListDocumentsRequest,
    PruneInput,
)
from ragstate.settings import Settings
from ragstate.store import (
    ChunkStore,
    check_collection_name,
    drop_collection,
    list_collections,
    open_store,
    source_under,
)
from ragstate.store.records import visible

#: Documents deleted per store call; a heartbeat after each records how many went so far.
DELETE_SLICE = 256
#: Discovery's batch size when only the list of files matters (a .jsonl stays one unit).
_WHOLE_FILES = 1_000_000


def _resolved(paths: list[str]) -> list[str]:
    """Paths as their stored sources are written: absolute, every symbolic link resolved."""
    return [str(Path(p).expanduser().resolve()) for p in paths]


def _jsonl_ids(path: str) -> set[str]:
    """The ``_id`` of every record of a BEIR .jsonl file now (a line that is not JSON has none)."""
    ids: set[str] = set()
    with open(path, "rb") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "_id" in record:
                ids.add(str(record["_id"]))
    return ids


def present_documents(paths: list[str], roots: list[str] | None) -> tuple[set[str], dict[str, set[str]]]:
    """What an ingest of ``paths`` finds on disk now: the source of every file, and for each
    .jsonl file the doc ids of its records."""
    batches, _, _ = discover(paths, _WHOLE_FILES, roots=roots)
    sources = {ref.path for batch in batches for ref in batch}
    return sources, {s: _jsonl_ids(s) for s in sources if Path(s).suffix.lower() in JSONL_SUFFIXES}


def documents_under(store: ChunkStore, roots: list[str]) -> list:
    """The store's documents whose source is one of ``roots`` or lies in one of those folders."""
    found = {}
    for root in roots:
        for doc in store.list_documents(root):
            if source_under(doc.source, root):
                found[doc.doc_id] = doc
    return list(found.values())


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type=ErrorType.INVALID_REQUEST, non_retryable=True)


class LifecycleActivities:
    def __init__(self, settings: Settings):
        self.settings = settings

    def all(self) -> list[Callable]:
        """Every activity of this class: what the workflow worker registers."""
        return [
            self.prune_documents,
            self.list_documents,
            self.delete_documents,
            self.list_collections,
            self.drop_collection,
        ]

    def _store(self, collection: str | None) -> ChunkStore:
        name = collection or self.settings.collection
        try:
            check_collection_name(name)
        except ValueError as e:
            raise _invalid(str(e)) from None
        return open_store(self.settings, name)

    def _delete(self, store: ChunkStore, collection: str | None, doc_ids: list[str]) -> DeleteResult:
        """Delete these documents a slice at a time. A retried attempt starts from the count its
        predecessor heartbeat (the documents it removed are gone and are not found again), so
        the total stays right across a worker crash, within one slice."""
        documents = chunks = 0
        if activity.in_activity() and activity.info().heartbeat_details:
            documents, chunks = activity.info().heartbeat_details[0]
        for start in range(0, len(doc_ids), DELETE_SLICE):
            n_docs, n_chunks = store.delete_documents(doc_ids=doc_ids[start : start + DELETE_SLICE])
            documents, chunks = documents + n_docs, chunks + n_chunks
            if activity.in_activity():
                activity.heartbeat((documents, chunks))
        if chunks:  # the average length BM25 normalises by moved with what went
            renormalise_bm25(self.settings, store)
        return DeleteResult(collection=collection or self.settings.collection, documents=documents, chunks=chunks)

    @activity.defn(name=Activity.PRUNE_DOCUMENTS)
    def prune_documents(self, inp: PruneInput) -> DeleteResult:
        """Sync's last step: delete the documents under the ingested paths that are not there now
        (a vanished file; a record gone from a .jsonl file). Re-run, it finds nothing more."""
        store = self._store(inp.collection)
        allowed = _resolved(inp.roots) if inp.roots is not None else None
        roots = [r for r in _resolved(inp.paths) if allowed is None or any(source_under(r, a) for a in allowed)]
        sources, jsonl_ids = present_documents(inp.paths, inp.roots)
        gone = [
            d.doc_id
            for d in documents_under(store, roots)
            if d.source not in sources or (d.source in jsonl_ids and d.doc_id not in jsonl_ids[d.source])
        ]
        return self._delete(store, inp.collection, gone)

    @activity.defn(name=Activity.DELETE_DOCUMENTS)
    def delete_documents(self, req: DeleteDocumentsRequest) -> DeleteResult:
        """Documents by id, by source file or by folder (every document under it)."""
        store = self._store(req.collection)
        doc_ids = set(req.doc_ids) | {d.doc_id for d in documents_under(store, req.sources)}
        return self._delete(store, req.collection, sorted(doc_ids))

    @activity.defn(name=Activity.LIST_DOCUMENTS)
    def list_documents(self, req: ListDocumentsRequest) -> DocumentList:
        """The documents (by source prefix, by id), each with its chunks' text when asked
        (``with_chunks``: a document read through the MCP server; ``chunk_ids``: search hits)."""
        store = self._store(req.collection)
        docs = store.list_documents(req.source_prefix)
        if req.doc_ids is not None:
            ids = set(req.doc_ids)
            docs = [d for d in docs if d.doc_id in ids]
        if req.access_groups is not None:  # a caller lists (and reads) only what it may find
            docs = [d for d in docs if visible(d.groups, req.access_groups)]
        listed = [DocumentSummary(**dataclasses.asdict(d)) for d in docs[: req.limit]]
        if req.with_chunks:
            wanted = set(req.chunk_ids) if req.chunk_ids is not None else None
            for d in listed:
                chunks = store.chunks_of(d.doc_id, d.version)
                d.content = [
                    DocumentChunk(chunk_id=c.chunk_id, position=c.position, text=c.text)
                    for c in chunks
                    if wanted is None or c.chunk_id in wanted
                ]
        return DocumentList(collection=req.collection or self.settings.collection, total=len(docs), documents=listed)

    @activity.defn(name=Activity.LIST_COLLECTIONS)
    def list_collections(self, req: CollectionRequest) -> CollectionList:
        return CollectionList(backend=self.settings.store_backend.value, collections=list_collections(self.settings))

    @activity.defn(name=Activity.DROP_COLLECTION)
    def drop_collection(self, req: CollectionRequest) -> DropResult:
        name = req.collection or self.settings.collection
        try:
            return DropResult(collection=name, dropped=drop_collection(self.settings, name))
        except ValueError as e:
            raise _invalid(str(e)) from None
