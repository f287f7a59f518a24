"""Ingest calls of :class:`~ragstate.client.RagClient`: start an ingest, follow it, retry its failed documents."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio.client import (
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import (
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError

from ragstate.client.base import CLOSED_STATUSES, ClientBase, failure_of
from ragstate.contracts import Query, Workflow
from ragstate.models import (
    IngestProgress,
    IngestRequest,
    IngestResult,
    IngestStatus,
    RunState,
)
from ragstate.temporal import priorities
from ragstate.temporal.outage import through_outage


class IngestCalls(ClientBase):
    async def start_ingest(
        self, request: IngestRequest | list[str], *, origin: str | None = None, rpc_timeout: timedelta | None = None
    ) -> WorkflowHandle:
        """Start the ingest, or join the running one with the same id. ``origin`` (e.g. ``SQS``)
        is shown in the run's summary in the UI."""
        request = IngestRequest(paths=request) if isinstance(request, list) else request
        if self.tenancy is not None:  # the tenant's namespace; its runs are tagged with it
            request = request.model_copy(
                update=dict(tenant=self.tenancy.tenant, collection=self.collection_name(request.collection))
            )
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
            **await self.start_tags("ingest"),
            priority=priorities.bulk(request.tenant),  # after questions, fair between tenants
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
        if desc.status not in CLOSED_STATUSES:
            return IngestStatus(workflow_id=workflow_id, state=RunState.running, progress=progress)
        try:
            result = await handle.result(follow_runs=False, rpc_timeout=timedelta(seconds=10))
        except WorkflowFailureError as e:
            return IngestStatus(
                workflow_id=workflow_id, state=RunState.failed, progress=progress, error=failure_of(e)[0]
            )
        return IngestStatus(workflow_id=workflow_id, state=RunState.completed, progress=progress, result=result)

    async def retry_failed(self, ingest_id: str) -> IngestResult | None:
        """Ingest again, as a new ingest, the documents that failed in the finished ingest
        ``ingest_id`` and may succeed if retried (``DocumentFailure.retryable``); None when none
        may. :class:`RunNotFoundError` for an unknown id; :class:`RagError` while it runs."""
        from ragstate.ingest.redrive import plan_retry

        plan = await plan_retry(self.client, ingest_id)
        return await self.ingest(plan.request) if plan.request else None
