"""Reliability of the LLM step and of the query path (the reliability issue's defects): a
stream without its final event, ``max_tokens`` and ``refusal`` answers, messages of a last
attempt, a question that is not UTF-8, the durable cache of completed answers, a branch or an
LLM step that no worker takes, the extractive fallback, and the time to recover from a
worker that dies mid-answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from llm_calls import KEY, MODEL, llm_settings, synthesis_input, synthesize
from rich.console import Console
from temporalio import activity, workflow
from temporalio.api.enums.v1 import TaskQueueType, TimeoutType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from ragstate.activities.anthropic_llm import AnthropicActivities
from ragstate.cli.render import print_answer
from ragstate.client import InvalidQueryError, RagClient, RagError
from ragstate.contracts import ErrorType
from ragstate.models import AnswerMode, RagAnswer, SynthesisInput, SynthesisResult
from ragstate.settings import LlmFallback, Settings
from ragstate.testing import FakeAnthropic, cut, error, max_tokens, ok, refusal, worker_env
from ragstate.testing.probes import pollers, wait_for
from ragstate.workers.runtime import build_workers, running_workers
from ragstate.workflows.query import LLM_RETRY
from ragstate.workflows.query_policies import LLM_HEARTBEAT

QUESTION = "How does reciprocal rank fusion combine rankings?"


def attempt_env(attempt: int, maximum_attempts: int = LLM_RETRY.maximum_attempts) -> ActivityEnvironment:
    """An activity environment for attempt ``attempt`` of the query workflow's LLM retry policy."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, attempt=attempt, retry_policy=RetryPolicy(maximum_attempts=maximum_attempts)
    )
    return env


# ---------------------------------------------------------------------------------------------
# 1. A truncated answer never passes as complete
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("close_connection", [False, True], ids=["clean-end", "connection-closed"])
async def test_stream_without_message_stop_is_a_transient_failure(
    fake_anthropic: FakeAnthropic, tmp_path: Path, close_connection: bool
):
    fake_anthropic.plan(cut(after_deltas=2, close_connection=close_connection))
    with pytest.raises(ApplicationError) as raised:
        await synthesize(llm_settings(fake_anthropic, anthropic_stream=True, data_dir=tmp_path))
    err = raised.value
    assert err.type == ErrorType.LLM_UNAVAILABLE and not err.non_retryable
    assert "message_stop" in err.message, err.message
    assert len(fake_anthropic.requests) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_max_tokens_answer_is_kept_and_flagged_truncated(fake_anthropic: FakeAnthropic, tmp_path, stream):
    fake_anthropic.plan(max_tokens("BM25 ranks documents by term frequency [1] and"))
    result = await synthesize(llm_settings(fake_anthropic, anthropic_stream=stream, data_dir=tmp_path))
    assert result.mode is AnswerMode.llm
    assert result.answer == "BM25 ranks documents by term frequency [1] and"
    assert result.truncated is True


async def test_complete_answer_is_not_flagged_truncated(fake_anthropic: FakeAnthropic, tmp_path: Path):
    result = await synthesize(llm_settings(fake_anthropic, anthropic_stream=True, data_dir=tmp_path))
    assert result.truncated is False


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_refusal_is_a_clear_failure_not_an_answer(fake_anthropic: FakeAnthropic, tmp_path: Path, stream):
    fake_anthropic.plan(refusal("I can't"))
    with pytest.raises(ApplicationError) as raised:
        await synthesize(llm_settings(fake_anthropic, anthropic_stream=stream, data_dir=tmp_path))
    err = raised.value
    assert err.type == ErrorType.LLM_REQUEST_REJECTED and err.non_retryable
    assert "declined to answer" in err.message and "refusal" in err.message, err.message


