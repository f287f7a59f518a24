"""The gateway service: what the routes share (the lazily connected :class:`RagClient`, the
concurrency limit) and what they do with it. Everything about Temporal is the client's; this
turns its answers and errors into HTTP ones.

Example::

    gateway = Gateway(Settings(), GatewaySettings(), rag_client_factory=RagClient.connect)
    response = await gateway.ask(request, gateway.rag_query(body), budget=30)   # holds a slot, or 429
    async with gateway.held():                        # a request slot, or ApiError 429
        status = await gateway.query_status(workflow_id)
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import JSONResponse
from temporalio.service import RPCError

from ragstate.client import RagClient, RagError
from ragstate.contracts import ErrorType
from ragstate.errors import OverBudgetError, RunNotFoundError, error_for
from ragstate.gateway.errors import ApiError, GatewayError, api_error_of
from ragstate.gateway.inputs import ingest_request, rag_query
from ragstate.gateway.principal import current_principal
from ragstate.gateway.schemas import IngestAccepted, IngestBody, QueryRequest, QueryResponse
from ragstate.models import IngestStatus, QueryStatus, RagQuery, RunState
from ragstate.models.keys import KeyTable
from ragstate.security.tenant_keys import KeyResolver
from ragstate.settings import Settings
from ragstate.settings.gateway import GatewaySettings

#: Scope key an adapter (e.g. the Lambda handler) sets to a ``time.monotonic()`` deadline: time
#: budgets and streams end before it, so the answer (504, an error event) still gets out.
DEADLINE_SCOPE_KEY = "ragstate.deadline"

RagClientFactory = Callable[[Settings], Awaitable[RagClient]]

#: A query run's execution timeout (RagClient.start_query): a slot is never held longer.
RUN_HOLD_LIMIT_S = 15 * 60


async def default_factory(settings: Settings) -> RagClient:
    return await RagClient.connect(settings)


class Gateway:
    """State shared by the routes: the (lazily connected) client and the concurrency limit."""

    def __init__(self, settings: Settings, config: GatewaySettings, factory: RagClientFactory = default_factory):
        self.settings = settings
        self.config = config
        self.factory = factory
        self.in_flight = 0  # /v1 requests (streams for their whole length) holding a slot
        self.tenant_in_flight: dict[str, int] = {}  # the same, per tenant (tenant keys only)
        self._rag: RagClient | None = None
        self._lock = asyncio.Lock()
        self._holds: set[asyncio.Future] = set()  # slots held for runs whose client left

    # --- plumbing ------------------------------------------------------------------------------

    def key_resolver(self, legacy_keys: list[str] | Callable[[], list[str]]) -> KeyResolver:
        """Keys to principals: the deployment's own keys, and tenant keys read through this
        gateway's client (cached ``keys_refresh_s``)."""

        async def fetch() -> KeyTable:
            return await (await self.operator()).key_table()

        async def report(ids: list[str]) -> None:
            await (await self.operator()).keys_used(ids)

        return KeyResolver(
            legacy_keys,
            fetch,
            tenant_keys=self.config.tenant_keys,
            refresh_s=self.config.keys_refresh_s,
            report_use=report,
        )

    async def rag(self, connect_timeout_s: float | None = None) -> RagClient:
        """The client acting for the request's tenant (its runs, its collections, its groups and
        budget), connected on first use."""
        rag = await self.operator(connect_timeout_s)
        principal = current_principal()
        return rag.for_tenant(principal.tenant, principal.access_groups, principal.policy)

    async def operator(self, connect_timeout_s: float | None = None) -> RagClient:
        """The client, connected on first use (the process starts, and /healthz answers, while
        Temporal is still unreachable); a failed connect is retried by the next request."""
        if self._rag is not None:
            return self._rag
        async with self._lock:
            if self._rag is None:
                try:
                    self._rag = await asyncio.wait_for(
                        self.factory(self.settings), connect_timeout_s or self.config.connect_timeout_s
                    )
                except (TimeoutError, RuntimeError, RPCError, OSError) as e:
                    raise ApiError(
                        GatewayError.TEMPORAL_UNAVAILABLE,
                        f"cannot reach Temporal at {self.settings.temporal_address}: {str(e) or type(e).__name__}",
                    ) from e
        return self._rag

    def tenant_limit(self) -> int:
        """The most requests one tenant key's tenant may hold at once: one tenant's burst leaves
        the rest of the gateway to the others."""
        limit = self.config.tenant_max_concurrent_requests
        return limit if limit is not None else max(1, self.config.max_concurrent_requests // 2)

    def slot(self) -> Callable[[], None]:
        """Take a request slot at once or answer 429 (never queue); returns an idempotent release.
        A tenant key's tenant also has its own cap (:meth:`tenant_limit`); the deployment's own
        keys (one tenant) have the whole gateway."""
        if self.in_flight >= self.config.max_concurrent_requests:
            raise ApiError.too_many(
                f"the gateway is serving its limit of {self.config.max_concurrent_requests} requests; retry shortly"
            )
        principal = current_principal()
        tenant = None if principal.legacy else principal.tenant
        if tenant is not None and self.tenant_in_flight.get(tenant, 0) >= self.tenant_limit():
            raise ApiError.too_many(
                f"tenant {tenant} is using its limit of {self.tenant_limit()} concurrent requests; retry shortly"
            )
        self.in_flight += 1
        if tenant is not None:
            self.tenant_in_flight[tenant] = self.tenant_in_flight.get(tenant, 0) + 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.in_flight -= 1
                if tenant is not None:
                    self.tenant_in_flight[tenant] -= 1

        return release

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """A request slot for the duration of a block (429 when none is free)."""
        release = self.slot()
        try:
            yield
        finally:
            release()

    def budget(self, request: Request, body_timeout: float | None, header_timeout: float | None) -> float:
        budget = min(body_timeout or header_timeout or self.config.default_timeout_s, self.config.max_timeout_s)
        deadline = request.scope.get(DEADLINE_SCOPE_KEY)
        if deadline is not None:
            budget = min(budget, max(0.1, deadline - time.monotonic()))
        return budget

    @staticmethod
    def url(request: Request, *parts: str) -> str:
        return request.scope.get("root_path", "") + "/".join(parts[:1] + tuple(quote(p, safe="") for p in parts[1:]))

    def rag_query(self, body: QueryRequest) -> RagQuery:
        return rag_query(body, self.settings)

    # --- query ---------------------------------------------------------------------------------

    async def ask(self, request: Request, query: RagQuery, budget: float) -> QueryResponse | JSONResponse:
        """The answer within ``budget``; past it, the 504 (or 429). The request's slot is held
        until the run ends, not until the client leaves: a client that gives up and asks again
        must not start runs (and pay LLM calls) beyond the concurrency limit."""
        started = time.monotonic()
        release: Callable[[], None] | None = self.slot()
        try:
            rag = await self.rag()
            workflow_id = rag.query_id(query.question)
            remaining = max(0.05, budget - (time.monotonic() - started))
            try:
                # Past the budget only the waiting stops: the workflow goes on.
                answer = await asyncio.wait_for(rag.ask(query, workflow_id), remaining)
            except TimeoutError:
                self._hold_until_done(rag, workflow_id, release)  # type: ignore[arg-type]
                release = None
                return await self.over_budget(request, rag, workflow_id, budget)
            except RagError as e:
                raise self.failed(request, rag, e) from None
            return QueryResponse.of(answer, rag.ui_link(answer.workflow_id, answer.run_id or None))
        finally:
            if release is not None:
                release()

    def _hold_until_done(self, rag: RagClient, workflow_id: str, release: Callable[[], None]) -> None:
        """Keep a slot until the run ``workflow_id`` closes (at most its 15-minute execution
        timeout; at once when no run was started)."""

        async def wait() -> None:
            with contextlib.suppress(Exception):  # closed in any way, or never started: the slot is free
                handle = rag.client.get_workflow_handle(workflow_id)
                await asyncio.wait_for(handle.result(), RUN_HOLD_LIMIT_S)

        def done(task: asyncio.Future) -> None:
            self._holds.discard(task)
            release()

        task = asyncio.ensure_future(wait())
        self._holds.add(task)
        task.add_done_callback(done)

    def failed(self, request: Request, rag: RagClient, error: RagError) -> ApiError:
        if isinstance(error, OverBudgetError):  # refused before any run started: 429, Retry-After
            refusal = api_error_of(error)
            assert refusal is not None
            return refusal
        return ApiError.of(error, **self._where(request, rag, error.workflow_id))

    def _where(self, request: Request, rag: RagClient, workflow_id: str) -> dict[str, str]:
        """Where a query's answer is to be found later."""
        return dict(status_url=self.url(request, "/v1/queries", workflow_id), ui_link=rag.ui_link(workflow_id))

    async def over_budget(self, request: Request, rag: RagClient, workflow_id: str, budget: float) -> JSONResponse:
        """The budget ran out. A workflow waiting out an LLM rate limit answers 429 with the time of
        its next attempt; otherwise 504. Either way the workflow goes on (status_url), if it was
        started at all: a budget that ran out before the start was acknowledged may have started
        nothing, and a status_url would then answer 404, so the 504 says so and names no run."""
        where: dict[str, Any] = dict(workflow_id=workflow_id, **self._where(request, rag, workflow_id))
        status: QueryStatus | None = None
        try:
            wait = await rag.llm_rate_limit(workflow_id)
            if wait is None:  # it may also have finished between the budget and now
                status = await rag.get_result(workflow_id)
        except RunNotFoundError:
            return ApiError(
                GatewayError.TIMEOUT,
                f"no answer within {budget:g} s, and no run was started in that time: nothing goes on; "
                "retry with a longer budget",
            ).response()
        except (RPCError, RagError):
            wait = None
        if wait is not None:
            retry = max(1, math.ceil(wait.retry_in_s if wait.retry_in_s is not None else 1))
            return ApiError(
                ErrorType.LLM_RATE_LIMITED,
                f"the LLM API is rate limiting and the workflow is still retrying after "
                f"{budget:g} s: {wait.message}; fetch the answer later from status_url, or retry",
                status=429,
                headers={"Retry-After": str(retry)},
                retry_after_s=retry,
                **where,
            ).response()
        if status is not None and status.state is RunState.completed and status.answer is not None:
            return JSONResponse(
                QueryResponse.of(status.answer, rag.ui_link(workflow_id, status.answer.run_id or None)).model_dump(
                    mode="json"
                )
            )
        if status is not None and status.state is RunState.failed:
            raise self.failed(request, rag, error_for(status.error or "", workflow_id, status.error_type))
        return ApiError(
            GatewayError.TIMEOUT,
            f"no answer within {budget:g} s; the workflow goes on: fetch the answer from status_url",
            **where,
        ).response()

    # --- status and ingest ---------------------------------------------------------------------

    async def query_status(self, workflow_id: str) -> QueryStatus:
        return await (await self.rag()).get_result(workflow_id)  # 404 (RunNotFoundError) for others

    async def ingest_status(self, workflow_id: str) -> IngestStatus:
        return await (await self.rag()).ingest_status(workflow_id)

    async def start_ingest(self, request: Request, body: IngestBody) -> IngestAccepted:
        ingest = ingest_request(body, self.config.roots())
        async with self.held():
            rag = await self.rag()
            handle = await rag.start_ingest(ingest)
        return IngestAccepted(
            workflow_id=handle.id, status_url=self.url(request, "/v1/ingest", handle.id), ui_link=rag.ui_link(handle.id)
        )
