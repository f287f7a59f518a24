"""Redrive: the failed documents of an ingest that may succeed if retried, as a new ingest.

Each :class:`~ragstate.models.DocumentFailure` says whether retrying can help
(``retryable``): a batch lost with its worker or a store that was down, yes; an unreadable,
empty or too large file, no (it fails the same way until the file changes). The plan is read
from the finished run itself (its result and its request), so it needs no worker.

Example::

    plan = await plan_retry(rag.client, "rag-ingest-corpus-1a2b3c")
    if plan.request:
        await rag.ingest(plan.request)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from ragstate.contracts import Workflow
from ragstate.errors import RagError, RunNotFoundError
from ragstate.models import DocumentFailure, IngestRequest, IngestResult

RPC_TIMEOUT = timedelta(seconds=10)


@dataclass
class RetryPlan:
    """What ``ragstate ingest --retry-failed`` does: ingest ``request`` (None: nothing to retry)."""

    ingest_id: str
    request: IngestRequest | None
    retryable: list[DocumentFailure] = field(default_factory=list)
    not_retryable: list[DocumentFailure] = field(default_factory=list)
    #: Failures counted but not kept in the run's result (beyond its list of 1000).
    unlisted: int = 0


async def _request_of(client: Client, workflow_id: str, run_id: str) -> IngestRequest:
    """The request a run started with: its first history event's input."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in handle.fetch_history_events(rpc_timeout=RPC_TIMEOUT):
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        (request,) = await client.data_converter.decode(payloads, [IngestRequest])
        return request
    raise RunNotFoundError(f"ingest {workflow_id!r} has no history", workflow_id, "NotFound")


async def plan_retry(client: Client, ingest_id: str) -> RetryPlan:
    """The retryable failures of the finished ingest ``ingest_id`` (its latest run, which holds
    the failures of every run of a continued-as-new chain) and the ingest of their sources into
    the same collection, with the same roots and batching. :class:`RunNotFoundError` for an
    unknown id or a run that is not an ingest; :class:`RagError` while it still runs or when the
    ingest itself failed (there is no list of failures then: run the ingest again)."""
    try:
        desc = await client.get_workflow_handle(ingest_id).describe(rpc_timeout=RPC_TIMEOUT)
    except RPCError as e:
        if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise RunNotFoundError(f"no ingest with workflow id {ingest_id!r}", ingest_id, "NotFound") from e
        raise
    if desc.workflow_type != Workflow.INGEST:
        what = f"workflow {ingest_id!r} is a {desc.workflow_type}, not an ingest"
        raise RunNotFoundError(what, ingest_id, "NotFound")
    if desc.status == WorkflowExecutionStatus.RUNNING:
        raise RagError(f"ingest {ingest_id!r} is still running: retry its failures once it has finished", ingest_id)
    handle = client.get_workflow_handle(ingest_id, run_id=desc.run_id, result_type=IngestResult)
    try:
        result: IngestResult = await handle.result(follow_runs=False, rpc_timeout=RPC_TIMEOUT)
    except WorkflowFailureError as e:
        raise RagError(
            f"ingest {ingest_id!r} did not finish ({e.cause or e}), so it recorded no failures: run the ingest again",
            ingest_id,
        ) from e
    plan = RetryPlan(ingest_id=ingest_id, request=None, unlisted=result.failures_dropped)
    for f in result.failures:
        (plan.retryable if f.retryable else plan.not_retryable).append(f)
    sources = list(dict.fromkeys(f.source for f in plan.retryable))  # once each, in order
    if sources:
        original = await _request_of(client, ingest_id, desc.run_id)
        plan.request = IngestRequest(
            paths=sources,
            collection=original.collection,
            batch_docs=original.batch_docs,
            concurrency=original.concurrency,
            roots=original.roots,
            access_groups=original.access_groups,  # a retried document keeps the groups it was given
        )
    return plan