async def test_unexpected_stop_reason_is_reported(fake_anthropic: FakeAnthropic, tmp_path: Path):
    fake_anthropic.plan(ok("Let me look that up", stop_reason="pause_turn"))
    with pytest.raises(ApplicationError) as raised:
        await synthesize(llm_settings(fake_anthropic, data_dir=tmp_path))
    assert raised.value.type == ErrorType.LLM_REQUEST_REJECTED and raised.value.non_retryable
    assert "unexpected stop_reason 'pause_turn'" in raised.value.message


def test_render_shows_a_truncated_answer():
    console = Console(record=True, width=200)
    answer = RagAnswer(
        question="q", answer="BM25 ranks [1] and", citations=[], mode=AnswerMode.llm, model=MODEL, truncated=True
    )
    print_answer(console, answer)
    assert "truncated" in console.export_text()


# ---------------------------------------------------------------------------------------------
# 3. Messages of a last attempt; a question that is not UTF-8
# ---------------------------------------------------------------------------------------------


async def test_last_attempt_does_not_promise_a_retry(fake_anthropic: FakeAnthropic, tmp_path: Path):
    settings = llm_settings(fake_anthropic, data_dir=tmp_path)
    fake_anthropic.plan(error(503), error(503))
    with pytest.raises(ApplicationError) as raised:
        await synthesize(settings, attempt_env(2))
    assert "attempt 2 of 6" in raised.value.message and "will retry" not in raised.value.message
    with pytest.raises(ApplicationError) as raised:
        await synthesize(settings, attempt_env(6))
    assert "attempt 6 of 6" in raised.value.message, raised.value.message
    assert "retry" not in raised.value.message.replace("x-should-retry", "")


async def test_start_query_refuses_a_question_that_is_not_utf8(client: Client, settings: Settings):
    question = b"caf\xe9 au lait?".decode("utf-8", "surrogateescape")  # what argv gives for Latin-1 bytes
    with pytest.raises(InvalidQueryError) as raised:
        await RagClient(client, settings).start_query(question)
    assert "UTF-8" in str(raised.value)


# ---------------------------------------------------------------------------------------------
# 5. A completed LLM answer is never paid for twice
# ---------------------------------------------------------------------------------------------


async def test_a_retry_returns_the_cached_answer_without_a_request(fake_anthropic: FakeAnthropic, tmp_path: Path):
    settings = llm_settings(fake_anthropic, anthropic_stream=True, data_dir=tmp_path)
    fake_anthropic.plan(ok("RRF sums reciprocal ranks [1].", input_tokens=50, output_tokens=7))
    first = await synthesize(settings, attempt_env(1))
    assert len(list((tmp_path / "llm-cache").glob("*.json"))) == 1

    again = await synthesize(settings, attempt_env(2))
    # The same answer, usage and cost; only the attempt that returned it differs.
    assert again.model_copy(update={"attempt": first.attempt}) == first and again.usage.output_tokens == 7
    assert (first.attempt, again.attempt) == (1, 2)
    assert len(fake_anthropic.requests) == 1  # the retry cost nothing

    # Another request (other settings) is not served from the cache.
    await synthesize(settings.model_copy(update={"anthropic_max_tokens": 77}), attempt_env(2))
    assert len(fake_anthropic.requests) == 2


async def test_a_first_attempt_always_asks_the_api(fake_anthropic: FakeAnthropic, tmp_path: Path):
    """Only a retry reads the cache: a new question gets a fresh answer even for the same prompt."""
    settings = llm_settings(fake_anthropic, data_dir=tmp_path)
    await synthesize(settings, attempt_env(1))
    await synthesize(settings, attempt_env(1))
    assert len(fake_anthropic.requests) == 2


class FailsAfterTheAnswer(AnthropicActivities):
    """A worker-side fault after the API answered (the worker dies before reporting): the
    first attempt fails once its answer is complete."""

    @activity.defn(name="Synthesize")
    async def synthesize(self, inp: SynthesisInput) -> SynthesisResult:
        result = await super().synthesize(inp)
        if activity.info().attempt == 1:
            raise ApplicationError("worker lost after the answer", type=ErrorType.LLM_UNAVAILABLE)
        return result


