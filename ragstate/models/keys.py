"""The tenants' API keys and policies, as the ``RagKeys`` entity workflow holds them: a key's
id, tenant, scopes and access groups, and the SHA-256 of the key (never the key itself); a
tenant's request rate and daily LLM spend.

Example::

    KeyRecord(id="k1a2b3c4", tenant="acme", scopes=[Scope.query], digest="9f86d0...", created_at=now)
    TenantPolicy(tenant="acme", requests_per_minute=60, llm_usd_per_day=5.0)
"""

from __future__ import annotations

import enum
from datetime import datetime

from pydantic import Field

from ragstate.models.base import _Model
from ragstate.models.tenancy import AccessGroup, TenantName


class Scope(str, enum.Enum):
    """What a key may do."""

    #: Ask (JSON, SSE, sessions), read its own runs, list documents, rate answers.
    query = "query"
    #: Start ingests and read their status.
    ingest = "ingest"
    #: Delete documents, drop collections, re-index, schedules, keys; decode payloads.
    admin = "admin"
    #: Decode payloads through the codec server (the Temporal UI), nothing else.
    decode = "decode"


class OverBudget(str, enum.Enum):
    """What a request over its tenant's LLM budget gets."""

    #: 429 with Retry-After (a typed error from the client); no run starts.
    refuse = "refuse"
    #: The run retrieves and answers extractively, with no LLM call (``mode: retrieval-only``).
    retrieval_only = "retrieval-only"


class KeyRecord(_Model):
    id: str = Field(pattern=r"^[0-9a-f]{8,32}$", description="public id: in logs, audit lines and `keys list`")
    tenant: TenantName
    scopes: list[Scope] = Field(min_length=1)
    access_groups: list[AccessGroup] = Field(default_factory=list, max_length=256)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the key, hex")
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class TenantPolicy(_Model):
    tenant: TenantName
    requests_per_minute: int | None = Field(default=None, ge=1, description="None: no rate limit")
    llm_usd_per_day: float | None = Field(default=None, ge=0, description="LLM spend per UTC day; None: no cap")
    over_budget: OverBudget = OverBudget.refuse
    reserve_usd: float = Field(
        default=0.05, ge=0, description="held for an answer until its real cost is known (its worst case)"
    )


class KeyTable(_Model):
    """Everything the registry holds (its query's answer, and what continue-as-new carries)."""

    keys: list[KeyRecord] = Field(default_factory=list)
    tenants: list[TenantPolicy] = Field(default_factory=list)
    changed_at: datetime | None = None

    def policy(self, tenant: str) -> TenantPolicy | None:
        return next((p for p in self.tenants if p.tenant == tenant), None)


class KeyUse(_Model):
    """Keys a gateway process saw used (a signal, at most once a minute per key)."""

    ids: list[str] = Field(max_length=1000)
    at: datetime
