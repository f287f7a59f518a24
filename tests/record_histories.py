"""Record replay histories: one real run of every workflow type on a Temporal dev server.

tests/histories/ keeps histories recorded by earlier versions of the workflow code, and
tests/test_replay.py replays each of them against the current code: a change that would break a
run in flight (a new command without ``workflow.patched``, a reordered step) fails there. Record
a new set after a patched change, so both branches of the patch keep a history::

    .venv/bin/python tests/record_histories.py --tag after-my-change   # every type
    .venv/bin/python tests/record_histories.py --only Reindex          # one type, default names

A file is ``<type>[-<tag>].json`` (``query``, ``ingest``, ``reindex``, ...); an existing file
is never overwritten (it is a record of an older version). The runs are offline (no API key:
extractive answers and summaries) on a tiny corpus, so each history stays a few KB to a few
tens of KB and holds no secret.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from beir_files import write_beir
from temporalio.client import Client, WorkflowHistory

from ragstate.client import RagClient
from ragstate.contracts import Workflow
from ragstate.models import (
    CollectionList,
    CollectionRequest,
    DeleteDocumentsRequest,
    DeleteResult,
    DocumentList,
    DropResult,
    FeedbackList,
    FeedbackRecord,
    IndexParams,
    IngestRequest,
    IngestResult,
    ListDocumentsRequest,
    RagAnswer,
    RagQuery,
    ReindexRequest,
    ReindexResult,
    StatsRequest,
    StoreStats,
)
from ragstate.models.keys import Scope, TenantPolicy
from ragstate.models.session import Transcript, TranscriptRequest
from ragstate.settings import Settings
from ragstate.temporal.conventions import budget_workflow_id, keys_workflow_id, session_workflow_id
from ragstate.testing import isolated_settings, start_dev_environment

HISTORIES = Path(__file__).resolve().parent / "histories"

#: The file stem of each workflow type's histories.
STEMS = {
    Workflow.QUERY: "query",
    Workflow.INGEST: "ingest",
    Workflow.STATS: "stats",
    Workflow.LIST_DOCUMENTS: "list-documents",
    Workflow.DELETE_DOCUMENTS: "delete-documents",
    Workflow.LIST_COLLECTIONS: "list-collections",
    Workflow.DROP_COLLECTION: "drop-collection",
    Workflow.REINDEX: "reindex",
    Workflow.SUMMARIZE_DOCUMENTS: "summarize",
    Workflow.FEEDBACK: "feedback",
    Workflow.LIST_FEEDBACK: "list-feedback",
    Workflow.SESSION: "session",
    Workflow.SESSION_TRANSCRIPT: "session-transcript",
    Workflow.KEYS: "keys",
    Workflow.BUDGET: "budget",
}

#: A tiny BEIR corpus: small histories, and a gate whose answers are known.
DOCS = {
    "bm25": ("BM25", "BM25 ranks documents by term frequency. It saturates term frequency with k1."),
    "rrf": ("Fusion", "Reciprocal rank fusion sums one over k plus rank. Fusion combines rankings."),
    "dense": ("Dense retrieval", "Dense retrieval embeds queries and documents as vectors compared by cosine."),
    "chunks": ("Chunking", "Chunking cuts documents into passages that overlap by a few tokens."),
}
QUERIES = {"q1": "How does BM25 saturate term frequency?", "q2": "How does reciprocal rank fusion combine rankings?"}
QRELS = {"q1": {"bm25": 1}, "q2": {"rrf": 1}}


async def run_every_workflow_type(client: Client, settings: Settings, folder: Path, prefix: str) -> dict[str, str]:
    """One run of each workflow type, with workers of every role; workflow type -> workflow id.

    The summarize run is the ingest's child; the reindex runs its gate (child queries) and a
    zero grace (its timer still in the history)."""
    from ragstate.workers.runtime import running_workers

    corpus = write_beir(folder / "corpus", DOCS, QUERIES, QRELS)
    name = settings.collection
    queue = settings.workflow_task_queue
    ids = {t: f"{prefix}-{STEMS[t]}" for t in STEMS}
    ids[Workflow.SUMMARIZE_DOCUMENTS] = f"{ids[Workflow.INGEST]}-summarize"  # the ingest's child
    session_id = f"{prefix}-chat"
    ids[Workflow.SESSION] = session_workflow_id(session_id)  # started by update-with-start

    # Entities with ids of their own (one per deployment, one per tenant): recorded while running.
    ids[Workflow.KEYS] = keys_workflow_id(queue)
    ids[Workflow.BUDGET] = budget_workflow_id(f"{prefix}-tenant", queue)

    async def run(kind: str, arg, result_type):
        return await client.execute_workflow(kind, arg, id=ids[kind], task_queue=queue, result_type=result_type)

    async with running_workers(client, settings):
        ingested = await run(
            Workflow.INGEST, IngestRequest(paths=[str(corpus / "corpus.jsonl")], summarize=True), IngestResult
        )
        assert ingested.failed == 0 and ingested.summaries and ingested.summaries.summarized == len(DOCS), ingested
        answer = await run(Workflow.QUERY, RagQuery(question=QUERIES["q2"]), RagAnswer)
        assert answer.citations, answer
        cited = [c.doc_id for c in answer.citations]
        rating = FeedbackRecord(
            query_id=ids[Workflow.QUERY],
            good=True,
            question=answer.question,
            collection=name,
            cited=cited,
            mode=answer.mode,
            created_at=datetime(2026, 12, 7, tzinfo=UTC),
            feedback_id=ids[Workflow.FEEDBACK],
        )
        assert (await run(Workflow.FEEDBACK, rating, FeedbackRecord)).version == name
        assert (await run(Workflow.LIST_FEEDBACK, CollectionRequest(collection=name), FeedbackList)).records
        # A session of two turns (the second a follow-up), ended; then its transcript read.
        chat = RagClient(client, settings).session(session_id)
        await chat.ask(QUERIES["q1"], message_id="m1")
        assert (await chat.ask("And what about fusion?", message_id="m2")).citations
        assert (await chat.end()) is not None
        transcript = await run(Workflow.SESSION_TRANSCRIPT, TranscriptRequest(session_id=session_id), Transcript)
        assert len(transcript.turns) == 2, transcript
        # A key created and revoked, a tenant's policy; a tenant's budgeted question (admitted, settled).
        rag = RagClient(client, settings)
        record, _ = await rag.create_key(f"{prefix}-tenant", [Scope.query])
        await rag.revoke_key(record.id)
        policy = await rag.set_tenant_policy(TenantPolicy(tenant=f"{prefix}-tenant", llm_usd_per_day=1.0))
        tenant_answer = await rag.for_tenant(policy.tenant, policy=policy).ask(QUERIES["q1"])
        assert tenant_answer.mode is not None
        assert (await rag.budget_state(policy.tenant)).open_reservations == 0  # type: ignore[union-attr]
        await run(Workflow.STATS, StatsRequest(collection=name), StoreStats)
        await run(Workflow.LIST_DOCUMENTS, ListDocumentsRequest(collection=name), DocumentList)
        request = ReindexRequest(collection=name, params=IndexParams(chunk_tokens=64), gate=str(corpus), grace_s=0)
        reindexed = await run(Workflow.REINDEX, request, ReindexResult)
        assert reindexed.switched and reindexed.new_ndcg is not None, reindexed
        await run(Workflow.LIST_COLLECTIONS, CollectionRequest(), CollectionList)
        await run(Workflow.DELETE_DOCUMENTS, DeleteDocumentsRequest(collection=name, doc_ids=["chunks"]), DeleteResult)
        await run(Workflow.DROP_COLLECTION, CollectionRequest(collection=name), DropResult)
    return ids


async def fetch(client: Client, ids: dict[str, str]) -> dict[str, WorkflowHistory]:
    return {kind: await client.get_workflow_handle(wid).fetch_history() for kind, wid in ids.items()}


def save(histories: dict[str, WorkflowHistory], folder: Path, tag: str | None) -> list[Path]:
    """Write each history as ``<stem>[-<tag>].json``, never over an existing file: without a
    tag, a type that has a ``<stem>.json`` is skipped; with one, an existing name is an error."""
    paths = {kind: folder / f"{STEMS[kind]}{'-' + tag if tag else ''}.json" for kind in histories}
    taken = [str(p) for p in paths.values() if p.exists()]
    if taken and tag:
        raise SystemExit(f"these histories exist (records of older code): {', '.join(taken)}; pass another --tag")
    for path in taken:
        print(f"{path}: kept (a record of older code)")
    paths = {kind: path for kind, path in paths.items() if not path.exists()}
    folder.mkdir(exist_ok=True)
    for kind, path in paths.items():
        # The id goes with the events: a workflow that names its children after itself (ingest,
        # re-index) replays only under its own id.
        history = histories[kind]
        path.write_text(json.dumps({"workflowId": history.workflow_id, **history.to_json_dict()}, indent=2) + "\n")
    return list(paths.values())


def load(path: Path) -> WorkflowHistory:
    """A committed history; files from before ids were kept replay under their name."""
    data = json.loads(path.read_text())
    return WorkflowHistory.from_json(data.pop("workflowId", path.stem), data)


def offline_settings(address: str, data_dir: Path) -> Settings:
    return isolated_settings(data_dir, address, prefix="record", anthropic_api_key=None)


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tag", help="suffix of the file names (after a workflow change)")
    parser.add_argument("--only", action="append", choices=sorted(STEMS), help="these workflow types (repeatable)")
    parser.add_argument("--out", type=Path, default=HISTORIES)
    args = parser.parse_args(argv)
    # No key from the developer's environment may reach a run (offline mode, nothing secret recorded).
    for var in ("RAGSTATE_ANTHROPIC_API_KEY", "RAGSTATE_ANTHROPIC_API_KEY_FILE", "ANTHROPIC_API_KEY"):
        os.environ.pop(var, None)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    env = await start_dev_environment()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            address = env.client.service_client.config.target_host
            settings = offline_settings(address, Path(tmp) / "data")
            ids = await run_every_workflow_type(env.client, settings, Path(tmp), "rag-record")
            histories = await fetch(env.client, {k: v for k, v in ids.items() if not args.only or k in args.only})
    finally:
        await env.shutdown()
    for path in save(histories, args.out, args.tag):
        print(f"{path}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
