"""End to end on a real Temporal dev server: ingest examples/, ask, degraded and failing
branches, bad input, idempotent re-ingest and failed documents (replay: tests/test_replay.py)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from paths import EXAMPLES_CORPUS
from temporalio import activity
from temporalio.client import Client

from ragstate.client import InvalidQueryError, RagClient, RagError
from ragstate.contracts import RAG_STATUS
from ragstate.models import AnswerMode, IngestRequest, ParsedQuery, RagQuery
from ragstate.settings import Settings
from ragstate.workers.runtime import running_workers

EXAMPLE_DOCS = 8  # 5 files + 3 records in faq.jsonl


async def _status_attribute(client: Client, workflow_id: str) -> str | None:
    desc = await client.get_workflow_handle(workflow_id).describe()
    return desc.typed_search_attributes.get(RAG_STATUS)


async def test_ingest_examples_then_ask(client: Client, settings: Settings):
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        result = await rag.ingest([str(EXAMPLES_CORPUS)])
        assert (result.documents, result.failed) == (EXAMPLE_DOCS, 0), result.failures
        stats = await rag.stats()
        assert stats.chunks == result.chunks >= EXAMPLE_DOCS
        assert stats.documents == EXAMPLE_DOCS

        progress = await rag.ingest_progress(result.workflow_id)
        assert progress.finished and progress.documents == EXAMPLE_DOCS
        assert await _status_attribute(client, result.workflow_id) == "completed"

        answer = await rag.ask("How does reciprocal rank fusion combine rankings?")
        assert answer.mode is AnswerMode.offline_extractive
        assert not answer.degraded
        assert answer.citations, answer
        assert answer.citations[0].title == "Reciprocal rank fusion"
        assert f"[{answer.citations[0].number}]" in answer.answer
        steps = [t.step for t in answer.timings]
        assert steps[0] == "ParseQuery" and steps[-2:] == ["Merge", "Synthesize"]
        assert set(steps[1:3]) == {"KeywordSearch", "VectorSearch"}
        assert answer.workflow_id.startswith("rag-query-how-does-reciprocal-rank-fusion")
        assert await _status_attribute(client, answer.workflow_id) == "completed"

        # A source filter restricts every citation to that source.
        faq = str((EXAMPLES_CORPUS / "faq.jsonl").resolve())
        filtered = await rag.ask(RagQuery(question="Where are vectors stored?", sources=[faq], top_k=2))
        assert filtered.citations and {c.source for c in filtered.citations} == {faq}

        # Retrieval-only answers carry the fused ranking (used by evaluation).
        ranked = await rag.ask(RagQuery(question="BM25 parameters k1 and b", synthesize=False))
        assert ranked.mode is AnswerMode.retrieval_only and ranked.ranking
        assert ranked.ranking[0].doc_id.endswith("bm25.md")


async def test_reingest_is_idempotent_and_replaces_changed_documents(client: Client, settings: Settings, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(EXAMPLES_CORPUS, corpus)
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        first = await rag.ingest([str(corpus)])
        again = await rag.ingest([str(corpus)])
        assert again.unchanged == again.documents == first.documents
        assert (await rag.stats()).chunks == first.chunks

        doc = corpus / "bm25.md"
        doc.write_text(
            "# BM25 keyword ranking\n\nOkapi BM25 was first implemented in the Okapi system at City "
            "University London.\n"
        )
        changed = await rag.ingest([str(corpus)])
        assert changed.unchanged == first.documents - 1
        stats = await rag.stats()
        assert stats.documents == first.documents
        assert stats.chunks == changed.chunks  # the old chunks of bm25.md are gone, nothing duplicated
        answer = await rag.ask(RagQuery(question="Where was Okapi BM25 first implemented?", top_k=1))
        assert "City University" in answer.answer


async def test_failed_documents_are_recorded_and_the_rest_go_on(client: Client, settings: Settings, tmp_path):
    docs = tmp_path / "mixed"
    docs.mkdir()
    (docs / "good.txt").write_text("Vector databases store embeddings for similarity search.")
    (docs / "empty.md").write_text("   \n")
    (docs / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))
    (docs / "records.jsonl").write_text(
        json.dumps({"_id": "r1", "title": "Kept", "text": "Good records survive their neighbours."}) + "\n"
        "{not json\n" + json.dumps({"title": "no id", "text": "x"}) + "\n"
    )
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        result = await rag.ingest(IngestRequest(paths=[str(docs), str(tmp_path / "missing.txt")]))
    assert result.documents == 2
    reasons = {Path(f.source).name: f.reason for f in result.failures}
    assert result.failed == len(result.failures) == 5, result.failures
    assert "empty" in reasons["empty.md"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "no such file" in reasons["missing.txt"]
    jsonl_reasons = sorted(f.reason for f in result.failures if f.source.endswith("records.jsonl"))
    assert jsonl_reasons == [
        "line 2 is not valid JSON (Expecting property name enclosed in double quotes)",
        'line 3 has no "_id" (BEIR layout expected)',
    ]


@activity.defn(name="KeywordSearch")
def keyword_search_down(q: ParsedQuery):
    raise RuntimeError("keyword index unavailable")


@activity.defn(name="VectorSearch")
def vector_search_down(q: ParsedQuery):
    raise RuntimeError("embedding service unavailable")


async def _count_attempts(client: Client, workflow_id: str, activity_type: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = {
        e.event_id
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity_type
    }
    attempts = 0
    for e in history.events:
        if (
            e.HasField("activity_task_started_event_attributes")
            and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
        ):
            attempts = max(attempts, e.activity_task_started_event_attributes.attempt)
        elif e.HasField("marker_recorded_event_attributes"):  # a local activity's result marker
            data = e.marker_recorded_event_attributes.details.get("data")
            marker = json.loads(data.payloads[0].data) if data and data.payloads else {}
            if marker.get("activity_type") == activity_type:
                attempts = max(attempts, marker.get("attempt", 0))
    return attempts


async def test_one_failing_branch_degrades_the_answer(client: Client, settings: Settings):
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        await rag.ingest([str(EXAMPLES_CORPUS)])
    async with running_workers(client, settings, replace=[keyword_search_down]):
        answer = await rag.ask("What does reciprocal rank fusion need no calibration of?")
    assert answer.degraded
    assert answer.degraded_reasons == ["KeywordSearch failed: keyword index unavailable"]
    assert answer.citations and answer.citations[0].title == "Reciprocal rank fusion"
    assert await _count_attempts(client, answer.workflow_id, "KeywordSearch") == 3  # MaxAttempts 2 + the first
    assert await _status_attribute(client, answer.workflow_id) == "degraded"


async def test_both_branches_failing_fails_the_query(client: Client, settings: Settings):
    rag = RagClient(client, settings)
    async with running_workers(client, settings, replace=[keyword_search_down, vector_search_down]):
        with pytest.raises(RagError) as info:
            await rag.ask("Anything at all?")
    message = str(info.value)
    assert "keyword index unavailable" in message and "embedding service unavailable" in message
    assert await _status_attribute(client, info.value.workflow_id) == "failed"


@pytest.mark.parametrize(
    "question,top_k,expected",
    [
        ("", None, "empty"),
        ("   \n\t ", None, "empty"),
        ("x" * 4001, None, "limit is 4000"),
        ("ring the bell \x07", None, "control characters"),
        ("fine question", 0, "top_k must be between 1 and 50"),
    ],
)
async def test_bad_queries_fail_fast_and_are_not_retried(client: Client, settings: Settings, question, top_k, expected):
    rag = RagClient(client, settings)
    async with running_workers(client, settings, roles=["workflows"]):
        with pytest.raises(InvalidQueryError) as info:
            await asyncio.wait_for(rag.ask(RagQuery(question=question, top_k=top_k)), timeout=20)
    assert expected in str(info.value)
    assert await _count_attempts(client, info.value.workflow_id, "ParseQuery") == 1


async def test_end_to_end_on_the_qdrant_client_backend(client: Client, settings: Settings, tmp_path):
    """The same workflows against qdrant-client (local mode here; a server URL in production)."""
    from ragstate.settings import StoreBackend
    from ragstate.store import close_stores

    settings = settings.model_copy(update={"store_backend": StoreBackend.qdrant, "qdrant_path": tmp_path / "qdrant"})
    rag = RagClient(client, settings)
    try:
        async with running_workers(client, settings):
            result = await rag.ingest([str(EXAMPLES_CORPUS)])
            assert (result.documents, result.failed) == (EXAMPLE_DOCS, 0)
            stats = await rag.stats()
            assert (stats.backend, stats.chunks) == ("qdrant", result.chunks)
            answer = await rag.ask("What happens when one search branch fails?")
            assert answer.citations[0].title == "What happens when one search branch fails?"
    finally:
        close_stores()


async def test_query_with_the_llm_through_the_real_sdk(client: Client, settings: Settings, fake_anthropic):
    """The production path: Synthesize as a regular activity on the LLM task queue, the real
    Anthropic SDK (streaming) against a local Messages-API server; [n] markers become citations."""
    from pydantic import SecretStr

    from ragstate.activities import anthropic_llm
    from ragstate.testing import ok

    settings = settings.model_copy(
        update={"anthropic_api_key": SecretStr("sk-ant-test"), "anthropic_base_url": fake_anthropic.url}
    )
    fake_anthropic.plan(ok("RRF sums one over k plus rank across the lists [1], needing no calibration [1]."))
    rag = RagClient(client, settings)
    try:
        async with running_workers(client, settings):
            await rag.ingest([str(EXAMPLES_CORPUS)])
            answer = await rag.ask(RagQuery(question="How does reciprocal rank fusion work?", top_k=3))
    finally:
        await anthropic_llm.close_llm_clients()
    assert answer.mode is AnswerMode.llm and answer.model
    assert [c.number for c in answer.citations] == [1]
    assert answer.citations[0].title == "Reciprocal rank fusion"
    assert answer.usage.output_tokens > 0
    request = fake_anthropic.requests[-1]
    assert request.stream and "[1] Reciprocal rank fusion" in request.prompt
    # An LLM call is never a local activity: it stays on its own (rate-limited) task queue.
    history = await client.get_workflow_handle(answer.workflow_id).fetch_history()
    queues = [
        e.activity_task_scheduled_event_attributes.task_queue.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert queues == [settings.llm_task_queue]


async def test_embedding_batches_fall_back_to_cpu_when_no_gpu_worker_polls(client: Client, settings: Settings):
    settings = settings.model_copy(update={"gpu_embeddings": True, "gpu_fallback_after_s": 1.0})
    rag = RagClient(client, settings)
    async with running_workers(client, settings):  # no "gpu-embeddings" role anywhere
        result = await rag.ingest(IngestRequest(paths=[str(EXAMPLES_CORPUS)], batch_docs=4))
        assert (result.documents, result.failed) == (EXAMPLE_DOCS, 0)
        assert result.gpu_fallbacks >= 2  # every batch: at least two here (8 docs, 4 per batch)
        assert (await rag.stats()).chunks == result.chunks
    history = await client.get_workflow_handle(result.workflow_id).fetch_history()
    embed_queues = [
        e.activity_task_scheduled_event_attributes.task_queue.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "EmbedChunks"
    ]
    assert embed_queues.count(settings.gpu_embeddings_task_queue) == result.gpu_fallbacks
    assert embed_queues.count(settings.embeddings_task_queue) == result.gpu_fallbacks


async def test_embedding_batches_go_to_the_gpu_worker_when_one_polls(client: Client, settings: Settings):
    settings = settings.model_copy(update={"gpu_embeddings": True, "gpu_fallback_after_s": 10.0})
    rag = RagClient(client, settings)
    # A "GPU" worker (device from settings: CPU here) on the GPU queue, and no CPU embedding worker.
    async with running_workers(client, settings, roles=["workflows", "llm", "gpu-embeddings"]):
        result = await rag.ingest([str(EXAMPLES_CORPUS)])
    assert (result.documents, result.gpu_fallbacks, result.failed) == (EXAMPLE_DOCS, 0, 0)


async def test_long_ingests_continue_as_new_without_losing_anything(client: Client, settings: Settings):
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        handle = await rag.start_ingest(
            IngestRequest(paths=[str(EXAMPLES_CORPUS)], batch_docs=1, batches_per_run=2, concurrency=2)
        )
        result = await handle.result()
        assert (result.documents, result.failed) == (EXAMPLE_DOCS, 0)
        assert (await rag.stats()).chunks == result.chunks
        first_run = await client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id).describe()
    # 8 batches of one document each (the .jsonl is sliced one record per batch), two batches
    # per run: four runs, each continued as new but the last.
    assert first_run.status.name == "CONTINUED_AS_NEW"
    for _ in range(50):  # visibility is eventually consistent
        runs = sorted([w.status.name async for w in client.list_workflows(f"WorkflowId = '{handle.id}'")])
        if len(runs) == 4:
            break
        await asyncio.sleep(0.1)
    assert runs == ["COMPLETED"] + ["CONTINUED_AS_NEW"] * 3
