"""A tenant's budget as its ``RagBudget`` entity workflow keeps it: requests in the last minute,
the UTC day's LLM spend, and the reservations of runs not yet settled.

Example::

    admitted = await handle.execute_update("admit", Admission(run_id="rag-query-1", policy=policy))
    if not admitted.ok: ...   # admitted.retry_after_s, admitted.reason
"""

from __future__ import annotations

from pydantic import Field

from ragstate.models.base import _Model
from ragstate.models.keys import TenantPolicy


class Admission(_Model):
    run_id: str = Field(min_length=1, max_length=400, description="the run the reservation is for (settled by id)")
    policy: TenantPolicy
    llm: bool = Field(default=True, description="the run may call the LLM: reserve its worst-case cost")


class Admitted(_Model):
    ok: bool
    llm: bool = Field(default=True, description="False: admitted without the LLM (policy retrieval-only)")
    reason: str = ""
    retry_after_s: int | None = None


class Settlement(_Model):
    run_id: str
    usd: float = Field(ge=0)


class BudgetState(_Model):
    tenant: str
    day: str = Field(description="the UTC day the spend counts for (YYYY-MM-DD)")
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    open_reservations: int = 0
    requests_last_minute: int = 0
    refused: int = 0
    policy: TenantPolicy | None = None
    #: What continue-as-new carries besides the figures above.
    reservations: dict[str, float] = Field(default_factory=dict)
    reserved_at: dict[str, float] = Field(default_factory=dict)
    recent_requests: list[float] = Field(default_factory=list)
