"""Blue/green re-index on the real dev server: a new version is built beside the live one, the
gate switches to an equal index and refuses a worse one (tiny chunks without titles), queries
keep answering from the live version, the old version goes after the grace period, and the
documents' summaries come along."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from ragstate.client import RagClient
from ragstate.contracts import Query, Workflow
from ragstate.models import Branch, IndexParams, IngestRequest, RagQuery, ReindexRequest, ReindexResult
from ragstate.settings import Settings, StoreBackend
from ragstate.store.records import summary_chunk_id
from ragstate.store.versions import exists, live_version, read_params
from ragstate.testing import run_cli, run_cli_in_process
from ragstate.testing.probes import wait_for
from ragstate.workers.runtime import running_workers

#: The first 8 judged CISI queries, their relevant documents and others up to 150 documents,
#: committed (a fresh clone has no ../shared/datasets): made from the BEIR CISI set by taking,
#: for each of those queries, up to 12 judged documents, then the first unjudged ones.
SLICE = Path(__file__).resolve().parent / "data" / "cisi-slice"

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")


#: The gate test's documents: the slice's first 100, its 72 judged ones and 28 others. A build
#: costs about the same per document whatever the chunk size, and on these the worse index
#: (16-wordpiece chunks without titles) scores about 0.08 under the live one (0.003 on all 150).
GATE_DOCUMENTS = 100
#: The Qdrant variant stops after the switch (no worse index to tell apart): fewer documents do.
SWITCH_DOCUMENTS = 40


def beir_slice(out: Path, documents: int) -> Path:
    """A copy of the committed slice with its first ``documents`` documents, which the test may
    write beside."""
    shutil.copytree(SLICE, out)
    lines = (SLICE / "corpus.jsonl").read_text().splitlines()[:documents]
    (out / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    return out


async def reindex(client: Client, settings: Settings, request: ReindexRequest) -> ReindexResult:
    return await client.execute_workflow(
        Workflow.REINDEX,
        request,
        id=f"rag-reindex-test-{settings.collection}-{request.params.chunk_tokens}",
        task_queue=settings.workflow_task_queue,
        result_type=ReindexResult,
    )


@pytest.mark.timeout(600)
async def test_the_gate_switches_to_an_equal_index_and_refuses_a_worse_one(client: Client, backend_settings, tmp_path):
    """On both backends the name moves to an equal version (the edge store's pointer file, a
    Qdrant alias); the refusal of a worse one runs on the edge store only: the gate's scores
    come from the same query workflow on either backend, and a refusal moves no pointer."""
    settings = backend_settings
    qdrant = settings.store_backend is StoreBackend.qdrant
    gate = beir_slice(tmp_path / "gate", SWITCH_DOCUMENTS if qdrant else GATE_DOCUMENTS)
    name = settings.collection
    rag = RagClient(client, settings)
    question = (gate / "queries.jsonl").read_text().splitlines()[0]
    async with running_workers(client, settings):
        first = await rag.ingest([str(gate / "corpus.jsonl")])
        assert first.failed == 0 and live_version(settings, name) == name

        same = await reindex(
            client,
            settings,
            ReindexRequest(
                collection=name, params=IndexParams(chunk_tokens=settings.chunk_tokens), gate=str(gate), grace_s=0
            ),
        )
        assert same.switched and same.phase == "done", same
        assert same.new_ndcg >= same.live_ndcg - 0.005 and same.live_ndcg > 0.1, same
        assert (same.documents, same.chunks) == (first.documents, first.chunks)
        assert live_version(settings, name) == same.new != name
        assert not exists(settings, name) or qdrant  # the old went
        after_switch = await rag.ask(RagQuery(question=json.loads(question)["text"], synthesize=False))
        assert after_switch.ranking  # the name answers from the new version
        assert read_params(settings, same.new)["chunk_tokens"] == settings.chunk_tokens
        assert (await rag.stats()).chunks == first.chunks
        if qdrant:
            return  # the rest is backend-neutral (docstring): one more build for nothing new

        code, out = await run_cli(
            settings,
            "reindex",
            "--collection",
            name,
            "--set",
            "chunk_tokens=16",
            "--set",
            "chunk_overlap=0",
            "--set",
            "titles=false",
            "--gate",
            str(gate),
            "--tolerance",
            "0",  # no tolerance: any loss is refused (here it scores about 0.08 below)
            "--grace",
            "0",
            limit_s=600,
        )
        out = " ".join(out.split())
        assert code == 3, out
        assert "nDCG@10: live" in out and "kept the live version" in out, out
        assert live_version(settings, name) == same.new  # untouched
        assert read_params(settings, same.new)["chunk_tokens"] == settings.chunk_tokens
        still = await rag.ask(RagQuery(question=json.loads(question)["text"], synthesize=False))
        assert [h.chunk_id for h in still.ranking] == [h.chunk_id for h in after_switch.ranking]
        assert (await rag.stats()).chunks == first.chunks


@pytest.mark.timeout(600)
async def test_a_reindex_keeps_the_documents_summaries_without_making_them_again(
    client: Client, settings: Settings, tmp_path: Path
):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in {
        "bm25.md": "# BM25\n\nBM25 ranks documents by term frequency. It saturates term frequency with k1.",
        "fusion.md": "# Fusion\n\nReciprocal rank fusion sums one over k plus rank. Fusion combines rankings.",
    }.items():
        (docs / name).write_text(text)
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        first = await rag.ingest(IngestRequest(paths=[str(docs)], summarize=True))
        assert first.summaries is not None and first.summaries.summarized == 2, first.summaries
        before = {d.doc_id: d.summary for d in (await rag.documents()).documents}

        # No grace: the test is not about it, and the default (300 s) would be 300 s of waiting.
        request = ReindexRequest(collection=settings.collection, params=IndexParams(chunk_tokens=64), grace_s=0)
        result = await reindex(client, settings, request)
        assert result.switched and result.summaries == 2, result
        after = {d.doc_id: d for d in (await rag.documents()).documents}
        assert {doc_id: d.summary for doc_id, d in after.items()} == before  # the same records, not made again
        bm25 = next(d for d in after.values() if d.source.endswith("bm25.md"))
        answer = await rag.ask(RagQuery(question=bm25.summary.text, synthesize=False))
        summary_id = summary_chunk_id(bm25.doc_id, bm25.version)
        for branch in (Branch.keyword, Branch.vector):  # embedded again in the new version
            assert summary_id in [h.chunk_id for h in answer.branch_rankings[branch]], branch


@pytest.mark.timeout(300)
async def test_the_old_version_serves_through_the_grace(client: Client, settings: Settings, tmp_path: Path):
    """During the grace the name serves the new version and the old one is still there for the
    queries that resolved it just before the switch. Waits on the history (a long poll until the
    grace timer starts), not on the timer: the run is terminated inside its hour of grace."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bm25.md").write_text("# BM25\n\nBM25 ranks documents by term frequency. It saturates term frequency.")
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        await rag.ingest([str(docs)])
        # A first re-index, so that the old version of the second is a version (the collection
        # made by the ingest itself gets no grace: module ragstate.store.versions).
        old = (await reindex(client, settings, ReindexRequest(collection=settings.collection, grace_s=0))).new
        handle = await client.start_workflow(
            Workflow.REINDEX,
            ReindexRequest(collection=settings.collection, params=IndexParams(chunk_tokens=64), grace_s=3600),
            id=f"rag-reindex-grace-{settings.collection}",
            task_queue=settings.workflow_task_queue,
        )
        try:
            async for event in handle.fetch_history_events(wait_new_event=True):
                if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
                    break
            state = await handle.query(Query.REINDEX_STATE, result_type=ReindexResult)
            assert state.phase == "switched" and not state.old_dropped, state
            assert live_version(settings, settings.collection) == state.new != old
            assert exists(settings, old)  # kept for the queries already on it
            on_old = await rag.ask(RagQuery(question="What does BM25 saturate?", collection=old, synthesize=False))
            on_new = await rag.ask(RagQuery(question="What does BM25 saturate?", synthesize=False))
            assert on_old.ranking and on_new.ranking
        finally:
            await handle.terminate("test over: the grace itself is not waited for")


