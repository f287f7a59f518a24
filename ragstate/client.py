"""A small typed client: connect, ingest and ask, returning pydantic models.

Example::

    import asyncio
    from ragstate import RagClient

    async def main():
        rag = await RagClient.connect()                  # settings from RAGSTATE_* env
        await rag.ingest(["examples/corpus"])
        answer = await rag.ask("What does reciprocal rank fusion do?")
        print(answer.answer, [c.title for c in answer.citations])

    asyncio.run(main())
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import (
    SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy,
)
from temporalio.service import RPCError

from ragstate.conventions import RAG_KIND, RAG_STATUS, ingest_workflow_id, query_workflow_id
from ragstate.models import IngestProgress, IngestRequest, IngestResult, RagAnswer, RagQuery, StatsRequest, StoreStats
from ragstate.settings import Settings
from ragstate.temporal import connect, ui_link


class RagError(Exception):
    """A workflow failed; ``workflow_id`` says which run to inspect in the UI."""

    def __init__(self, message: str, workflow_id: str, kind: str | None = None):
        super().__init__(message)
        self.workflow_id = workflow_id
        self.kind = kind


class InvalidQueryError(RagError):
    """ParseQuery refused the question (empty, too long, control characters, bad options)."""


def _root_failure(err: BaseException) -> BaseException:
    while getattr(err, "cause", None) is not None:
        err = err.cause
    return err


class RagClient:
    def __init__(self, client: Client, settings: Settings):
        self.client = client
        self.settings = settings
        self._search_attributes: bool | None = None

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> "RagClient":
        settings = settings or Settings()
        return cls(await connect(settings), settings)

    def ui_link(self, workflow_id: str, run_id: str | None = None) -> str:
        return ui_link(self.settings, workflow_id, run_id, self.client.namespace)

    async def _attributes(self, kind: str) -> TypedSearchAttributes | None:
        """RagKind/RagStatus when the namespace has them registered, else None (with no cost
        beyond one lookup per client)."""
        if self._search_attributes is None:
            from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

            try:
                resp = await self.client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=self.client.namespace))
                self._search_attributes = RAG_KIND.name in resp.custom_attributes
            except RPCError:
                self._search_attributes = False  # e.g. Temporal Cloud API key without operator rights
        if not self._search_attributes:
            return None
        return TypedSearchAttributes([SearchAttributePair(RAG_KIND, kind), SearchAttributePair(RAG_STATUS, "running")])

    async def start_query(self, query: RagQuery | str, workflow_id: str | None = None) -> WorkflowHandle:
        query = RagQuery(question=query) if isinstance(query, str) else query
        from workflows.query import RagQueryWorkflow

        return await self.client.start_workflow(
            RagQueryWorkflow.run, query, id=workflow_id or query_workflow_id(query.question),
            task_queue=self.settings.workflow_task_queue, search_attributes=await self._attributes("query"),
            static_summary=f"Q: {query.question[:200]}", execution_timeout=timedelta(minutes=15),
            request_eager_start=True)

    async def ask(self, query: RagQuery | str, workflow_id: str | None = None) -> RagAnswer:
        """Run the query workflow and wait for its answer; :class:`InvalidQueryError` for bad input."""
        handle = await self.start_query(query, workflow_id)
        try:
            return await handle.result()
        except WorkflowFailureError as e:
            root = _root_failure(e)
            kind = getattr(root, "type", None)
            cls = InvalidQueryError if kind == "InvalidQuery" else RagError
            raise cls(getattr(root, "message", str(root)), handle.id, kind) from e

    async def start_ingest(self, request: IngestRequest | list[str]) -> WorkflowHandle:
        from workflows.ingest import IngestWorkflow

        request = IngestRequest(paths=request) if isinstance(request, list) else request
        collection = request.collection or self.settings.collection
        return await self.client.start_workflow(
            IngestWorkflow.run, request, id=ingest_workflow_id(request.paths, collection),
            task_queue=self.settings.workflow_task_queue, search_attributes=await self._attributes("ingest"),
            static_summary=f"ingest {', '.join(request.paths)[:200]}",
            # The same ingest started twice (a retried CLI call, a duplicate event) joins the running
            # one; after it closed, a new run starts (re-ingesting is idempotent).
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE)

    async def ingest(self, request: IngestRequest | list[str]) -> IngestResult:
        handle = await self.start_ingest(request)
        return await handle.result()

    async def ingest_progress(self, workflow_id: str) -> IngestProgress:
        from workflows.ingest import IngestWorkflow

        return await self.client.get_workflow_handle(workflow_id).query(IngestWorkflow.progress)

    async def stats(self, collection: str | None = None) -> StoreStats:
        import uuid

        from workflows.stats import StoreStatsWorkflow

        return await self.client.execute_workflow(
            StoreStatsWorkflow.run, StatsRequest(collection=collection), id=f"rag-stats-{uuid.uuid4().hex[:8]}",
            task_queue=self.settings.workflow_task_queue, execution_timeout=timedelta(seconds=60))
