"""A small typed client: connect, ingest and ask, returning pydantic models.

Example::

    import asyncio
    from ragstate import RagClient

    async def main():
        rag = await RagClient.connect()                  # settings from RAGSTATE_* env
        await rag.ingest(["examples/corpus"])
        answer = await rag.ask("What does reciprocal rank fusion do?")
        print(answer.answer, [c.title for c in answer.citations])

        async for event in rag.ask_stream("What is BM25?"):   # steps, tokens, then final/error
            if event.type == "token":
                print(event.text, end="", flush=True)

    asyncio.run(main())

Without asyncio, :class:`SyncRagClient` offers the same calls, blocking.

Failures raise :class:`RagError` or its subclass for the failure's type:
:class:`InvalidQueryError` (``InvalidQuery``), :class:`RetrievalFailedError`
(``RetrievalFailed``), :class:`LLMUnavailableError` (``LLMUnavailable``: the API stayed
unreachable or overloaded through every retry) and its subclass :class:`LLMRateLimitedError`
(``LLMRateLimited``: it kept answering 429), :class:`LLMRejectedError` (``LLMRequestRejected``:
key, permission, model or request refused), :class:`RunNotFoundError` (no such run, or a run of
another kind). While a run is still retrying, :meth:`RagClient.llm_rate_limit` says whether its
LLM step is waiting out a rate limit, and for how long.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.service import RPCError, RPCStatusCode

from ragstate.contracts import RAG_KIND, RAG_STATUS, STREAM_TOPIC, ErrorType, Query, Workflow
from ragstate.errors import (
    InvalidQueryError,
    RequestTooLargeError,
    RunNotFoundError,
    error_for,
)
from ragstate.models import (
    CollectionList,
    CollectionRequest,
    DeleteDocumentsRequest,
    DeleteResult,
    DocumentList,
    DropResult,
    IngestProgress,
    IngestRequest,
    IngestResult,
    IngestStatus,
    ListDocumentsRequest,
    QueryStatus,
    RagAnswer,
    RagQuery,
    RateLimitWait,
    RunState,
    StatsRequest,
    StoreStats,
    StreamEvent,
    StreamEventType,
)
from ragstate.settings import Settings
from ragstate.temporal.connection import connect, ui_link
from ragstate.temporal.conventions import ingest_workflow_id, query_workflow_id
from ragstate.temporal.outage import server_unreachable, through_outage

T = TypeVar("T")


def absolute_paths(paths: list[str]) -> list[str]:
    """Paths as ingest names sources: absolute (from this process's working directory), ``~``
    expanded, links not resolved. ``absolute_paths(["docs/a.md"])`` -> ``["/home/me/docs/a.md"]``."""
    return [os.path.abspath(os.path.expanduser(p)) for p in paths]


def failure_of(err: BaseException) -> tuple[str, str | None]:
    """(message, type) of a workflow failure: the outermost ``ApplicationError`` whose type the
    client knows (e.g. the workflow's ``InvalidQuery``), else the innermost cause (an activity's
    ``LLMUnavailable``; cancellation, termination and timeouts by name)."""
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None:
        chain.append(current)
        current = getattr(current, "cause", None)
    for e in chain:
        if isinstance(e, ApplicationError) and e.type in ErrorType.ALL:
            return e.message, e.type
    root = chain[-1]
    if isinstance(root, ApplicationError):
        return root.message, root.type
    for cls, name in (
        (CancelledError, "Cancelled"),
        (TerminatedError, "Terminated"),
        (TemporalTimeoutError, "TimedOut"),
    ):
        if isinstance(root, cls):
            return getattr(root, "message", "") or name.lower(), name
    return getattr(root, "message", None) or str(root), type(root).__name__


#: How often a stream subscriber polls again after a batch when it has caught up (the contrib's
#: default is 100 ms). Each poll waits on the workflow for new events, so polls never outnumber
#: the batches published: this mostly bounds added latency.
STREAM_POLL_COOLDOWN = timedelta(milliseconds=50)
#: ``RagError.kind`` of :class:`RunNotFoundError`.
NOT_FOUND = "NotFound"
_CLOSED = {
    WorkflowExecutionStatus.COMPLETED,
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.CANCELED,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT,
}
#: What a run of each workflow type is called in messages.
_KIND_NAMES = {Workflow.QUERY: "query", Workflow.INGEST: "ingest"}


class RagClient:
    def __init__(self, client: Client, settings: Settings):
        self.client = client
        self.settings = settings
        self._search_attributes: bool | None = None

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> RagClient:
        settings = settings or Settings()
        return cls(await connect(settings), settings)

    @property
    def private(self) -> bool:
        """Payload encryption is on: workflow ids then carry no question or file name (summaries
        are payloads, encrypted with the rest)."""
        return self.settings.payload_key_spec() is not None

    async def pollers(self, task_queue: str, workflows: bool = False) -> int:
        """How many workers poll ``task_queue`` for activity tasks (``workflows``: workflow tasks)
        as the server saw them recently."""
        from temporalio.api.enums.v1 import TaskQueueType
        from temporalio.api.taskqueue.v1 import TaskQueue
        from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

        kind = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW if workflows else TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
        resp = await self.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self.client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind
            ),
            timeout=timedelta(seconds=5),
        )
        return len(resp.pollers)

    async def pollers_within(self, task_queue: str, within_s: float, workflows: bool = False) -> int:
        """:meth:`pollers`, asked again for up to ``within_s`` while there are none: a server
        that just restarted lists no poller until the workers' next poll reaches it."""
        deadline = time.monotonic() + within_s
        while True:
            count = await self.pollers(task_queue, workflows)
            if count or time.monotonic() >= deadline:
                return count
            await asyncio.sleep(0.5)

    def check_size(self, value: BaseModel, what: str) -> None:
        """:class:`RequestTooLargeError` when ``value`` would be a workflow input over the limit."""
        size = len(value.model_dump_json().encode())
        if size > self.settings.max_payload_bytes:
            raise RequestTooLargeError(
                f"{what} is {size} bytes as JSON; workflow inputs are limited to {self.settings.max_payload_bytes} "
                "bytes (RAGSTATE_MAX_PAYLOAD_BYTES, below Temporal's payload limit): send fewer or shorter items"
            )

    def query_id(self, question: str) -> str:
        """A new query workflow id (readable, or opaque when :attr:`private`)."""
        return query_workflow_id(question, self.private)

    def ingest_id(self, request: IngestRequest) -> str:
        """The ingest's workflow id: the same request gets the same id (joins a running ingest)."""
        return ingest_workflow_id(request.paths, request.collection or self.settings.collection, self.private)

    def ui_link(self, workflow_id: str, run_id: str | None = None) -> str:
        return ui_link(self.settings, workflow_id, run_id, self.client.namespace)

    async def _attributes(self, kind: str) -> TypedSearchAttributes | None:
        """RagKind/RagStatus when the namespace has them registered, else None (with no cost
        beyond one lookup per client)."""
        if self._search_attributes is None:
            from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

            try:
                resp = await self.client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=self.client.namespace)
                )
                self._search_attributes = RAG_KIND.name in resp.custom_attributes
            except RPCError:
                self._search_attributes = False  # e.g. Temporal Cloud API key without operator rights
        if not self._search_attributes:
            return None
        return TypedSearchAttributes([SearchAttributePair(RAG_KIND, kind), SearchAttributePair(RAG_STATUS, "running")])

    async def start_query(self, query: RagQuery | str, workflow_id: str | None = None) -> WorkflowHandle:
        query = RagQuery(question=query) if isinstance(query, str) else query
        if query.sources:  # compared with stored sources, which ingest writes as absolute paths
            query = query.model_copy(update={"sources": absolute_paths(query.sources)})
        try:  # lone surrogates (undecodable bytes from argv or a file) cannot travel as JSON
            query.question.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InvalidQueryError(
                f"the question is not valid UTF-8 text (undecodable byte at position {e.start}): "
                "decode it with the right encoding first",
                workflow_id or "",
                ErrorType.INVALID_QUERY,
            ) from None
        self.check_size(query, "the query")
        return await self.client.start_workflow(
            Workflow.QUERY,
            query,
            result_type=RagAnswer,
            id=workflow_id or self.query_id(query.question),
            task_queue=self.settings.workflow_task_queue,
            search_attributes=await self._attributes("query"),
            static_summary=f"Q: {query.question[:200]}",
            static_details=_query_details(query, self.settings),
            execution_timeout=timedelta(minutes=15),
            request_eager_start=True,
        )

    async def ask(self, query: RagQuery | str, workflow_id: str | None = None) -> RagAnswer:
        """Run the query workflow and wait for its answer; :class:`InvalidQueryError` for bad input."""
        handle = await self.start_query(query, workflow_id)
        try:
            return await self.follow(handle, f"query {handle.id}")
        except WorkflowFailureError as e:
            message, kind = failure_of(e)
            raise error_for(message, handle.id, kind) from e

    async def ask_stream(
        self, query: RagQuery | str, workflow_id: str | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """Start the query workflow and yield its :class:`StreamEvent`s as they come: ``step``
        events (``parsed``, ``retrieved``, ``synthesizing``), ``token`` events (answer text),
        then one ``final`` (with the :class:`RagAnswer`) or ``error`` event, the last.

        A ``step: synthesizing`` event with ``detail["attempt"] > 1`` means Synthesize was
        retried: the answer restarts, so discard the token text received so far (tokens of
        earlier attempts that arrive later are not yielded). The ``final`` answer is
        authoritative either way.

        Stopping early (``break``, cancelling the consumer) only stops reading: the workflow
        runs on to completion (:meth:`get_result` returns its answer later). Wrap the iterator
        in ``contextlib.aclosing`` to release it at once rather than when it is collected.
        """
        query = RagQuery(question=query) if isinstance(query, str) else query
        handle = await self.start_query(query.model_copy(update={"stream_tokens": True}), workflow_id)
        async for event in self.stream_events(handle.id):
            yield event

    async def follow(self, handle: WorkflowHandle[Any, T], what: str | None = None) -> T:
        """A started run's result, waited for through a Temporal server restart of up to
        ``RAGSTATE_SERVER_OUTAGE_S`` (:mod:`ragstate.temporal.outage`); then
        :class:`~ragstate.errors.ServerUnavailableError`."""
        return await through_outage(
            handle.result, outage_s=self.settings.server_outage_s, what=what or f"workflow {handle.id}"
        )

    async def stream_events(self, workflow_id: str, from_offset: int = 0) -> AsyncGenerator[StreamEvent, None]:
        """The events of a query run that is already started (or finished: a closed run's
        retained events are read back with a query), from ``from_offset``; as :meth:`ask_stream`.
        If the run ends without a final or error event (terminated, timed out), one is made
        from :meth:`get_result`."""
        from temporalio.contrib.workflow_streams import WorkflowStreamClient

        stream = WorkflowStreamClient.create(self.client, workflow_id)
        attempt = 1
        offset = from_offset  # the next event to read: a subscription cut by an outage resumes there
        down_since: float | None = None
        while True:
            items = stream.subscribe(STREAM_TOPIC, offset, result_type=StreamEvent, poll_cooldown=STREAM_POLL_COOLDOWN)
            try:
                async for item in items:
                    down_since = None
                    offset = item.offset + 1
                    event: StreamEvent = item.data
                    if event.type is StreamEventType.step and event.step == "synthesizing":
                        attempt = max(attempt, int(event.detail.get("attempt", 1)))
                    elif event.type is StreamEventType.token and int(event.detail.get("attempt", 1)) < attempt:
                        continue  # a superseded Synthesize attempt still flushing
                    yield event
                    if event.type in (StreamEventType.final, StreamEventType.error):
                        return
                break
            except RPCError as e:
                if server_unreachable(e):
                    # The server restarts: the run and its stream live on; wait, then resume at
                    # `offset` (no event lost, none repeated).
                    down_since = down_since or time.monotonic()
                    await through_outage(
                        self.client.count_workflows,
                        outage_s=max(0.0, self.settings.server_outage_s - (time.monotonic() - down_since)),
                        what=f"query {workflow_id}",
                    )
                    continue
                # A closed run whose stream cannot be read back (e.g. terminated before its first
                # workflow task: nothing to query) still has a status; a running one re-raises.
                if (await self.get_result(workflow_id)).state is RunState.running:
                    raise
                break
            finally:
                await items.aclose()  # type: ignore[attr-defined]  # an async generator, typed as an iterator
        status = await self.get_result(workflow_id)
        if status.state is RunState.completed:
            yield StreamEvent(type=StreamEventType.final, answer=status.answer)
        elif status.state is RunState.failed:
            yield StreamEvent(type=StreamEventType.error, error=status.error, error_type=status.error_type)

    async def get_result(self, workflow_id: str) -> QueryStatus:
        """Where a query run stands: ``running``; ``completed`` with its answer; ``failed``
        with the error and its type (``InvalidQuery``, ``RetrievalFailed``, ``LLMUnavailable``,
        ``LLMRequestRejected``; ``Cancelled``, ``Terminated``, ``TimedOut``). Never waits for
        a running query. :class:`RunNotFoundError` for an unknown id or a run that is not a query."""
        desc = await self._describe(workflow_id, Workflow.QUERY)
        if desc.status not in _CLOSED:
            return QueryStatus(workflow_id=workflow_id, state=RunState.running)
        handle = self.client.get_workflow_handle(workflow_id, run_id=desc.run_id, result_type=RagAnswer)
        try:
            answer = await handle.result(follow_runs=False, rpc_timeout=timedelta(seconds=10))
        except WorkflowFailureError as e:
            message, kind = failure_of(e)
            return QueryStatus(workflow_id=workflow_id, state=RunState.failed, error=message, error_type=kind)
        return QueryStatus(workflow_id=workflow_id, state=RunState.completed, answer=answer)

    async def llm_rate_limit(self, workflow_id: str) -> RateLimitWait | None:
        """Whether a query run's LLM step is waiting out a rate limit (its last attempt failed
        with ``LLMRateLimited`` and Temporal will try again), and for how long; None when it is
        not (closed, or not retrying a rate limit). Told by the failure's type, never its text.
        :class:`RunNotFoundError` for an unknown id or a run that is not a query."""
        desc = await self._describe(workflow_id, Workflow.QUERY)
        if desc.status in _CLOSED:
            return None
        for pending in desc.raw_description.pending_activities:
            if not pending.HasField("last_failure"):
                continue
            failure = pending.last_failure  # an activity's own ApplicationError, possibly wrapped
            while failure.HasField("cause") and not failure.HasField("application_failure_info"):
                failure = failure.cause
            info = failure.application_failure_info if failure.HasField("application_failure_info") else None
            if info is None or info.type != ErrorType.LLM_RATE_LIMITED:
                continue
            retry_in_s = None
            if pending.HasField("next_attempt_schedule_time"):
                at = pending.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
                retry_in_s = max(0.0, (at - datetime.now(UTC)).total_seconds())
            elif info.HasField("next_retry_delay"):
                retry_in_s = info.next_retry_delay.ToTimedelta().total_seconds()
            return RateLimitWait(retry_in_s=retry_in_s, message=failure.message, activity=pending.activity_type.name)
        return None

    async def ready(self, timeout_s: float) -> None:
        """One cheap RPC (the server's system info): returns when Temporal answers within
        ``timeout_s``, raises ``RPCError`` otherwise (a readiness probe)."""
        from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

        await self.client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=timeout_s))

    async def _describe(self, workflow_id: str, expect: str):
        """The run's description, in one call, if it is a run of workflow type ``expect``:
        :class:`RunNotFoundError` otherwise (no such id, an id the server refuses, another type)."""
        try:
            desc = await self.client.get_workflow_handle(workflow_id).describe(rpc_timeout=timedelta(seconds=10))
        except RPCError as e:
            if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                raise RunNotFoundError(
                    f"no {_KIND_NAMES[expect]} with workflow id {workflow_id!r}", workflow_id, NOT_FOUND
                ) from e
            raise
        if desc.workflow_type != expect:
            raise RunNotFoundError(
                f"workflow {workflow_id!r} is a {desc.workflow_type}, not a {_KIND_NAMES[expect]}",
                workflow_id,
                NOT_FOUND,
            )
        return desc

    async def start_ingest(
        self, request: IngestRequest | list[str], *, origin: str | None = None, rpc_timeout: timedelta | None = None
    ) -> WorkflowHandle:
        """Start the ingest, or join the running one with the same id. ``origin`` (e.g. ``SQS``)
        is shown in the run's summary in the UI."""
        request = IngestRequest(paths=request) if isinstance(request, list) else request
        self.check_size(request, "the ingest request")
        where = f" ({origin})" if origin else ""
        # Idempotent (the same id joins the running ingest), so safe to ask again through a restart.
        return await through_outage(
            lambda: self._start_ingest(request, where, rpc_timeout),
            outage_s=self.settings.server_outage_s,
            what=f"the start of ingest {self.ingest_id(request)}",
        )

    async def _start_ingest(self, request: IngestRequest, where: str, rpc_timeout: timedelta | None) -> WorkflowHandle:
        return await self.client.start_workflow(
            Workflow.INGEST,
            request,
            result_type=IngestResult,
            id=self.ingest_id(request),
            task_queue=self.settings.workflow_task_queue,
            search_attributes=await self._attributes("ingest"),
            static_summary=f"ingest {', '.join(request.paths)[:200]}{where}",
            static_details=f"collection **{request.collection or self.settings.collection}**"
            + (", sync: documents whose files are gone are removed" if request.sync else ""),
            rpc_timeout=rpc_timeout,
            # The same ingest started twice (a retried CLI call, a duplicate event) joins the running
            # one; after it closed, a new run starts (re-ingesting is idempotent).
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )

    async def ingest(self, request: IngestRequest | list[str]) -> IngestResult:
        handle = await self.start_ingest(request)
        return await self.follow(handle, f"ingest {handle.id}")

    async def ingest_progress(self, workflow_id: str) -> IngestProgress:
        return await self.client.get_workflow_handle(workflow_id).query(
            Query.INGEST_PROGRESS, result_type=IngestProgress
        )

    async def ingest_status(self, workflow_id: str) -> IngestStatus:
        """Where an ingest stands: ``running`` with its progress; ``completed`` with its
        result (and final progress); ``failed`` with the error. Progress comes from the
        workflow's ``progress`` query, so it needs a worker; without one (within 5 s) it is
        None. Never waits for a running ingest. :class:`RunNotFoundError` for an unknown id or a run
        that is not an ingest."""
        desc = await self._describe(workflow_id, Workflow.INGEST)  # the latest run of a continued-as-new chain
        handle = self.client.get_workflow_handle(workflow_id, run_id=desc.run_id, result_type=IngestResult)
        progress = None
        with contextlib.suppress(RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
            progress = await handle.query(
                Query.INGEST_PROGRESS, result_type=IngestProgress, rpc_timeout=timedelta(seconds=5)
            )
        if desc.status not in _CLOSED:
            return IngestStatus(workflow_id=workflow_id, state=RunState.running, progress=progress)
        try:
            result = await handle.result(follow_runs=False, rpc_timeout=timedelta(seconds=10))
        except WorkflowFailureError as e:
            return IngestStatus(
                workflow_id=workflow_id, state=RunState.failed, progress=progress, error=failure_of(e)[0]
            )
        return IngestStatus(workflow_id=workflow_id, state=RunState.completed, progress=progress, result=result)

    async def stats(self, collection: str | None = None) -> StoreStats:
        import uuid

        return await self.client.execute_workflow(
            Workflow.STATS,
            StatsRequest(collection=collection),
            result_type=StoreStats,
            id=f"rag-stats-{uuid.uuid4().hex[:8]}",
            task_queue=self.settings.workflow_task_queue,
            execution_timeout=timedelta(seconds=60),
        )

    # --- index lifecycle: each a workflow on the workflow queue (workflows/lifecycle.py) ---------

    async def _lifecycle(self, workflow_type: str, request: BaseModel, result_type: type[T], kind: str) -> T:
        import uuid

        return await self.client.execute_workflow(
            workflow_type,
            request,
            result_type=result_type,
            id=f"rag-{kind}-{uuid.uuid4().hex[:8]}",
            task_queue=self.settings.workflow_task_queue,
            execution_timeout=timedelta(hours=1),
        )

    async def documents(
        self, source_prefix: str | None = None, collection: str | None = None, limit: int = 1000
    ) -> DocumentList:
        """The collection's documents (id, title, source, chunks, version, ingested-at), by source;
        ``source_prefix`` a path prefix (made absolute, like ingest's paths)."""
        if source_prefix:
            keep_slash = source_prefix.endswith(("/", os.sep))  # "docs/" means the folder, not docs-old/
            source_prefix = absolute_paths([source_prefix])[0] + (os.sep if keep_slash else "")
        request = ListDocumentsRequest(collection=collection, source_prefix=source_prefix, limit=limit)
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
        """The store backend's collections."""
        return await self._lifecycle(Workflow.LIST_COLLECTIONS, CollectionRequest(), CollectionList, "collections")

    async def drop_collection(self, name: str) -> DropResult:
        """Delete a collection and every chunk in it; ``dropped`` is False when there was none."""
        return await self._lifecycle(Workflow.DROP_COLLECTION, CollectionRequest(collection=name), DropResult, "drop")

    async def delete_document_ids(self, doc_ids: list[str], collection: str | None = None) -> DeleteResult:
        """Delete exactly these doc ids (never read as paths: the gateway's ``DELETE /v1/documents/{id}``)."""
        request = DeleteDocumentsRequest(collection=collection, doc_ids=list(doc_ids))
        self.check_size(request, "the delete request")
        return await self._lifecycle(Workflow.DELETE_DOCUMENTS, request, DeleteResult, "delete")

    async def retry_failed(self, ingest_id: str) -> IngestResult | None:
        """Ingest again, as a new ingest, the documents that failed in the finished ingest
        ``ingest_id`` and may succeed if retried (``DocumentFailure.retryable``); None when none
        may. :class:`RunNotFoundError` for an unknown id; :class:`RagError` while it runs."""
        from ragstate.ingest.redrive import plan_retry

        plan = await plan_retry(self.client, ingest_id)
        return await self.ingest(plan.request) if plan.request else None


def _query_details(query: RagQuery, settings: Settings) -> str:
    """The run's static details in the UI: where it searches and how much it cites."""
    parts = [
        f"collection **{query.collection or settings.collection}**",
        f"top_k {query.top_k or settings.default_top_k}",
    ]
    if query.sources:
        parts.append(f"{len(query.sources)} source filter(s)")
    if query.doc_ids:
        parts.append(f"{len(query.doc_ids)} document filter(s)")
    if not query.synthesize:
        parts.append("retrieval only")
    return ", ".join(parts)