@workflow.defn(name="SynthesizeRetryProbe", sandboxed=False)
class SynthesizeRetryProbe:
    @workflow.run
    async def run(self, inp: SynthesisInput, llm_task_queue: str) -> SynthesisResult:
        return await workflow.execute_activity(
            "Synthesize",
            inp,
            result_type=SynthesisResult,
            task_queue=llm_task_queue,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100), maximum_attempts=LLM_RETRY.maximum_attempts
            ),
        )


async def test_a_retry_after_a_completed_answer_makes_no_new_request(
    client: Client, settings: Settings, fake_anthropic: FakeAnthropic
):
    settings = llm_settings(fake_anthropic, settings, anthropic_stream=True)
    runs = 10
    faulty = FailsAfterTheAnswer(settings)
    workers = build_workers(client, settings, ["llm"], replace=[faulty.synthesize])
    workers.append(Worker(client, task_queue=settings.workflow_task_queue, workflows=[SynthesizeRetryProbe]))
    async with workers[0], workers[1]:
        results = await asyncio.gather(
            *(
                client.execute_workflow(
                    SynthesizeRetryProbe.run,
                    args=[synthesis_input(), settings.llm_task_queue],
                    id=f"retry-probe-{uuid.uuid4().hex}",
                    task_queue=settings.workflow_task_queue,
                    execution_timeout=timedelta(seconds=60),
                )
                for _ in range(runs)
            )
        )
    assert all(r.mode is AnswerMode.llm and r.answer for r in results)
    # Every run failed once after its answer and was retried: each answer was paid for once.
    assert len(fake_anthropic.requests) == runs


# ---------------------------------------------------------------------------------------------
# 2. A step no worker takes, and an LLM that fails for good, do not hang or fail the query
# ---------------------------------------------------------------------------------------------


def activity_events(history: WorkflowHistory, name: str) -> tuple[HistoryEvent, list[HistoryEvent]]:
    """The ``ActivityTaskScheduled`` event of the one activity ``name`` in ``history``, and the
    events of its attempts and end (started, completed, failed, timed out)."""
    [scheduled] = [e for e in history.events if e.activity_task_scheduled_event_attributes.activity_type.name == name]
    later = [
        e
        for e in history.events
        if scheduled.event_id
        in (
            e.activity_task_started_event_attributes.scheduled_event_id,
            e.activity_task_completed_event_attributes.scheduled_event_id,
            e.activity_task_failed_event_attributes.scheduled_event_id,
            e.activity_task_timed_out_event_attributes.scheduled_event_id,
        )
    ]
    return scheduled, later


async def test_no_embeddings_worker_degrades_the_answer_in_seconds(client: Client, corpus_settings: Settings):
    settings = corpus_settings
    rag = RagClient(client, settings)
    async with running_workers(client, settings, roles=["workflows", "llm"]):  # nobody polls embeddings
        answer = await asyncio.wait_for(rag.ask(QUESTION), timeout=60)
    assert answer.degraded and answer.citations
    assert answer.degraded_reasons == [f"VectorSearch failed: no worker on {settings.embeddings_task_queue}"]
    # In seconds: the branch gave up on its schedule-to-start timeout, not on a longer one.
    history = await client.get_workflow_handle(answer.workflow_id).fetch_history()
    scheduled, [timed_out] = activity_events(history, "VectorSearch")
    wait = scheduled.activity_task_scheduled_event_attributes.schedule_to_start_timeout.ToTimedelta()
    assert wait == timedelta(seconds=settings.step_schedule_to_start_s), wait
    timeout = timed_out.activity_task_timed_out_event_attributes.failure.timeout_failure_info.timeout_type
    assert timeout == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START, timed_out


