"""The summarize stage of an ingest (ingest --summarize, IngestRequest.summarize, the SQS
handler), on the real dev server and, with a key, through the real SDK against the local
Anthropic API (ragstate.testing's FakeAnthropic and its Message Batches endpoints).

Offline: extractive summaries, labelled, stored with their documents, listed and found by
both search branches. A small run: one Messages API call per document, usage and cost per
document. A bulk run: one Message Batch at half the price, waited for by the workflow across a
restart of every worker, never made twice. The SQS handler's S3 events summarize when
RAGSTATE_SQS_SUMMARIZE is set.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client

from ragstate.answers.pricing import llm_cost
from ragstate.client import RagClient
from ragstate.gateway.inputs import ingest_request
from ragstate.gateway.schemas import IngestBody
from ragstate.ingest.summaries import SUMMARY_SYSTEM, custom_id
from ragstate.models import Branch, IngestRequest, IngestResult, RagQuery, Usage
from ragstate.settings import Settings
from ragstate.store.records import summary_chunk_id
from ragstate.testing import error, run_cli
from ragstate.testing.probes import wait_for
from ragstate.workers import sqs_ingest
from ragstate.workers.runtime import running_workers

TEXTS = {
    "bm25.md": "# BM25\n\nBM25 ranks documents by term frequency. It saturates term frequency with k1. "
    "Document length is normalised with b. The weather in the example is irrelevant.",
    "fusion.md": "# Fusion\n\nReciprocal rank fusion sums one over k plus rank. Fusion combines rankings. "
    "Score fusion normalises scores before it sums them.",
    "dense.txt": "Dense retrieval embeds queries and documents as vectors. Vectors are compared by cosine "
    "similarity. A bi-encoder embeds each text on its own.",
    "chunks.txt": "Chunking cuts documents into passages. Passages overlap by a few tokens. "
    "Each chunk is indexed with its document title.",
}


def corpus(tmp_path: Path, n: int = 3) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in list(TEXTS.items())[:n]:
        (docs / name).write_text(text)
    return docs


def with_key(settings: Settings, url: str, **extra) -> Settings:
    return settings.model_copy(
        update={"anthropic_api_key": SecretStr("sk-ant-test"), "anthropic_base_url": url, **extra}
    )


def test_a_batch_request_costs_half_the_list_price():
    usage = Usage(input_tokens=1000, output_tokens=200)
    direct, batch = llm_cost("claude-sonnet-5-5", usage), llm_cost("claude-sonnet-5-5", usage, batch=True)
    assert direct.usd == pytest.approx(0.004) and batch.usd == pytest.approx(0.002)
    assert batch.input_usd == pytest.approx(direct.input_usd / 2)


def test_http_and_sqs_bodies_carry_summarize(tmp_path: Path, settings: Settings):
    body = IngestBody(paths=["docs"], summarize=True)
    assert ingest_request(body, [tmp_path]).summarize is True
    parsed = sqs_ingest.parse_body(json.dumps({"paths": ["/x/a.md"], "summarize": True}), settings)
    assert parsed is not None and parsed.summarize is True


@pytest.mark.timeout(300)
async def test_offline_summaries_are_extractive_stored_listed_and_searchable(
    client: Client, settings: Settings, tmp_path: Path
):
    docs = corpus(tmp_path)
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        code, out = await run_cli(settings, "ingest", "--summarize", str(docs))
        assert code == 0, out
        out = " ".join(out.split())
        assert "summarized 3 documents (extractive; 0 had one)" in out, out

        listing = await rag.documents()
        assert len(listing.documents) == 3
        for d in listing.documents:
            s = d.summary
            assert s is not None and s.mode == "extractive" and s.cost.usd == 0 and s.model is None, d
            assert s.text and s.text.split(". ")[0].rstrip(".") in TEXTS[Path(d.source).name], s.text
        bm25 = next(d for d in listing.documents if d.source.endswith("bm25.md"))
        assert bm25.chunks == 1 and bm25.summary.text.startswith("BM25 ranks documents by term frequency.")

        # Both branches find the summary point, titled as the summary of its document.
        answer = await rag.ask(RagQuery(question=bm25.summary.text, synthesize=False))
        summary_id = summary_chunk_id(bm25.doc_id, bm25.version)
        for branch in (Branch.keyword, Branch.vector):
            assert summary_id in [h.chunk_id for h in answer.branch_rankings[branch]], branch
        cited = await rag.ask(RagQuery(question="How does BM25 saturate term frequency?", doc_ids=[bm25.doc_id]))
        assert "Summary: BM25" in {c.title for c in cited.citations}, cited.citations

        # Again: nothing changed, nothing summarized again, and the documents stay unchanged.
        again = await rag.ingest(IngestRequest(paths=[str(docs)], summarize=True))
        assert (again.unchanged, again.documents) == (3, 3), again
        assert again.summaries is not None and (again.summaries.summarized, again.summaries.already) == (0, 3)

        # A changed document: its old summary goes with its old version, a new one is made.
        (docs / "bm25.md").write_text("# BM25\n\nOkapi BM25 is a bag-of-words ranking function. It is tuned.")
        changed = await rag.ingest(IngestRequest(paths=[str(docs)], summarize=True))
        assert changed.summaries is not None and changed.summaries.summarized == 1, changed.summaries
        after = {d.doc_id: d for d in (await rag.documents()).documents}
        assert after[bm25.doc_id].summary.text.startswith("Okapi BM25 is a bag-of-words ranking function.")
        assert after[bm25.doc_id].chunks == 1  # the stale summary and chunks are gone


@pytest.mark.timeout(300)
async def test_a_small_run_calls_the_messages_api_per_document_with_usage_and_cost(
    client: Client, settings: Settings, tmp_path: Path, fake_anthropic
):
    from ragstate.testing import ok

    settings = with_key(settings, fake_anthropic.url)
    docs = corpus(tmp_path, n=2)
    text = "This zygomorphic note explains how retrieval ranks passages."
    fake_anthropic.plan(ok(text, input_tokens=120, output_tokens=30), ok(text, input_tokens=120, output_tokens=30))
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        result = await rag.ingest(IngestRequest(paths=[str(docs)], summarize=True))
        sm = result.summaries
        assert sm is not None and (sm.mode, sm.summarized, sm.failed, sm.batch_ids) == ("llm", 2, 0, []), sm
        expected = llm_cost(settings.anthropic_model, Usage(input_tokens=120, output_tokens=30))
        assert sm.cost_usd == pytest.approx(2 * expected.usd) and sm.usage.output_tokens == 60

        calls = [r for r in fake_anthropic.requests if r.path == "/v1/messages"]
        assert len(calls) == 2 and not fake_anthropic.batches.created
        assert all(r.system == SUMMARY_SYSTEM and "Summarize this document." in r.prompt for r in calls)
        assert {TEXTS[n].split(". ")[-1] in " ".join(r.prompt for r in calls) for n in ("bm25.md", "fusion.md")} == {
            True
        }
        for d in (await rag.documents()).documents:
            s = d.summary
            assert s is not None and (s.mode, s.text, s.model) == ("llm", text, settings.anthropic_model), d
            assert (s.usage.input_tokens, s.usage.output_tokens) == (120, 30) and s.cost.usd == expected.usd

        # The summary is what answers a question only it holds, and its citation says so.
        answer = await rag.ask("What is the zygomorphic note about?")
        assert answer.citations and answer.citations[0].title.startswith("Summary: "), answer.citations


async def a_look_fell_due_unserved(client: Client, ingest_id: str) -> bool:
    """The summarize child's wait timer fired and nobody took the workflow task that follows, or
    the look at the batch it scheduled is still waiting for a worker."""
    child_ids = [
        e.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
        async for e in client.get_workflow_handle(ingest_id).fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ]
    for child in map(client.get_workflow_handle, child_ids):
        kinds = [e.event_type async for e in child.fetch_history_events()]
        if EventType.EVENT_TYPE_TIMER_FIRED in kinds:
            after = kinds[len(kinds) - kinds[::-1].index(EventType.EVENT_TYPE_TIMER_FIRED) :]
            if EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED not in after:
                return True
        pending = (await child.describe()).raw_description.pending_activities
        if any(a.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED for a in pending):
            return True
    return False


@pytest.mark.timeout(300)
async def test_a_bulk_run_waits_for_one_message_batch_across_a_worker_restart(
    client: Client, settings: Settings, tmp_path: Path, fake_anthropic
):
    settings = with_key(settings, fake_anthropic.url, summary_batch_min=2, summary_poll_s=0.3, summary_poll_max_s=1.0)
    docs = corpus(tmp_path, n=4)
    fake_anthropic.batches.hold = True  # in progress until the workers have been replaced
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        handle = await rag.start_ingest(IngestRequest(paths=[str(docs)], summarize=True))
        for _ in range(600):
            made = fake_anthropic.batches.created
            if made and made[0].polls >= 1:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("no batch was created and polled")
    polls_before = made[0].polls  # every worker is gone; the workflow waits on its timer
    assert len(made[0].requests) == 4
    # Nobody looks while they are gone: wait (on the history, not a clock) until the next look
    # fell due with no worker to take it, then check that no poll reached the API.
    await wait_for(lambda: a_look_fell_due_unserved(client, handle.id), 60, "the next look at the batch to fall due")
    assert fake_anthropic.batches.created[0].polls == polls_before

    fake_anthropic.batches.hold = False
    fake_anthropic.batches.polls_to_end = polls_before + 2
    async with running_workers(client, settings):  # new workers resume the wait from history
        result = await asyncio.wait_for(handle.result(), 120)
    batches = fake_anthropic.batches.created
    assert len(batches) == 1 and batches[0].polls >= polls_before + 2, [(b.id, b.polls) for b in batches]
    sm = result.summaries
    assert sm is not None and (sm.mode, sm.summarized, sm.failed) == ("batch", 4, 0), sm
    assert sm.batch_ids == [batches[0].id]
    assert not [r for r in fake_anthropic.requests if r.path == "/v1/messages"]  # no direct call

    async with running_workers(client, settings):
        listing = await rag.documents()
    for d in listing.documents:
        s = d.summary
        assert s is not None and s.mode == "batch", d
        assert s.cost.usd == pytest.approx(llm_cost(s.model or "", s.usage).usd / 2) and s.cost.usd > 0
    assert sm.cost_usd == pytest.approx(sum(d.summary.cost.usd for d in listing.documents))


async def test_errored_and_expired_batch_requests_are_failures_with_their_reason_and_the_rest_is_kept(
    client: Client, settings: Settings, tmp_path: Path, fake_anthropic
):
    settings = with_key(settings, fake_anthropic.url, summary_batch_min=2, summary_poll_s=0.3, summary_poll_max_s=1.0)
    docs = corpus(tmp_path, n=4)
    # The first request of the batch is refused by the API, the last one expires unanswered.
    fake_anthropic.plan(error(529, "Overloaded"))
    fake_anthropic.batches.expire_from = 3
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        result = await asyncio.wait_for(rag.ingest(IngestRequest(paths=[str(docs)], summarize=True)), 120)
        listing = await rag.documents()
    assert (result.documents, result.failed) == (4, 0)  # every document is indexed all the same
    sm = result.summaries
    assert sm is not None and (sm.mode, sm.summarized, sm.failed) == ("batch", 2, 2), sm
    batch = fake_anthropic.batches.created[0]
    first, last = (custom_id_doc(batch.requests[i]["custom_id"], listing) for i in (0, 3))
    reasons = {f.doc_id: f.reason for f in sm.failures}
    assert reasons == {
        first: "batch request errored: overloaded_error: Overloaded",
        last: "batch request expired",
    }, reasons
    summarized = {d.doc_id for d in listing.documents if d.summary is not None}
    assert len(summarized) == 2 and not summarized & {first, last}
    assert len(fake_anthropic.batches.created) == 1  # not retried as a second batch


async def test_a_run_of_several_pages_makes_one_batch_per_page_and_adds_them_up(
    client: Client, settings: Settings, tmp_path: Path, fake_anthropic
):
    settings = with_key(
        settings,
        fake_anthropic.url,
        summary_batch_min=1,
        summary_page_docs=2,
        summary_poll_s=0.2,
        summary_poll_max_s=0.5,
    )
    docs = corpus(tmp_path, n=4)
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        result = await asyncio.wait_for(rag.ingest(IngestRequest(paths=[str(docs)], summarize=True)), 120)
        listing = await rag.documents()
    sm = result.summaries
    batches = fake_anthropic.batches.created
    assert sm is not None and (sm.mode, sm.summarized, sm.failed) == ("batch", 4, 0), sm
    assert [len(b.requests) for b in batches] == [2, 2] and sm.batch_ids == [b.id for b in batches]
    asked = [r["custom_id"] for b in batches for r in b.requests]
    assert len(set(asked)) == 4  # each document in exactly one page
    assert all(d.summary is not None and d.summary.mode == "batch" for d in listing.documents)
    assert sm.cost_usd == pytest.approx(sum(d.summary.cost.usd for d in listing.documents)) and sm.cost_usd > 0


def custom_id_doc(cid: str, listing) -> str:
    """The document a batch request's custom id stands for."""
    return next(d.doc_id for d in listing.documents if custom_id(d.doc_id, d.version) == cid)


