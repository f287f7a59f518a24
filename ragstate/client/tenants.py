"""Keys, tenant policies and budgets, through the ``RagKeys`` and ``RagBudget`` entity workflows.

Example::

    record, key = await rag.create_key("acme", [Scope.query, Scope.ingest])   # key: shown once
    await rag.set_tenant_policy(TenantPolicy(tenant="acme", llm_usd_per_day=5.0))
    table = await rag.key_table()
    await rag.revoke_key(record.id)
    state = await rag.budget_state("acme")
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from ragstate.client.base import ClientBase
from ragstate.contracts import Query, Signal, Update, Workflow
from ragstate.errors import OverBudgetError, RagError
from ragstate.models.budget import Admission, Admitted, BudgetState
from ragstate.models.keys import KeyRecord, KeyTable, KeyUse, Scope, TenantPolicy
from ragstate.models.tenancy import check_tenant_name
from ragstate.security.tenant_keys import KEY_PREFIX
from ragstate.temporal.conventions import budget_workflow_id, keys_workflow_id

__all__ = ["TenantCalls", "new_key", "policy_limits"]


def new_key() -> tuple[str, str]:
    """A fresh key and its id: 256 random bits, so a plain SHA-256 is a safe digest of it."""
    key_id = secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


class TenantCalls(ClientBase):
    def _registry_start(self) -> WithStartWorkflowOperation:
        return WithStartWorkflowOperation(
            Workflow.KEYS,
            KeyTable(),
            id=keys_workflow_id(self.settings.workflow_task_queue),
            task_queue=self.settings.workflow_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary="the tenants' API keys (hashes) and policies",
        )

    async def _registry_update(self, name: str, arg: Any, result_type: type) -> Any:
        try:
            return await self.client.execute_update_with_start_workflow(
                name, arg, start_workflow_operation=self._registry_start(), result_type=result_type
            )
        except WorkflowUpdateFailedError as e:
            cause = e.cause
            raise RagError(
                cause.message if isinstance(cause, ApplicationError) else str(e),
                keys_workflow_id(self.settings.workflow_task_queue),
            ) from e

    async def create_key(
        self, tenant: str, scopes: list[Scope], access_groups: list[str] | None = None
    ) -> tuple[KeyRecord, str]:
        """A new key for ``tenant``: its record (kept, with the key's hash only) and the key."""
        key_id, key = new_key()
        record = KeyRecord(
            id=key_id,
            tenant=check_tenant_name(tenant),
            scopes=sorted(set(scopes), key=lambda s: s.value),
            access_groups=access_groups or [],
            digest=hashlib.sha256(key.encode()).hexdigest(),
            created_at=datetime.now(UTC),
        )
        return await self._registry_update(Update.CREATE_KEY, record, KeyRecord), key

    async def revoke_key(self, key_id: str) -> KeyRecord:
        return await self._registry_update(Update.REVOKE_KEY, key_id, KeyRecord)

    async def set_tenant_policy(self, policy: TenantPolicy) -> TenantPolicy:
        return await self._registry_update(Update.SET_TENANT, policy, TenantPolicy)

    async def key_table(self, rpc_timeout_s: float = 5.0) -> KeyTable:
        """Every key (hashes) and policy; empty when no key was ever created."""
        handle = self.client.get_workflow_handle(keys_workflow_id(self.settings.workflow_task_queue))
        try:
            return await handle.query(
                Query.KEY_TABLE, result_type=KeyTable, rpc_timeout=timedelta(seconds=rpc_timeout_s)
            )
        except RPCError as e:
            if e.status is RPCStatusCode.NOT_FOUND:
                return KeyTable()
            raise

    async def keys_used(self, ids: list[str]) -> None:
        await self.client.get_workflow_handle(keys_workflow_id(self.settings.workflow_task_queue)).signal(
            Signal.KEYS_USED, KeyUse(ids=ids[:1000], at=datetime.now(UTC))
        )

    # --- budgets -------------------------------------------------------------------------------

    async def admit(self, run_id: str, policy: TenantPolicy, llm: bool = True) -> Admitted:
        """Admit one run to its tenant's budget (reserving its worst-case LLM cost), or
        :class:`OverBudgetError` with the time to retry."""
        start: WithStartWorkflowOperation[Any, None] = WithStartWorkflowOperation(
            Workflow.BUDGET,
            BudgetState(tenant=policy.tenant, day=""),
            id=budget_workflow_id(policy.tenant, self.settings.workflow_task_queue),
            task_queue=self.settings.workflow_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"budget of tenant {policy.tenant}",
        )
        admitted: Admitted = await self.client.execute_update_with_start_workflow(
            Update.ADMIT,
            Admission(run_id=run_id, policy=policy, llm=llm),
            start_workflow_operation=start,
            result_type=Admitted,
        )
        if not admitted.ok:
            raise OverBudgetError(admitted.reason, admitted.retry_after_s)
        return admitted

    async def budget_state(self, tenant: str) -> BudgetState | None:
        """The tenant's budget as its workflow holds it; None when it never admitted a run."""
        handle = self.client.get_workflow_handle(
            budget_workflow_id(check_tenant_name(tenant), self.settings.workflow_task_queue)
        )
        try:
            return await handle.query(Query.BUDGET_STATE, result_type=BudgetState, rpc_timeout=timedelta(seconds=5))
        except RPCError as e:
            if e.status is RPCStatusCode.NOT_FOUND:
                return None
            raise


def policy_limits(policy: TenantPolicy | None) -> bool:
    """Whether a policy limits anything (a run must then be admitted)."""
    return policy is not None and (policy.requests_per_minute is not None or policy.llm_usd_per_day is not None)
