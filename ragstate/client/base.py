"""What every part of :class:`~ragstate.client.RagClient` shares: the Temporal client and settings,
workflow ids, payload-size checks, pollers, search attributes and following a run through an
outage; and how a workflow failure becomes a :class:`~ragstate.errors.RagError`."""

from __future__ import annotations

import asyncio
import copy
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError
from temporalio.service import RPCError, RPCStatusCode

from ragstate.contracts import RAG_KIND, RAG_STATUS, RAG_TENANT, TENANT_MEMO, ErrorType, Workflow
from ragstate.errors import (
    InvalidQueryError,
    RequestTooLargeError,
    RunNotFoundError,
)
from ragstate.models import (
    IngestRequest,
)
from ragstate.models.keys import TenantPolicy
from ragstate.models.tenancy import DEFAULT_TENANT, NAMESPACE_SEPARATOR, physical_collection
from ragstate.settings import Settings
from ragstate.temporal.connection import ui_link
from ragstate.temporal.conventions import ingest_workflow_id, query_workflow_id
from ragstate.temporal.outage import through_outage

T = TypeVar("T")


@dataclass(frozen=True)
class Tenancy:
    """Who a client acts for (:meth:`ClientBase.for_tenant`)."""

    tenant: str
    access_groups: list[str] | None
    policy: TenantPolicy | None


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


#: ``RagError.kind`` of :class:`RunNotFoundError`.
NOT_FOUND = "NotFound"


CLOSED_STATUSES = {
    WorkflowExecutionStatus.COMPLETED,
    WorkflowExecutionStatus.FAILED,
    WorkflowExecutionStatus.CANCELED,
    WorkflowExecutionStatus.TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT,
}


#: What a run of each workflow type is called in messages.
_KIND_NAMES = {Workflow.QUERY: "query", Workflow.INGEST: "ingest"}


class ClientBase:
    """The state and helpers the query, ingest and index calls share."""

    def __init__(self, client: Client, settings: Settings):
        self.client = client
        self.settings = settings
        self._search_attributes: set[str] | None = None
        self.tenancy: Tenancy | None = None

    def for_tenant(self, tenant: str, access_groups: list[str] | None = None, policy: TenantPolicy | None = None):
        """This client acting for ``tenant``: the same connection, its runs tagged with the tenant
        (memo and RagTenant), its collections in the tenant's namespace, another tenant's runs
        not found (:class:`RunNotFoundError`), its questions searching only documents open to
        ``access_groups`` (None: every document of the tenant), and charged to ``policy``."""
        view = copy.copy(self)
        view.tenancy = Tenancy(tenant, None if access_groups is None else list(access_groups), policy)
        return view

    def collection_name(self, collection: str | None) -> str | None:
        """The store's name for a collection the caller names (the default when None): the
        tenant's namespace for a tenant, the name itself for the operator. InvalidQueryError for
        a name outside the namespace."""
        if self.tenancy is None:
            return collection
        try:
            return physical_collection(self.tenancy.tenant, collection or self.settings.collection)
        except ValueError as e:
            raise InvalidQueryError(str(e), "", ErrorType.INVALID_QUERY) from None

    def _own_collection(self, physical: str) -> bool:
        """Whether a store collection lies in this tenant's namespace."""
        assert self.tenancy is not None
        if self.tenancy.tenant == DEFAULT_TENANT:
            return NAMESPACE_SEPARATOR not in physical
        return physical.startswith(self.tenancy.tenant + NAMESPACE_SEPARATOR)

    def tenant_collection(self, physical: str) -> str:
        """A store collection's name as its tenant calls it."""
        if self.tenancy is None or self.tenancy.tenant == DEFAULT_TENANT:
            return physical
        return physical.removeprefix(self.tenancy.tenant + NAMESPACE_SEPARATOR)

    def _memo(self) -> dict[str, str] | None:
        return {TENANT_MEMO: self.tenancy.tenant} if self.tenancy else None

    async def owner(self, desc: Any) -> str | None:
        """The tenant a described run acts for: its memo's tenant; the default tenant for a run
        started without one (before tenants, or by the operator)."""
        tenant = await desc.memo_value(TENANT_MEMO, None)
        return tenant if isinstance(tenant, str) else None

    async def check_owner(self, desc: Any, workflow_id: str, what: str) -> None:
        """RunNotFoundError, as for no such run, when a tenant describes another tenant's run."""
        if self.tenancy is None:
            return
        owner = await self.owner(desc) or DEFAULT_TENANT
        if owner != self.tenancy.tenant:
            raise RunNotFoundError(f"no {what} with workflow id {workflow_id!r}", workflow_id, NOT_FOUND)

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
        # Groups join the paths: the same files ingested with other groups is another ingest,
        # never joined to a running one that would give them the wrong groups.
        paths = request.paths + [f"\x00groups:{g}" for g in sorted(request.access_groups or [])]
        return ingest_workflow_id(paths, request.collection or self.settings.collection, self.private)

    def ui_link(self, workflow_id: str, run_id: str | None = None) -> str:
        return ui_link(self.settings, workflow_id, run_id, self.client.namespace)

    async def _attributes(self, kind: str) -> TypedSearchAttributes | None:
        """RagKind/RagStatus (and RagTenant for a tenant) when the namespace has them registered,
        else None (with no cost beyond one lookup per client)."""
        if self._search_attributes is None:
            from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

            try:
                resp = await self.client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=self.client.namespace)
                )
                self._search_attributes = set(resp.custom_attributes)
            except RPCError:
                self._search_attributes = set()  # e.g. Temporal Cloud API key without operator rights
        if RAG_KIND.name not in self._search_attributes:
            return None
        pairs: list[SearchAttributePair] = [
            SearchAttributePair(RAG_KIND, kind),
            SearchAttributePair(RAG_STATUS, "running"),
        ]
        if self.tenancy is not None and RAG_TENANT.name in self._search_attributes:
            pairs.append(SearchAttributePair(RAG_TENANT, self.tenancy.tenant))
        return TypedSearchAttributes(pairs)

    async def start_tags(self, kind: str) -> dict[str, Any]:
        """What every start passes: the search attributes and the tenant's memo."""
        return dict(search_attributes=await self._attributes(kind), memo=self._memo())

    async def follow(self, handle: WorkflowHandle[Any, T], what: str | None = None) -> T:
        """A started run's result, waited for through a Temporal server restart of up to
        ``RAGSTATE_SERVER_OUTAGE_S`` (:mod:`ragstate.temporal.outage`); then
        :class:`~ragstate.errors.ServerUnavailableError`."""
        return await through_outage(
            handle.result, outage_s=self.settings.server_outage_s, what=what or f"workflow {handle.id}"
        )

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
        await self.check_owner(desc, workflow_id, _KIND_NAMES[expect])
        if desc.workflow_type != expect:
            raise RunNotFoundError(
                f"workflow {workflow_id!r} is a {desc.workflow_type}, not a {_KIND_NAMES[expect]}",
                workflow_id,
                NOT_FOUND,
            )
        return desc

    async def ready(self, timeout_s: float) -> None:
        """One cheap RPC (the server's system info): returns when Temporal answers within
        ``timeout_s``, raises ``RPCError`` otherwise (a readiness probe)."""
        from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

        await self.client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=timeout_s))