@pytest.mark.timeout(300)
async def test_sqs_s3_events_summarize_when_configured(client: Client, settings: Settings, tmp_path: Path):
    docs = corpus(tmp_path, n=1)
    settings = settings.model_copy(update={"sqs_summarize": True})
    key = "bm25.md"
    event = {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "body": json.dumps(
                    {
                        "Records": [
                            {
                                "eventSource": "aws:s3",
                                "eventName": "ObjectCreated:Put",
                                "s3": {"bucket": {"name": "docs"}, "object": {"key": key}},
                            }
                        ]
                    }
                ),
            }
        ]
    }
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        response = await sqs_ingest.handle_event(event, client, settings, str(docs) + "/{key}")
        assert response == {"batchItemFailures": []}
        request = IngestRequest(paths=[str(docs / key)], summarize=True)
        result = await client.get_workflow_handle(rag.ingest_id(request), result_type=IngestResult).result()
        assert result.summaries is not None and result.summaries.summarized == 1, result
        (doc,) = (await rag.documents()).documents
        assert doc.summary is not None and doc.summary.mode == "extractive"


def test_creating_a_batch_again_returns_the_batch_already_made(settings: Settings, tmp_path: Path, fake_anthropic):
    """A retried CreateSummaryBatch (its worker lost after the API answered) makes no second
    batch; another page (another key) makes its own."""
    from ragstate.activities.anthropic_batches import BatchActivities
    from ragstate.activities.qdrant import QdrantActivities
    from ragstate.models import ChunkBatchInput, SourceRef
    from ragstate.models.summaries import SummaryBatchInput

    settings = with_key(settings, fake_anthropic.url)
    docs = corpus(tmp_path, n=2)
    indexed = QdrantActivities(settings).index_chunks(
        ChunkBatchInput(collection=settings.collection, refs=[SourceRef(path=str(p)) for p in sorted(docs.iterdir())])
    )
    acts = BatchActivities(settings)
    page = SummaryBatchInput(collection=settings.collection, key="wf/run/0", documents=indexed.documents)
    first = acts.create_summary_batch(page)
    assert acts.create_summary_batch(page) == first and len(fake_anthropic.batches.created) == 1
    (made,) = fake_anthropic.batches.created
    assert [r["custom_id"] for r in made.requests] == [custom_id(d.doc_id, d.version) for d in indexed.documents]
    other = acts.create_summary_batch(page.model_copy(update={"key": "wf/run/1"}))
    assert other != first and len(fake_anthropic.batches.created) == 2


