"""Models of the blue/green re-index (workflows/reindex.py).

They travel through workflow history: ids, scores and short texts, never vectors."""

from __future__ import annotations

from pydantic import Field

from ragstate.models.base import _Model
from ragstate.models.names import CollectionName


class IndexParams(_Model):
    """How a collection version is chunked and indexed; unset fields: the live version's (or
    the worker's settings). Recorded with the version, so later ingests into it chunk the same way."""

    chunk_tokens: int | None = Field(None, ge=16, le=2048)
    chunk_overlap: int | None = Field(None, ge=0, le=1024)
    titles: bool | None = Field(None, description="index each chunk with its document's title (default yes)")


class ReindexRequest(_Model):
    collection: CollectionName
    params: IndexParams = Field(default_factory=IndexParams)
    gate: str | None = Field(None, description="a BEIR-layout folder the worker reads: switch only if nDCG@10 holds")
    tolerance: float = Field(0.005, ge=0, le=1, description="the new version may score this much below the live one")
    grace_s: float = Field(300.0, ge=0, le=7 * 86400, description="queries still on the old version finish in this")
    gate_concurrency: int = Field(8, ge=1, le=64)
    approve: bool = Field(False, description="after the build (and the gate), wait for a person's decision to switch")
    approval_timeout_s: float = Field(
        86400.0, ge=1, le=30 * 86400, description="no decision in this time keeps the live version"
    )


class ReindexDecision(_Model):
    """A person's approval or rejection of a re-index waiting at ``awaiting-approval``."""

    note: str = Field("", max_length=500, description="who decided and why, shown with the run's state")


class ReindexPlanInput(_Model):
    request: ReindexRequest
    tag: str = Field(description="8 hex digits naming the new version (the workflow picks it: a retry reuses it)")


class ReindexPlan(_Model):
    collection: str
    live: str = Field(description="the physical collection serving queries now")
    new: str = Field(description="the version being built beside it")
    sources: list[str]
    params: IndexParams = Field(description="the new version's parameters, every field set")


class GateSet(_Model):
    """The judged queries of a gate folder: query id -> text, query id -> doc id -> grade."""

    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


class SwitchInput(_Model):
    collection: str
    target: str


class ReindexResult(_Model):
    """Where a re-index stands (its query) and, at the end, what it did."""

    #: planning, building, gating, awaiting-approval, then switched and done, or refused (by the
    #: gate) or rejected (by a person, or by nobody deciding in time).
    phase: str = "planning"
    collection: str = ""
    live: str = ""
    new: str = ""
    params: IndexParams | None = None
    documents: int = 0
    chunks: int = 0
    failed: int = 0
    live_ndcg: float | None = None
    new_ndcg: float | None = None
    summaries: int = Field(0, description="document summaries carried over to the new version, not made again")
    switched: bool = False
    old_dropped: bool = False
    reason: str = ""
    note: str = Field("", description="the note of the approval or rejection")