async def test_no_llm_worker_falls_back_to_the_extractive_answer(
    client: Client, corpus_settings: Settings, fake_anthropic: FakeAnthropic
):
    settings = llm_settings(fake_anthropic, corpus_settings, anthropic_stream=True)
    async with running_workers(client, settings, roles=["workflows", "embeddings"]):  # nobody polls llm
        answer = await asyncio.wait_for(RagClient(client, settings).ask(QUESTION), timeout=60)
    assert answer.mode is AnswerMode.offline_extractive and answer.citations
    assert answer.degraded_reasons == [f"Synthesize failed: no worker on {settings.llm_task_queue}"]
    assert fake_anthropic.requests == []
    assert [t.step for t in answer.timings][-2:] == ["Synthesize", "ExtractiveAnswer"]
    console = Console(record=True, width=200)
    print_answer(console, answer)
    printed = console.export_text()
    assert "extractive FALLBACK" in printed and "no worker on" in printed


async def test_an_llm_rate_limited_through_every_attempt_falls_back(
    client: Client, corpus_settings: Settings, fake_anthropic: FakeAnthropic
):
    settings = llm_settings(fake_anthropic, corpus_settings, anthropic_stream=True)
    fake_anthropic.plan(*[error(429, retry_after_ms="10") for _ in range(LLM_RETRY.maximum_attempts)])
    async with running_workers(client, settings):
        answer = await asyncio.wait_for(RagClient(client, settings).ask(QUESTION), timeout=60)
    assert len(fake_anthropic.requests) == LLM_RETRY.maximum_attempts
    assert answer.mode is AnswerMode.offline_extractive and answer.degraded and answer.citations
    [reason] = answer.degraded_reasons
    assert reason.startswith("Synthesize failed: Anthropic API answered 429 (attempt 6 of 6)"), reason


async def test_llm_fallback_fail_keeps_the_failure(
    client: Client, corpus_settings: Settings, fake_anthropic: FakeAnthropic
):
    settings = llm_settings(fake_anthropic, corpus_settings, llm_fallback=LlmFallback.fail)
    fake_anthropic.plan(*[error(429, retry_after_ms="10") for _ in range(LLM_RETRY.maximum_attempts)])
    async with running_workers(client, settings):
        with pytest.raises(RagError) as raised:
            await asyncio.wait_for(RagClient(client, settings).ask(QUESTION), timeout=60)
    assert raised.value.kind == ErrorType.LLM_RATE_LIMITED


async def test_a_refusal_is_not_replaced_by_the_extractive_answer(
    client: Client, corpus_settings: Settings, fake_anthropic: FakeAnthropic
):
    settings = llm_settings(fake_anthropic, corpus_settings)
    fake_anthropic.plan(refusal())
    async with running_workers(client, settings):
        with pytest.raises(RagError) as raised:
            await asyncio.wait_for(RagClient(client, settings).ask(QUESTION), timeout=60)
    assert raised.value.kind == ErrorType.LLM_REQUEST_REJECTED and "declined to answer" in str(raised.value)


# ---------------------------------------------------------------------------------------------
# 4. A worker lost mid-answer is noticed by its heartbeat, and the answer asked again (the fault
#    suite, `make chaos`, measures how soon: "worker SIGKILL mid-answer", within 15 s)
# ---------------------------------------------------------------------------------------------