@pytest.mark.timeout(300)
async def test_a_bulk_run_waits_for_its_batch_across_a_server_restart(
    tmp_path: Path, settings: Settings, fake_anthropic
):
    from ragstate.testing import RestartableServer

    server = RestartableServer(tmp_path / "temporal")
    try:
        settings = with_key(
            settings,
            fake_anthropic.url,
            temporal_address=server.address,
            server_outage_s=60.0,
            summary_batch_min=1,
            summary_poll_s=0.3,
            summary_poll_max_s=1.0,
        )
        docs = corpus(tmp_path, n=2)
        fake_anthropic.batches.hold = True
        rag = await RagClient.connect(settings)
        async with running_workers(rag.client, settings):
            handle = await rag.start_ingest(IngestRequest(paths=[str(docs)], summarize=True))
            for _ in range(600):
                if (made := fake_anthropic.batches.created) and made[0].polls >= 1:
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("no batch was created and polled")
        server.kill()  # while the workflow waits for the batch on its timer
        server.restart()
        fake_anthropic.batches.hold = False
        async with running_workers(rag.client, settings):
            result = await asyncio.wait_for(rag.follow(handle), 120)
        assert len(fake_anthropic.batches.created) == 1
        assert result.summaries is not None and (result.summaries.mode, result.summaries.summarized) == ("batch", 2)
    finally:
        server.stop()
