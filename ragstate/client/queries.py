"""Query calls of :class:`~ragstate.client.RagClient`: start, ask, stream, and read a run's result."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from temporalio.client import (
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from ragstate.client.base import CLOSED_STATUSES, ClientBase, absolute_paths, failure_of
from ragstate.client.tenants import policy_limits
from ragstate.contracts import STREAM_TOPIC, ErrorType, Workflow
from ragstate.errors import (
    InvalidQueryError,
    error_for,
)
from ragstate.models import (
    QueryStatus,
    RagAnswer,
    RagQuery,
    RateLimitWait,
    RunState,
    StreamEvent,
    StreamEventType,
)
from ragstate.settings import Settings
from ragstate.temporal import priorities
from ragstate.temporal.conventions import budget_workflow_id
from ragstate.temporal.outage import server_unreachable, through_outage

if TYPE_CHECKING:
    from ragstate.client.tenants import TenantCalls

#: How often a stream subscriber polls again after a batch when it has caught up (the contrib's
#: default is 100 ms). Each poll waits on the workflow for new events, so polls never outnumber
#: the batches published: this mostly bounds added latency.
STREAM_POLL_COOLDOWN = timedelta(milliseconds=50)

#: ``start_query(join=True)``: a running run with the id is returned (USE_EXISTING), a closed one
#: is not replaced (REJECT_DUPLICATE: the server answers "already started" and it is returned).
JOIN_CONFLICT, JOIN_REUSE = WorkflowIDConflictPolicy.USE_EXISTING, WorkflowIDReusePolicy.REJECT_DUPLICATE


class QueryCalls(ClientBase):
    async def start_query(
        self, query: RagQuery | str, workflow_id: str | None = None, *, join: bool = False
    ) -> WorkflowHandle:
        """Start the query workflow; its handle. With ``join`` (and a ``workflow_id``), a run that
        already has this id, running or closed, is the one returned and none is started: a caller
        that asks again with the same id (an MCP agent that reconnected) follows the same run."""
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
        workflow_id = workflow_id or self.query_id(query.question)
        query = await self._for_tenant(query, workflow_id)
        try:
            return await self.client.start_workflow(
                Workflow.QUERY,
                query,
                result_type=RagAnswer,
                id=workflow_id,
                task_queue=self.settings.workflow_task_queue,
                **await self.start_tags("query"),
                priority=priorities.interactive(query.tenant),  # its workflow tasks before bulk ingests
                static_summary=f"Q: {query.question[:200]}",
                static_details=_query_details(query, self.settings),
                execution_timeout=timedelta(minutes=15),
                id_conflict_policy=JOIN_CONFLICT if join else WorkflowIDConflictPolicy.UNSPECIFIED,
                id_reuse_policy=JOIN_REUSE if join else WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                request_eager_start=not join,
            )
        except WorkflowAlreadyStartedError:
            if not join:
                raise
            return self.client.get_workflow_handle(workflow_id, result_type=RagAnswer)

    async def _for_tenant(self, query: RagQuery, workflow_id: str) -> RagQuery:
        """A tenant's question: its collection in the tenant's namespace, its access groups, and
        admitted by the tenant's budget (:class:`OverBudgetError` when refused; without the LLM
        when the policy says ``retrieval-only``)."""
        if self.tenancy is None:
            return query
        update: dict = dict(
            tenant=self.tenancy.tenant,
            collection=self.collection_name(query.collection),
            access_groups=self.tenancy.access_groups,
        )
        policy = self.tenancy.policy
        if policy_limits(policy):
            assert policy is not None
            admitted = await cast("TenantCalls", self).admit(workflow_id, policy, llm=query.synthesize)
            update["budget"] = budget_workflow_id(policy.tenant, self.settings.workflow_task_queue)
            if query.synthesize and not admitted.llm:
                update["synthesize"] = False  # mode retrieval-only: the sources, no LLM call
        return query.model_copy(update=update)

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
        if desc.status not in CLOSED_STATUSES:
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
        if desc.status in CLOSED_STATUSES:
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
