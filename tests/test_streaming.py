"""Streamed answers (``RagClient.ask_stream``, built on temporalio.contrib.workflow_streams), run
status (``get_result``, ``ingest_status``) and the blocking ``SyncRagClient``, end to end on the
real dev server; the LLM through the real Anthropic SDK against ragstate.testing's FakeAnthropic."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

import pytest
from paths import EXAMPLES_CORPUS
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from ragstate.client import (
    InvalidQueryError,
    LLMRejectedError,
    RagClient,
    RunNotFoundError,
    SyncRagClient,
)
from ragstate.models import AnswerMode, IngestRequest, RagQuery, RunState, StreamEvent, StreamEventType
from ragstate.settings import Settings
from ragstate.testing import FakeAnthropic, error, ok, stream_error
from ragstate.workers.runtime import running_workers
from ragstate.workflows import ALL_WORKFLOWS

EXAMPLE_DOCS = 8
ANSWER = (
    "Reciprocal rank fusion adds one over k plus the rank of a document in each list [1], "
    "so it needs no score calibration between keyword and vector search [1]."
)


def llm_settings(settings: Settings, server: FakeAnthropic, **update) -> Settings:
    return settings.model_copy(
        update={
            "anthropic_api_key": SecretStr("sk-ant-test"),
            "anthropic_base_url": server.url,
            "anthropic_stream": True,
            **update,
        }
    )


def kinds(events: list[StreamEvent]) -> list[str]:
    return [e.step if e.type is StreamEventType.step else e.type.value for e in events]


def tokens_of_last_attempt(events: list[StreamEvent]) -> str:
    """What a consumer shows: token text since the last ``synthesizing`` step."""
    last = max(i for i, e in enumerate(events) if e.step == "synthesizing")
    return "".join(e.text for e in events[last:] if e.type is StreamEventType.token)


async def wait_state(rag: RagClient, workflow_id: str, state: RunState, limit_s: float = 30):
    deadline = time.monotonic() + limit_s
    while True:
        status = await rag.get_result(workflow_id)
        if status.state is state or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.2)


async def test_llm_answer_streams_steps_then_tokens_then_final(
    client: Client, corpus_settings: Settings, fake_anthropic: FakeAnthropic, caplog
):
    settings = llm_settings(corpus_settings, fake_anthropic)
    rag = RagClient(client, settings)
    fake_anthropic.plan(ok(ANSWER, chunks=8, output_tokens=31))
    async with running_workers(client, settings):
        events = [e async for e in rag.ask_stream(RagQuery(question="How does reciprocal rank fusion work?", top_k=3))]

        # Rejected by the API: the stream ends with an error event, ask() raises the matching class.
        fake_anthropic.plan(error(400, "max_tokens: too large"), error(400, "max_tokens: too large"))
        failed = [e async for e in rag.ask_stream("How does reciprocal rank fusion work?")]
        with pytest.raises(LLMRejectedError) as raised:
            await rag.ask("How does reciprocal rank fusion work?")

    k = kinds(events)
    assert k[:3] == ["parsed", "retrieved", "synthesizing"], k
    assert k[-1] == "final" and k.count("final") == 1
    assert set(k[3:-1]) == {"token"} and len(k[3:-1]) >= 4, k  # several deltas, batched but one event each
    assert events[1].detail["keyword"] > 0 and events[1].detail["vector"] > 0
    assert events[1].detail["degraded"] == 0
    answer = events[-1].answer
    assert answer.mode is AnswerMode.llm and answer.answer == ANSWER
    assert "".join(e.text for e in events if e.type is StreamEventType.token) == answer.answer
    assert [c.number for c in answer.citations] == [1] and answer.usage.output_tokens == 31
    assert all(e.detail.get("attempt") == 1 for e in events if e.type is StreamEventType.token)
    # Every batch reached the workflow, none timed out on the way (the activity logs those).
    warned = [r.getMessage() for r in caplog.records if r.name == "ragstate.llm" and r.levelno >= logging.WARNING]
    assert not [m for m in warned if "answer tokens" in m], warned

    assert kinds(failed)[:3] == ["parsed", "retrieved", "synthesizing"] and kinds(failed)[-1] == "error"
    assert failed[-1].error_type == "LLMRequestRejected" and "max_tokens: too large" in failed[-1].error
    assert raised.value.kind == "LLMRequestRejected" and "400" in str(raised.value)

    # A streamed run (signals and poll updates in its history) replays deterministically.
    history = await client.get_workflow_handle(answer.workflow_id).fetch_history()
    await Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(history)


async def test_a_retried_synthesis_restarts_the_answer(
    client: Client, corpus_settings: Settings, fake_anthropic: FakeAnthropic
):
    settings = llm_settings(corpus_settings, fake_anthropic)
    rag = RagClient(client, settings)
    # Attempt 1: some text, then `overloaded_error` mid-stream (retryable); attempt 2 answers.
    fake_anthropic.plan(stream_error(text_before="Half an answer that"), ok(ANSWER, chunks=5))
    async with running_workers(client, settings):
        events = [e async for e in rag.ask_stream("How does reciprocal rank fusion work?")]

    k = kinds(events)
    assert k[:4] == ["parsed", "retrieved", "synthesizing", "token"], k
    assert events[3].text == "Half an answer that" and events[3].detail["attempt"] == 1
    restart = [e for e in events if e.step == "synthesizing"][-1]
    assert restart.detail == {"attempt": 2}
    assert k[-1] == "final"
    assert tokens_of_last_attempt(events) == events[-1].answer.answer == ANSWER


async def test_a_consumer_that_stops_early_leaves_the_query_running(
    client: Client, corpus_settings: Settings, fake_anthropic: FakeAnthropic
):
    fake_anthropic.delta_delay_s = 0.3  # ten deltas: about 3 s of answer
    settings = llm_settings(corpus_settings, fake_anthropic)
    rag = RagClient(client, settings)
    fake_anthropic.plan(ok(ANSWER, chunks=10))
    workflow_id = f"rag-query-stream-stop-{uuid.uuid4().hex[:8]}"
    async with running_workers(client, settings):
        seen = []
        async with contextlib.aclosing(rag.ask_stream("How does reciprocal rank fusion work?", workflow_id)) as events:
            async for event in events:
                seen.append(event)
                if event.type is StreamEventType.token:
                    break
        assert (await rag.get_result(workflow_id)).state is RunState.running
        status = await wait_state(rag, workflow_id, RunState.completed)

        # A late subscriber still reads the closed run's whole stream (a query on the history).
        replayed = [e async for e in rag.stream_events(workflow_id)]

    assert kinds(seen) == ["parsed", "retrieved", "synthesizing", "token"]
    assert ANSWER.startswith(seen[-1].text)
    assert status.state is RunState.completed and status.answer.answer == ANSWER
    assert status.answer.workflow_id == workflow_id and status.error is None
    assert kinds(replayed)[-1] == "final"
    assert "".join(e.text for e in replayed if e.type is StreamEventType.token) == ANSWER


async def test_offline_answers_stream_and_statuses(client: Client, settings: Settings):
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        result = await rag.ingest([str(EXAMPLES_CORPUS)])
        events = [e async for e in rag.ask_stream("How does reciprocal rank fusion combine rankings?")]
        bad_id = f"rag-query-bad-{uuid.uuid4().hex[:8]}"
        bad = [e async for e in rag.ask_stream(RagQuery(question="fine question", top_k=0), bad_id)]
        ingest = await rag.ingest_status(result.workflow_id)

        answer = events[-1].answer
        completed = await rag.get_result(answer.workflow_id)
        invalid = await rag.get_result(bad_id)

    assert kinds(events) == ["parsed", "retrieved", "synthesizing", "token", "final"]
    assert answer.mode is AnswerMode.offline_extractive
    assert events[3].text == answer.answer and answer.citations
    assert completed.state is RunState.completed and completed.answer == answer

    assert kinds(bad) == ["error"] and bad[0].error_type == "InvalidQuery"
    assert "top_k must be between 1 and 50" in bad[0].error
    assert invalid.state is RunState.failed and invalid.error_type == "InvalidQuery"
    assert "top_k must be between 1 and 50" in invalid.error

    assert ingest.state is RunState.completed and ingest.error is None
    assert ingest.result.documents == EXAMPLE_DOCS and ingest.result.failed == 0
    assert ingest.progress.finished and ingest.progress.documents == EXAMPLE_DOCS


async def test_running_and_stopped_runs_and_unknown_ids(client: Client, settings: Settings):
    rag = RagClient(client, settings)
    # No worker at all: the query stays running.
    handle = await rag.start_query("Is anybody there?")
    assert (await rag.get_result(handle.id)).state is RunState.running
    await handle.terminate("test over")
    stopped = await rag.get_result(handle.id)
    assert (stopped.state, stopped.error_type) == (RunState.failed, "Terminated")

    # A workflow worker but no embedding worker: the ingest indexes keywords, then waits for
    # EmbedChunks; its progress is queryable meanwhile.
    async with running_workers(client, settings, roles=["workflows"]):
        # The terminated query's stream (read back with a query, which needs a worker) ends with
        # an error event made from the run's status.
        events = [e async for e in rag.stream_events(handle.id)]
        assert kinds(events) == ["error"] and events[0].error_type == "Terminated"

        ingest = await rag.start_ingest(IngestRequest(paths=[str(EXAMPLES_CORPUS)]))
        deadline = time.monotonic() + 30
        while True:
            status = await rag.ingest_status(ingest.id)
            if (status.progress and status.progress.batches_discovered) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert status.state is RunState.running and status.result is None
        assert status.progress.batches_discovered >= 1 and not status.progress.finished
        await ingest.terminate("test over")
        stopped_ingest = await rag.ingest_status(ingest.id)
    assert stopped_ingest.state is RunState.failed and stopped_ingest.error

    with pytest.raises(RunNotFoundError):
        await rag.get_result("rag-query-no-such-run")
    with pytest.raises(RunNotFoundError):
        await rag.ingest_status("rag-ingest-no-such-run")


async def test_sync_client(client: Client, settings: Settings):
    def use_it() -> tuple:
        with SyncRagClient(settings) as rag:
            result = rag.ingest([str(EXAMPLES_CORPUS)])
            answer = rag.ask("What do the BM25 parameters k1 and b control?")
            status = rag.get_result(answer.workflow_id)
            ingest = rag.ingest_status(result.workflow_id)
            stats = rag.stats()
            events = list(rag.ask_stream("What is BM25?"))
            with pytest.raises(InvalidQueryError):
                rag.ask("")
        return result, answer, status, ingest, stats, events

    async with running_workers(client, settings):
        # The blocking client runs its own loop in a thread; this test's loop keeps serving the workers.
        result, answer, status, ingest, stats, events = await asyncio.to_thread(use_it)
    assert result.documents == EXAMPLE_DOCS and stats.documents == EXAMPLE_DOCS
    assert answer.citations and status.state is RunState.completed and status.answer == answer
    assert ingest.state is RunState.completed and ingest.result == result
    assert kinds(events) == ["parsed", "retrieved", "synthesizing", "token", "final"]
