"""``RagKeys`` (id ``rag-keys-<workflow task queue>``): the tenants' API keys and policies, one
entity for every gateway and codec-server process, whatever its shape (a server, Lambda, Cloud Run): each reads
the table through a query and caches it for a few seconds, so a revoked key stops working
within seconds with no restart.

A key is held as its SHA-256 only (the key itself is printed once by ``ragstate keys create``).
Updates add a key, revoke one, or set a tenant's policy; a signal records when keys were used.
The run continues as new with the table when the server suggests it.

Example::

    await client.execute_update_with_start_workflow(
        "create_key", record, start_workflow_operation=WithStartWorkflowOperation(
            RagKeysWorkflow.run, KeyTable(), id="rag-keys-ragstate", task_queue="ragstate",
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING))
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from ragstate.contracts import ErrorType, Query, Signal, Update, Workflow
    from ragstate.models.keys import KeyRecord, KeyTable, KeyUse, TenantPolicy


@workflow.defn(name=Workflow.KEYS)
class RagKeysWorkflow:
    # The input is taken in __init__: an update-with-start's update runs before the run method.
    @workflow.init
    def __init__(self, table: KeyTable) -> None:
        self._table = table

    @workflow.run
    async def run(self, table: KeyTable) -> None:
        # An entity: it waits for the server's hint, then carries the table into a new run.
        await workflow.wait_condition(lambda: workflow.info().is_continue_as_new_suggested())
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._table)

    def _changed(self) -> None:
        self._table.changed_at = workflow.now()
        active = sum(1 for k in self._table.keys if k.active)
        workflow.set_current_details(
            f"**{active}** active keys, {len(self._table.keys) - active} revoked, "
            f"{len(self._table.tenants)} tenant policies"
        )

    @workflow.query(name=Query.KEY_TABLE)
    def key_table(self) -> KeyTable:
        return self._table

    @workflow.update(name=Update.CREATE_KEY)
    def create_key(self, record: KeyRecord) -> KeyRecord:
        if any(k.id == record.id or k.digest == record.digest for k in self._table.keys):
            raise ApplicationError(f"key {record.id} exists", type=ErrorType.INVALID_REQUEST, non_retryable=True)
        self._table.keys.append(record)
        self._changed()
        return record

    @workflow.update(name=Update.REVOKE_KEY)
    def revoke_key(self, key_id: str) -> KeyRecord:
        for i, key in enumerate(self._table.keys):
            if key.id == key_id:
                if key.active:
                    self._table.keys[i] = key = key.model_copy(update={"revoked_at": workflow.now()})
                    self._changed()
                return key
        raise ApplicationError(f"no key {key_id!r}", type=ErrorType.INVALID_REQUEST, non_retryable=True)

    @workflow.update(name=Update.SET_TENANT)
    def set_tenant(self, policy: TenantPolicy) -> TenantPolicy:
        self._table.tenants = [p for p in self._table.tenants if p.tenant != policy.tenant] + [policy]
        self._changed()
        return policy

    @workflow.signal(name=Signal.KEYS_USED)
    def keys_used(self, use: KeyUse) -> None:
        ids = set(use.ids)
        self._table.keys = [
            k.model_copy(update={"last_used_at": use.at})
            if k.id in ids and (k.last_used_at is None or k.last_used_at < use.at)
            else k
            for k in self._table.keys
        ]
