"""Index lifecycle workflows: every change to an index (and every look at it) runs as a workflow,
so it shows in the Temporal UI with its input and result, and runs on the worker that holds
the store (the embedded store lives inside the worker process).

Each is one activity on the workflow task queue:

- ``ListDocuments``: documents of a collection, optionally under a source prefix
- ``DeleteDocuments``: documents by id, source file or folder
- ``ListCollections``: the backend's collections
- ``DropCollection``: one collection with every chunk in it

Example::

    result = await client.execute_workflow(
        DeleteDocumentsWorkflow.run, DeleteDocumentsRequest(sources=["/data/old.md"]),
        id="rag-delete-1", task_queue="ragstate")
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from ragstate.contracts import Activity, Workflow
    from ragstate.models import (
        CollectionList,
        CollectionRequest,
        DeleteDocumentsRequest,
        DeleteResult,
        DocumentList,
        DropResult,
        ListDocumentsRequest,
    )

#: Deletes are idempotent, so retrying them is always safe; reads are retried the same way.
LIFECYCLE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=5,
)


async def _step(
    activity: str, arg: Any, result_type: type, summary: str, minutes: float = 2, heartbeats: bool = False
) -> Any:
    """One activity; one that heartbeats (a delete, a slice at a time) is noticed dead in 30 s."""
    return await workflow.execute_activity(
        activity,
        arg,
        result_type=result_type,
        start_to_close_timeout=timedelta(minutes=minutes),
        heartbeat_timeout=timedelta(seconds=30) if heartbeats else None,
        retry_policy=LIFECYCLE_RETRY,
        summary=summary,
    )


@workflow.defn(name=Workflow.LIST_DOCUMENTS)
class ListDocumentsWorkflow:
    @workflow.run
    async def run(self, req: ListDocumentsRequest) -> DocumentList:
        where = f" under {req.source_prefix}" if req.source_prefix else ""
        return await _step(Activity.LIST_DOCUMENTS, req, DocumentList, f"list documents{where}")


@workflow.defn(name=Workflow.DELETE_DOCUMENTS)
class DeleteDocumentsWorkflow:
    @workflow.run
    async def run(self, req: DeleteDocumentsRequest) -> DeleteResult:
        summary = f"delete {len(req.doc_ids)} doc ids, {len(req.sources)} sources"
        return await _step(Activity.DELETE_DOCUMENTS, req, DeleteResult, summary, minutes=30, heartbeats=True)


@workflow.defn(name=Workflow.LIST_COLLECTIONS)
class ListCollectionsWorkflow:
    @workflow.run
    async def run(self, req: CollectionRequest) -> CollectionList:
        return await _step(Activity.LIST_COLLECTIONS, req, CollectionList, "list collections")


@workflow.defn(name=Workflow.DROP_COLLECTION)
class DropCollectionWorkflow:
    @workflow.run
    async def run(self, req: CollectionRequest) -> DropResult:
        return await _step(Activity.DROP_COLLECTION, req, DropResult, f"drop collection {req.collection or ''}")


LIFECYCLE_WORKFLOWS = [ListDocumentsWorkflow, DeleteDocumentsWorkflow, ListCollectionsWorkflow, DropCollectionWorkflow]
