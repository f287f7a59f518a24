"""Index calls of :class:`~ragstate.client.RagClient`: statistics, documents and collections,
each through its lifecycle workflow."""

from __future__ import annotations

import os
from datetime import timedelta

from pydantic import BaseModel

from ragstate.client.base import ClientBase, T, absolute_paths
from ragstate.contracts import Workflow
from ragstate.models import (
    CollectionList,
    CollectionRequest,
    DeleteDocumentsRequest,
    DeleteResult,
    DocumentList,
    DropResult,
    ListDocumentsRequest,
    StatsRequest,
    StoreStats,
)


class IndexCalls(ClientBase):
    async def stats(self, collection: str | None = None) -> StoreStats:
        import uuid

        collection = self.collection_name(collection)
        return await self.client.execute_workflow(
            Workflow.STATS,
            StatsRequest(collection=collection),
            result_type=StoreStats,
            id=f"rag-stats-{uuid.uuid4().hex[:8]}",
            task_queue=self.settings.workflow_task_queue,
            execution_timeout=timedelta(seconds=60),
        )

    async def _lifecycle(
        self,
        workflow_type: str,
        request: BaseModel,
        result_type: type[T],
        kind: str,
        run_timeout: timedelta = timedelta(hours=1),
    ) -> T:
        import uuid

        if self.tenancy is not None and hasattr(request, "collection"):  # the tenant's namespace
            request = request.model_copy(update={"collection": self.collection_name(request.collection)})
        if self.tenancy is not None and hasattr(request, "access_groups"):  # only what the caller may read
            request = request.model_copy(update={"access_groups": self.tenancy.access_groups})
        return await self.client.execute_workflow(
            workflow_type,
            request,
            result_type=result_type,
            id=f"rag-{kind}-{uuid.uuid4().hex[:8]}",
            task_queue=self.settings.workflow_task_queue,
            execution_timeout=run_timeout,
            memo=self._memo(),
        )

    async def documents(
        self,
        source_prefix: str | None = None,
        collection: str | None = None,
        limit: int = 1000,
        *,
        doc_ids: list[str] | None = None,
        with_chunks: bool = False,
        chunk_ids: list[str] | None = None,
    ) -> DocumentList:
        """The collection's documents (id, title, source, chunks, version, ingested-at), by source;
        ``source_prefix`` a path prefix (made absolute, like ingest's paths); ``doc_ids`` only
        these; ``with_chunks`` each with its chunks' text (``content``), only ``chunk_ids`` if given."""
        if source_prefix:
            keep_slash = source_prefix.endswith(("/", os.sep))  # "docs/" means the folder, not docs-old/
            absolute = absolute_paths([source_prefix])[0]
            # join, not +: the root "/" is already a folder ("//" would match no source at all)
            source_prefix = os.path.join(absolute, "") if keep_slash else absolute
        request = ListDocumentsRequest(
            collection=collection,
            source_prefix=source_prefix,
            limit=limit,
            doc_ids=doc_ids,
            with_chunks=with_chunks,
            chunk_ids=chunk_ids,
        )
        return await self._lifecycle(Workflow.LIST_DOCUMENTS, request, DocumentList, "documents")

    async def delete_documents(self, ids_or_paths: list[str], collection: str | None = None) -> DeleteResult:
        """Delete documents by doc id, source file or folder (everything under it). Each item is
        tried as a doc id as given and, when it looks like a path (a separator, a leading ``.`` or ``~``,
        a file extension), also as that path made absolute."""
        paths = [p for p in ids_or_paths if os.sep in p or p.startswith((".", "~")) or "." in p]
        request = DeleteDocumentsRequest(
            collection=collection, doc_ids=list(ids_or_paths), sources=absolute_paths(paths)
        )
        self.check_size(request, "the delete request")
        return await self._lifecycle(Workflow.DELETE_DOCUMENTS, request, DeleteResult, "delete")

    async def collections(self) -> CollectionList:
        """The store backend's collections (a tenant's: those of its namespace, by its own names)."""
        found = await self._lifecycle(Workflow.LIST_COLLECTIONS, CollectionRequest(), CollectionList, "collections")
        if self.tenancy is None:
            return found
        own = [c for c in found.collections if self._own_collection(c)]
        return found.model_copy(update={"collections": [self.tenant_collection(c) for c in own]})

    async def drop_collection(self, name: str) -> DropResult:
        """Delete a collection and every chunk in it; ``dropped`` is False when there was none."""
        return await self._lifecycle(Workflow.DROP_COLLECTION, CollectionRequest(collection=name), DropResult, "drop")

    async def delete_document_ids(self, doc_ids: list[str], collection: str | None = None) -> DeleteResult:
        """Delete exactly these doc ids (never read as paths: the gateway's ``DELETE /v1/documents/{id}``)."""
        request = DeleteDocumentsRequest(collection=collection, doc_ids=list(doc_ids))
        self.check_size(request, "the delete request")
        return await self._lifecycle(Workflow.DELETE_DOCUMENTS, request, DeleteResult, "delete")