def start_llm_worker(settings: Settings, server: FakeAnthropic, log: Path) -> subprocess.Popen:
    """``python -m ragstate.workers.llm`` on this test's server and queues, asking ``server``."""
    # worker_env writes every set field of settings: these replace theirs (keyword arguments would clash).
    env = {
        **worker_env(settings, settings.data_dir),
        "RAGSTATE_ANTHROPIC_API_KEY": KEY,
        "RAGSTATE_ANTHROPIC_BASE_URL": server.url,
        "RAGSTATE_ANTHROPIC_MODEL": MODEL,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ragstate.workers.llm"], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


async def test_an_llm_worker_killed_mid_answer_is_noticed_by_its_heartbeat_and_replaced(
    client: Client, corpus_settings: Settings, fake_anthropic: FakeAnthropic, tmp_path: Path
):
    settings = llm_settings(fake_anthropic, corpus_settings, anthropic_stream=True)
    fake_anthropic.plan(ok(delay_s=60))  # the first attempt waits on a slow answer
    log = tmp_path / "llm-worker.log"
    llm_worker = start_llm_worker(settings, fake_anthropic, log)
    rag = RagClient(client, settings)

    async def llm_polled() -> list[str]:
        return await pollers(client, settings.llm_task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)

    async def asked() -> bool:
        return bool(fake_anthropic.requests)

    try:
        # Else the query's Synthesize would wait on no worker and take the extractive fallback.
        await wait_for(llm_polled, 60, "the LLM worker polling", alive=llm_worker)
        async with running_workers(client, settings, roles=["workflows", "embeddings"]):
            handle = await rag.start_query(QUESTION)
            await wait_for(asked, 30, f"the LLM request (worker log: {log})", alive=llm_worker)
            llm_worker.send_signal(signal.SIGKILL)  # mid-answer: the API has the request, no answer yet
            async with running_workers(client, settings, roles=["llm"]):
                answer: RagAnswer = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        if llm_worker.poll() is None:
            llm_worker.kill()
        llm_worker.wait(timeout=10)
    assert len(fake_anthropic.requests) == 2  # the killed attempt's and its retry's
    assert answer.mode is AnswerMode.llm and not answer.degraded
    # Noticed by the heartbeat timeout (10 s), not the 120 s start-to-close: the second attempt
    # is the one that answered, and the first failed for want of a heartbeat.
    scheduled, [started, _completed] = activity_events(await handle.fetch_history(), "Synthesize")
    assert scheduled.activity_task_scheduled_event_attributes.heartbeat_timeout.ToTimedelta() == LLM_HEARTBEAT
    attempt = started.activity_task_started_event_attributes
    assert attempt.attempt == 2, attempt
    assert attempt.last_failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT, attempt


@pytest.mark.timeout(300)
async def test_a_busy_llm_queue_is_waited_for_not_taken_for_an_absent_worker(
    client: Client, corpus_settings: Settings, fake_anthropic: FakeAnthropic
):
    """Before: with the LLM worker polling but busy, every question that waited past the
    schedule-to-start bound came back extractive, "no worker on <llm queue>". One LLM call at a
    time, each slower than the bound, and three questions at once: all three answered by the LLM."""
    settings = llm_settings(fake_anthropic, corpus_settings, llm_max_concurrent=1, step_schedule_to_start_s=0.5)
    fake_anthropic.plan(*[ok(f"Fusion combines rankings, answer {i}.", delay_s=1.5) for i in range(3)])
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        answers = await asyncio.gather(*(rag.ask(QUESTION) for _ in range(3)))
    assert [(a.mode, a.degraded_reasons) for a in answers] == [(AnswerMode.llm, [])] * 3, answers
    assert len([r for r in fake_anthropic.requests if r.path.endswith("/messages")]) == 3


@pytest.mark.timeout(300)
async def test_a_stopped_llm_worker_is_still_noticed_as_absent(
    client: Client, corpus_settings: Settings, fake_anthropic: FakeAnthropic
):
    """A worker that stopped stays in the server's list of pollers for minutes: the step gives it
    up once no poll is recent (not after the whole backlog wait), with "no worker on" as reason."""
    settings = llm_settings(fake_anthropic, corpus_settings, step_schedule_to_start_s=1.0)
    rag = RagClient(client, settings)
    fake_anthropic.plan(ok("Fusion combines rankings."))
    async with running_workers(client, settings, roles=["workflows", "embeddings"]):
        async with running_workers(client, settings, roles=["llm"]):
            assert (await rag.ask(QUESTION)).mode is AnswerMode.llm
        answer = await asyncio.wait_for(rag.ask(QUESTION), timeout=100)  # the backlog wait is 120 s
    assert answer.mode is AnswerMode.offline_extractive
    assert [
        r.startswith(f"Synthesize failed: no worker on {settings.llm_task_queue}") for r in answer.degraded_reasons
    ] == [True], answer.degraded_reasons
