"""Live progress of an ingest: the workflow's counts, the chunks its in-flight EmbedChunks
batches report in their heartbeats, a rate and an ETA.

The workflow learns what a batch embedded only when the batch ends (minutes on a CPU), so the
heartbeats are what makes the count move in between. Two cheap RPCs per call (a query and a
describe); nothing here waits for the ingest.

Example::

    p = await live_progress(rag.client, "rag-ingest-corpus-1a2b3c")
    total, exact = chunks_total(p)
    print(f"{p.chunks_embedded}/{total} chunks, {p.chunks_per_s:.0f}/s, ETA {p.eta_s:.0f} s")
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from ragstate.contracts import Activity, Query
from ragstate.models import IngestProgress

RPC_TIMEOUT = timedelta(seconds=5)


def chunks_total(p: IngestProgress) -> tuple[int | None, bool]:
    """(chunks the ingest will have embedded, whether that is exact): exact once every
    document is chunked; until then the chunks found so far scaled to the documents left."""
    if p.documents_total is None:
        return None, False
    if p.documents_chunked >= p.documents_total:
        return p.chunks_found, True
    if not p.documents_chunked:
        return None, False
    per_doc = p.chunks_found / p.documents_chunked
    return round(p.chunks_found + per_doc * (p.documents_total - p.documents_chunked)), False


def with_rate(p: IngestProgress, now: datetime | None = None) -> IngestProgress:
    """``p`` with ``chunks_per_s`` (since the start) and ``eta_s`` (the chunks left at that rate)."""
    now = now or datetime.now(UTC)
    if p.started_at is None or not p.chunks_embedded:
        return p
    started = p.started_at if p.started_at.tzinfo else p.started_at.replace(tzinfo=UTC)
    elapsed = (now - started).total_seconds()
    if elapsed <= 0:
        return p
    rate = p.chunks_embedded / elapsed
    total, _ = chunks_total(p)
    eta = None if total is None or p.finished else max(0.0, (total - p.chunks_embedded) / rate)
    return p.model_copy(update={"chunks_per_s": rate, "eta_s": eta})


async def embedding_in_flight(client: Client, workflow_id: str) -> int:
    """Chunks the ingest's running EmbedChunks attempts have embedded, from their last
    heartbeats (sent at most every 8 s with the 10 s heartbeat timeout)."""
    desc = await client.get_workflow_handle(workflow_id).describe(rpc_timeout=RPC_TIMEOUT)
    total = 0
    for pending in desc.raw_description.pending_activities:
        if pending.activity_type.name != Activity.EMBED_CHUNKS or not pending.heartbeat_details.payloads:
            continue
        (n,) = await client.data_converter.decode(pending.heartbeat_details.payloads, [int])
        total += int(n)
    return total


async def live_progress(client: Client, workflow_id: str) -> IngestProgress:
    """The workflow's progress (the latest run of a continued-as-new chain) with the in-flight
    batches' chunks added and the rate and ETA set. Queried before described: a batch that
    ends in between is missed once rather than counted twice."""
    handle = client.get_workflow_handle(workflow_id)
    p = await handle.query(Query.INGEST_PROGRESS, result_type=IngestProgress, rpc_timeout=RPC_TIMEOUT)
    if not p.finished:
        p.chunks_embedded += await embedding_in_flight(client, workflow_id)
    return with_rate(p)
