"""Feedback on answers on the real dev server: a rating is stored durably beside the store (with
the question, what the answer cited and the collection version), a re-rating replaces it, an
unknown run or bad input is refused clearly; over HTTP and the CLI too; and the round trip: the
ratings exported as a BEIR-layout judged set that ``ragstate eval`` scores and ``reindex --gate``
gates on."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from gateway_client import app_on, assert_error, free_port, http
from paths import EXAMPLES_CORPUS
from temporalio.client import Client

from ragstate.client import RagClient, SyncRagClient
from ragstate.contracts import RAG_KIND, Workflow
from ragstate.errors import RagError, RunNotFoundError
from ragstate.evaluation.beir import BeirDataset
from ragstate.models import AnswerMode, FeedbackRecord
from ragstate.settings import Settings, StoreBackend
from ragstate.store import list_collections
from ragstate.store.feedback import QDRANT_COLLECTION, feedback_path, read, upsert
from ragstate.store.qdrant_server import INTERNAL_PREFIX
from ragstate.store.versions import live_version
from ragstate.temporal.connection import connect
from ragstate.testing import run_cli, run_cli_in_process
from ragstate.workers.runtime import running_workers


def ratings(metrics_text: str, rating: str) -> float:
    """The ``ragstate_feedback_total`` sample of one rating on a Prometheus page (0 when none)."""
    lines = metrics_text.splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("ragstate_feedback_total{") and f'rating="{rating}"' in line
    )


#: The document id of examples/corpus/bm25.md: a file's id is its resolved path.
BM25 = str((EXAMPLES_CORPUS / "bm25.md").resolve())


def rating(query_id: str, good: bool, collection: str = "docs") -> FeedbackRecord:
    return FeedbackRecord(
        query_id=query_id,
        good=good,
        question=f"question of {query_id}",
        collection=collection,
        mode=AnswerMode.offline_extractive,
        created_at=datetime.now(UTC),
    )


def test_the_store_keeps_one_rating_per_query_run_on_either_backend(backend_settings: Settings):
    """The embedded store's file and Qdrant's own collection alike: a re-rating replaces the
    earlier one and counts as the newest; collections do not mix; concurrent writers lose none."""
    settings = backend_settings
    for record in (rating("a", True), rating("b", True), rating("a", False), rating("c", True, "other")):
        upsert(settings, record)
    assert [(r.query_id, r.good) for r in read(settings, "docs")] == [("b", True), ("a", False)]
    assert [r.query_id for r in read(settings, "other")] == ["c"] and read(settings, "none") == []
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: upsert(settings, rating(f"q{i}", True, "busy")), range(24)))
    assert sorted(r.query_id for r in read(settings, "busy")) == sorted(f"q{i}" for i in range(24))
    if settings.store_backend is StoreBackend.qdrant:
        assert QDRANT_COLLECTION.startswith(INTERNAL_PREFIX) and QDRANT_COLLECTION not in list_collections(settings)
    else:
        assert feedback_path(settings, "docs").is_file()


async def test_a_rating_is_stored_with_the_answer_and_a_rerating_replaces_it(client: Client, corpus_settings: Settings):
    settings = corpus_settings
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        answer = await rag.ask("What does reciprocal rank fusion do?")
        first = await rag.feedback(answer.workflow_id, good=True, note="spot on")
        cited = list(dict.fromkeys(c.doc_id for c in answer.citations))
        assert first.cited == cited and cited
        assert (first.question, first.collection) == (answer.question, settings.collection)
        assert first.version == settings.collection  # never re-indexed: the name is its own version
        assert first.feedback_id.startswith(f"{answer.workflow_id}-feedback-")
        desc = await client.get_workflow_handle(first.feedback_id).describe()
        assert desc.workflow_type == Workflow.FEEDBACK and desc.typed_search_attributes.get(RAG_KIND) == "feedback"
        assert answer.workflow_id in (await desc.static_details() or "")

        second = await rag.feedback(answer.workflow_id, good=False, sources=[cited[-1], cited[-1]])
        records = await rag.feedback_records()
    assert [(r.query_id, r.good, r.sources, r.note) for r in records] == [(answer.workflow_id, False, [cited[-1]], "")]
    assert records[0].feedback_id == second.feedback_id
    assert feedback_path(settings, settings.collection).is_file()  # on disk, not only in history


async def test_an_unknown_run_or_bad_input_is_refused(client: Client, corpus_settings: Settings):
    settings = corpus_settings
    rag = RagClient(client, settings)
    with pytest.raises(RunNotFoundError, match="no query with workflow id"):
        await rag.feedback("rag-query-never-asked", good=True)
    with pytest.raises(RagError, match="note") as raised:
        await rag.feedback("rag-query-never-asked", good=True, note="x" * 2001)
    assert raised.value.kind == "InvalidRequest"


async def test_rating_over_http_is_counted_and_refuses_unknown_runs_and_bad_bodies(corpus_settings: Settings):
    """POST /v1/queries/{id}/feedback, behind the API key: the stored record; 404 for an id that
    is no query run, 400 (the gateway's JSON error, never 422) for a body it cannot take; the
    workers count the ratings by good and bad on their metrics endpoint."""
    bind = f"127.0.0.1:{free_port()}"
    settings = corpus_settings.model_copy(update={"metrics_bind": bind})
    client = await connect(settings)  # the metrics endpoint belongs to this client's runtime
    async with running_workers(client, settings), http(app_on(client, settings, api_keys="fb-key")) as gateway:
        gateway.headers["x-api-key"] = "fb-key"
        answer = await RagClient(client, settings).ask("How does BM25 saturate term frequency?")
        url = f"/v1/queries/{answer.workflow_id}/feedback"
        r = await gateway.post(url, json={"good": False, "sources": [BM25], "note": "cite the BM25 page"})
        assert r.status_code == 200, r.text
        assert (r.json()["good"], r.json()["sources"], r.json()["question"]) == (False, [BM25], answer.question)

        assert_error(await gateway.post(url, json={"good": True}, headers={"x-api-key": "wrong"}), 401, "Unauthorized")
        assert_error(await gateway.post("/v1/queries/rag-query-nope/feedback", json={"good": True}), 404, "NotFound")
        for body in ({}, {"good": "yes"}, {"good": True, "stars": 5}, {"good": True, "sources": ["a\tb"]}):
            assert_error(await gateway.post(url, json=body), 400, "InvalidRequest")
        assert_error(await gateway.post(url, json={"good": True, "note": "x" * 2001}), 400, "InvalidRequest")
        async with httpx.AsyncClient(timeout=10) as scraper:
            metrics = (await scraper.get(f"http://{bind}/metrics")).text
    assert (ratings(metrics, "bad"), ratings(metrics, "good")) == (1, 0)


async def test_the_cli_rates_and_says_what_is_wrong(client: Client, corpus_settings: Settings):
    settings = corpus_settings
    async with running_workers(client, settings):
        answer = await RagClient(client, settings).ask("What does reciprocal rank fusion do?")
        code, out = await run_cli_in_process(settings, "feedback", answer.workflow_id, "--good", "--note", "clear")
        assert code == 0 and "rated" in out and "good" in out, out
        code, out = await run_cli_in_process(settings, "feedback", answer.workflow_id, "--good", "--bad")
        assert code == 2 and "exactly one of --good or --bad" in out, out
        code, out = await run_cli_in_process(settings, "feedback", answer.workflow_id)
        assert code == 2, out
        code, out = await run_cli_in_process(settings, "feedback", "rag-query-nope", "--bad")
        assert code == 1 and "no query with workflow id" in out, out

        def read_back() -> list[FeedbackRecord]:  # the blocking client reads what the CLI stored
            with SyncRagClient(settings) as rag:
                return rag.feedback_records()

        [record] = [r for r in await asyncio.to_thread(read_back) if r.query_id == answer.workflow_id]
    assert (record.good, record.note) == (True, "clear")


@pytest.mark.timeout(600)
async def test_the_round_trip_rate_export_then_eval_and_gate_a_reindex_on_the_export(
    client: Client, settings: Settings, tmp_path: Path
):
    """Answers rated through the client, HTTP and the CLI; exported; the export is what `eval`
    scores and what `reindex --gate` switches on, with the collection's own document ids."""
    rag, name, judged = RagClient(client, settings), settings.collection, tmp_path / "judged"
    async with running_workers(client, settings):
        await rag.ingest([str(EXAMPLES_CORPUS)])
        live_ids = {d.doc_id for d in (await rag.documents()).documents}
        rrf, bm25, vague, store = [
            await rag.ask(q)
            for q in (
                "What does reciprocal rank fusion do?",
                "How does BM25 saturate term frequency?",
                "Tell me something.",
                "Where are vectors stored?",
            )
        ]
        await rag.feedback(rrf.workflow_id, good=True)
        async with http(app_on(client, settings)) as gateway:
            body = {"good": False, "sources": [BM25, "/no/such/doc.md"]}
            r = await gateway.post(f"/v1/queries/{bm25.workflow_id}/feedback", json=body)
            assert r.status_code == 200, r.text
        code, out = await run_cli_in_process(settings, "feedback", vague.workflow_id, "--bad")
        assert code == 0, out
        code, out = await run_cli_in_process(settings, "feedback", store.workflow_id, "--bad", "--source", "faq-qdrant")
        assert code == 0, out

        code, out = await run_cli_in_process(settings, "feedback", "export", str(judged))
        out = " ".join(out.split())
        assert code == 0, out
        assert "exported 3 judged questions" in out and "left out 1 bad ratings" in out, out
        assert "left out 1 rated documents the collection no longer holds" in out, out
        dataset = BeirDataset.load(judged)
        assert set(dataset.queries) == {rrf.workflow_id, bm25.workflow_id, store.workflow_id}
        assert dataset.qrels[bm25.workflow_id] == {BM25: 1} and dataset.qrels[store.workflow_id] == {"faq-qdrant": 1}
        assert dataset.qrels[rrf.workflow_id] == dict.fromkeys({c.doc_id for c in rrf.citations}, 1)
        corpus = [json.loads(line) for line in (judged / "corpus.jsonl").read_text().splitlines()]
        assert {d["_id"] for d in corpus} == live_ids

        code, out = await run_cli_in_process(
            settings, "reindex", "--collection", name, "--gate", str(judged), "--grace", "0"
        )
        assert code == 0, out
        assert "nDCG@10: live" in " ".join(out.split()), out
        assert live_version(settings, name) != name  # switched to the new version, gated on the ratings

    code, out = await run_cli(settings, "eval", str(judged), "--json", limit_s=300)
    assert code == 0, out
    scores = json.loads(out.strip().splitlines()[-1])
    assert scores["hybrid"]["ndcg@10"] > 0.5, scores  # the rated questions find what their ratings call relevant