def hundred_question_gate(out: Path, documents: int) -> Path:
    """The slice's 8 judged queries, each asked under 12 or 13 ids (100 in all) with its judgements,
    beside the first ``documents`` documents of its corpus."""
    (out / "qrels").mkdir(parents=True)
    lines = (SLICE / "corpus.jsonl").read_text().splitlines()[:documents]
    (out / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    queries = [json.loads(line) for line in (SLICE / "queries.jsonl").read_text().splitlines()]
    rows = (SLICE / "qrels" / "test.tsv").read_text().splitlines()[1:]
    qrels = [row.split("\t") for row in rows]
    with (out / "queries.jsonl").open("w") as q, (out / "qrels" / "test.tsv").open("w") as r:
        r.write("query-id\tcorpus-id\tscore\n")
        for n in range(100):
            query = queries[n % len(queries)]
            qid = f"{query['_id']}-{n}"
            q.write(json.dumps({"_id": qid, "text": query["text"]}) + "\n")
            r.writelines(f"{qid}\t{doc}\t{grade}\n" for q_id, doc, grade in qrels if q_id == query["_id"])
    return out


@pytest.mark.timeout(900)
async def test_a_hundred_question_gate_keeps_the_reindex_history_small(client: Client, settings: Settings, tmp_path):
    """200 child queries report to the re-index: each returns its top 10 documents, not its whole
    rankings (600 hits: about 15 MB of history for this gate on a full collection)."""
    gate = hundred_question_gate(tmp_path / "gate", documents=60)
    async with running_workers(client, settings):
        await RagClient(client, settings).ingest([str(gate / "corpus.jsonl")])
        request = ReindexRequest(collection=settings.collection, gate=str(gate), grace_s=0, gate_concurrency=16)
        result = await reindex(client, settings, request)
    assert result.switched and result.live_ndcg and result.live_ndcg > 0.1, result
    handle = client.get_workflow_handle(f"rag-reindex-test-{settings.collection}-None")
    size = (await handle.describe()).raw_description.workflow_execution_info.history_size_bytes
    events = len((await handle.fetch_history()).events)
    print(f"100-question gate: re-index history {size} bytes in {events} events, nDCG@10 {result.live_ndcg}")
    assert size < 1_000_000, size  # Temporal warns at 10 MB and fails the run at 50 MB


@pytest.mark.timeout(300)
async def test_approval_switches_and_a_rejection_or_no_decision_keeps_the_live_version(
    client: Client, settings: Settings, tmp_path: Path
):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bm25.md").write_text("# BM25\n\nBM25 ranks documents by term frequency. It saturates term frequency.")
    name = settings.collection
    async with running_workers(client, settings):
        await RagClient(client, settings).ingest([str(docs)])
        live = live_version(settings, name)

        # Rejected by a person: the new version goes, the name never moved.
        handle = await client.start_workflow(
            Workflow.REINDEX,
            ReindexRequest(collection=name, grace_s=0, approve=True),
            id=f"rag-reindex-reject-{name}",
            task_queue=settings.workflow_task_queue,
            result_type=ReindexResult,
        )
        await wait_for(lambda: _awaiting(handle), 60, "the re-index to wait for a decision")
        details = (await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)).current_details
        assert f"ragstate reindex approve {handle.id}" in details and "nDCG@10" in details, details
        code, out = await run_cli_in_process(settings, "reindex", "reject", handle.id, "--note", "bob: not yet")
        assert code == 0 and "kept the live version" in out, out
        rejected = await handle.result()
        assert (rejected.phase, rejected.switched, rejected.note) == ("rejected", False, "bob: not yet"), rejected
        assert live_version(settings, name) == live and not exists(settings, rejected.new)
        code, out = await run_cli_in_process(settings, "reindex", "approve", handle.id)
        assert code == 1 and "Traceback" not in out, out  # decided already: nothing changes
        assert live_version(settings, name) == live

        # Nobody decides in time: the same as a rejection.
        expired = await client.execute_workflow(
            Workflow.REINDEX,
            ReindexRequest(collection=name, grace_s=0, approve=True, approval_timeout_s=1),
            id=f"rag-reindex-expire-{name}",
            task_queue=settings.workflow_task_queue,
            result_type=ReindexResult,
        )
        assert expired.phase == "rejected" and "no decision within 1 s" in expired.reason, expired
        assert live_version(settings, name) == live and not exists(settings, expired.new)

        # Started from the CLI, which stops at the decision and says how to make it; approved.
        code, out = await run_cli_in_process(settings, "reindex", "--collection", name, "--approve", "--grace", "0")
        assert code == 0 and "waiting for a decision" in out, out
        workflow_id = out.split("ragstate reindex approve ")[1].split()[0]
        code, out = await run_cli_in_process(settings, "reindex", "approve", workflow_id, "--note", "alice")
        assert code == 0 and "approved" in out and "now serves" in out, out
        approved = await client.get_workflow_handle(workflow_id, result_type=ReindexResult).result()
        assert approved.switched and approved.note == "alice" and live_version(settings, name) == approved.new != live


async def _awaiting(handle) -> bool:
    return (await handle.query(Query.REINDEX_STATE, result_type=ReindexResult)).phase == "awaiting-approval"
