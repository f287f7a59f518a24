"""The Synthesize activity through the real anthropic SDK against a local Messages-API server
(ragstate.testing's FakeAnthropic): answers (JSON and streamed), the mapping of API errors to what
Temporal does with them, offline mode, the key file, the default model; then retries for real
on the Temporal dev server, with a small workflow that calls only Synthesize.
"""

from __future__ import annotations

import asyncio
import typing
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import anthropic
    import pytest
    from anthropic._data import DEPRECATED_MODELS
    from llm_calls import KEY, MODEL, QUESTION, SOURCES, llm_settings, synthesis_input, synthesize
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client, WorkflowFailureError
    from temporalio.exceptions import ActivityError, ApplicationError
    from temporalio.testing import ActivityEnvironment
    from temporalio.worker import Worker

    from ragstate.activities import anthropic_llm
    from ragstate.activities.anthropic_llm import AnthropicActivities, retry_after
    from ragstate.answers.citations import SYSTEM_PROMPT, cited_numbers
    from ragstate.contracts import ErrorType
    from ragstate.models import AnswerMode, SynthesisInput, SynthesisResult
    from ragstate.settings import Settings
    from ragstate.testing import FakeAnthropic, drop, error, ok, stream_error
    from ragstate.workers.runtime import build_workers
    from ragstate.workflows.query import LLM_RETRY

# ---------------------------------------------------------------------------------------------
# Activity level (ActivityEnvironment, real SDK, fake server)
# ---------------------------------------------------------------------------------------------


async def test_json_answer_and_the_request_sent(fake_anthropic: FakeAnthropic):
    fake_anthropic.plan(
        ok("BM25 weighs term frequency against document frequency [1].", input_tokens=321, output_tokens=17)
    )
    result = await synthesize(llm_settings(fake_anthropic, anthropic_max_tokens=333))

    assert result.answer == "BM25 weighs term frequency against document frequency [1]."
    assert result.mode is AnswerMode.llm
    assert result.model == MODEL
    assert (result.usage.input_tokens, result.usage.output_tokens) == (321, 17)

    [req] = fake_anthropic.requests
    assert (req.method, req.path) == ("POST", "/v1/messages")
    assert req.model == MODEL
    assert req.body["max_tokens"] == 333
    assert not req.stream
    assert req.api_key == KEY  # the SDK 2.x sends it as "Authorization: Bearer"
    assert req.headers.get("anthropic-version")
    assert req.system == SYSTEM_PROMPT
    prompt = req.prompt
    assert "[1] BM25 basics\nBM25 ranks documents" in prompt
    assert "[2] Dense retrieval\nDense retrieval embeds" in prompt
    assert prompt.index("[1] BM25 basics") < prompt.index("[2] Dense retrieval") < prompt.index(QUESTION)


async def test_streamed_answer_is_assembled_from_deltas(fake_anthropic: FakeAnthropic):
    text = "BM25 ranks documents by term frequency [1], normalised by length [1]; dense retrieval differs [2]."
    fake_anthropic.plan(ok(text, chunks=5, input_tokens=200, output_tokens=23))
    beats: list[tuple] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)

    result = await synthesize(llm_settings(fake_anthropic, anthropic_stream=True), env)

    assert result.answer == text
    assert result.mode is AnswerMode.llm and result.model == MODEL
    assert (result.usage.input_tokens, result.usage.output_tokens) == (200, 23)
    assert cited_numbers(result.answer) == [1, 2]
    [req] = fake_anthropic.requests
    assert req.stream and req.model == MODEL and req.api_key == KEY
    assert len(beats) >= 5  # one heartbeat per text delta


async def test_slow_non_streamed_answer_heartbeats(fake_anthropic: FakeAnthropic, monkeypatch):
    monkeypatch.setattr(anthropic_llm, "HEARTBEAT_EVERY_S", 0.05)
    fake_anthropic.plan(ok("Slow but sure [1].", delay_s=0.4))
    beats: list[tuple] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)

    result = await synthesize(llm_settings(fake_anthropic), env)

    assert result.answer == "Slow but sure [1]."
    assert len(beats) >= 3


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_429_is_retryable_after_retry_after_and_the_sdk_does_not_retry(
    fake_anthropic: FakeAnthropic, stream: bool
):
    fake_anthropic.plan(error(429, "rate limited, slow down", retry_after="1"), ok())
    with pytest.raises(ApplicationError) as raised:
        await synthesize(llm_settings(fake_anthropic, anthropic_stream=stream))

    err = raised.value
    assert err.type == ErrorType.LLM_RATE_LIMITED
    assert err.non_retryable is False
    assert err.next_retry_delay == timedelta(seconds=1)
    assert "429" in err.message and "rate limited, slow down" in err.message
    assert isinstance(err.__cause__, anthropic.RateLimitError)
    # One request although the answer said x-should-retry: true: Temporal owns retries.
    assert len(fake_anthropic.requests) == 1
    assert fake_anthropic.requests[0].headers["x-stainless-retry-count"] == "0"
    assert fake_anthropic.pending == 1


async def test_retry_after_ms_wins_over_retry_after(fake_anthropic: FakeAnthropic):
    fake_anthropic.plan(error(429, retry_after="30", retry_after_ms="1500"))
    with pytest.raises(ApplicationError) as raised:
        await synthesize(llm_settings(fake_anthropic))
    assert raised.value.next_retry_delay == timedelta(seconds=1.5)


@pytest.mark.parametrize(
    "status, sdk_error",
    [
        (529, anthropic.OverloadedError),
        (500, anthropic.InternalServerError),
        (503, anthropic.ServiceUnavailableError),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_server_errors_are_retryable(fake_anthropic: FakeAnthropic, status: int, sdk_error: type, stream: bool):
    fake_anthropic.plan(error(status))
    with pytest.raises(ApplicationError) as raised:
        await synthesize(llm_settings(fake_anthropic, anthropic_stream=stream))

    err = raised.value
    assert err.type == ErrorType.LLM_UNAVAILABLE and err.non_retryable is False
    assert err.next_retry_delay is None  # no retry-after: the workflow's backoff applies
    assert str(status) in err.message
    assert isinstance(err.__cause__, sdk_error)
    assert len(fake_anthropic.requests) == 1


@pytest.mark.parametrize(
    "status, expected",
    [
        (400, "rejected the request with 400: invalid_request_error: max_tokens: must be at most 64000"),
        (401, "rejected the request with 401 (check RAGSTATE_ANTHROPIC_API_KEY): authentication_error"),
        (403, "rejected the request with 403 (the key lacks permission): permission_error"),
        (404, "rejected the request with 404 (check RAGSTATE_ANTHROPIC_MODEL): not_found_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_rejected_requests_are_not_retryable(
    fake_anthropic: FakeAnthropic, status: int, expected: str, stream: bool
):
    message = "max_tokens: must be at most 64000" if status == 400 else None
    fake_anthropic.plan(error(status, message))
    with pytest.raises(ApplicationError) as raised:
        await synthesize(llm_settings(fake_anthropic, anthropic_stream=stream))

    err = raised.value
    assert err.type == ErrorType.LLM_REQUEST_REJECTED == "LLMRequestRejected"
    assert err.non_retryable is True
    assert err.message.startswith("Anthropic API " + expected), err.message
    assert "(request req_fake" in err.message
    assert len(fake_anthropic.requests) == 1


async def test_wrong_key_is_rejected_by_the_server(fake_anthropic: FakeAnthropic):
    fake_anthropic.api_key = "sk-ant-the-right-one"
    with pytest.raises(ApplicationError) as raised:
        await synthesize(llm_settings(fake_anthropic))
    assert raised.value.type == ErrorType.LLM_REQUEST_REJECTED and raised.value.non_retryable
    assert "RAGSTATE_ANTHROPIC_API_KEY" in raised.value.message
    assert isinstance(raised.value.__cause__, anthropic.AuthenticationError)


async def test_overloaded_error_event_mid_stream_is_retryable(fake_anthropic: FakeAnthropic):
    """The API can fail after a 200: an ``event: error`` in the stream (status 200 in the SDK)."""
    fake_anthropic.plan(stream_error("overloaded_error"))
    with pytest.raises(ApplicationError) as raised:
        await synthesize(llm_settings(fake_anthropic, anthropic_stream=True))
    err = raised.value
    assert err.type == ErrorType.LLM_UNAVAILABLE and err.non_retryable is False
    assert "overloaded_error" in err.message
    assert isinstance(err.__cause__, anthropic.APIStatusError)
    assert len(fake_anthropic.requests) == 1


async def test_rate_limit_error_event_mid_stream_is_a_rate_limit(fake_anthropic: FakeAnthropic):
    """Told apart by the API's error type, not by the message: a 200 stream's ``rate_limit_error``."""
    fake_anthropic.plan(stream_error("rate_limit_error", "slow down"))
    with pytest.raises(ApplicationError) as raised:
        await synthesize(llm_settings(fake_anthropic, anthropic_stream=True))
    assert raised.value.type == ErrorType.LLM_RATE_LIMITED and raised.value.non_retryable is False


@pytest.mark.parametrize("mid_stream", [False, True], ids=["before-answer", "mid-stream"])
async def test_dropped_connection_is_retryable(fake_anthropic: FakeAnthropic, mid_stream: bool):
    fake_anthropic.plan(drop(mid_stream=mid_stream))
    with pytest.raises(ApplicationError) as raised:
        await synthesize(llm_settings(fake_anthropic, anthropic_stream=True))
    err = raised.value
    assert err.type == ErrorType.LLM_UNAVAILABLE and err.non_retryable is False
    assert len(fake_anthropic.requests) == 1


async def test_timeout_is_retryable(fake_anthropic: FakeAnthropic):
    fake_anthropic.plan(ok(delay_s=1.5))
    with pytest.raises(ApplicationError) as raised:
        await synthesize(llm_settings(fake_anthropic, anthropic_timeout_s=0.3))
    err = raised.value
    assert err.type == ErrorType.LLM_UNAVAILABLE and err.non_retryable is False
    assert "timed out" in err.message
    assert isinstance(err.__cause__, anthropic.APITimeoutError)
    assert len(fake_anthropic.requests) == 1


async def test_no_key_answers_offline_without_calling_the_api(fake_anthropic: FakeAnthropic):
    settings = llm_settings(fake_anthropic, anthropic_api_key=None, anthropic_api_key_file=None)
    assert settings.anthropic_key() is None

    result = await synthesize(settings)

    assert result.mode is AnswerMode.offline_extractive
    assert result.model is None
    assert (result.usage.input_tokens, result.usage.output_tokens) == (0, 0)
    numbers = cited_numbers(result.answer)
    assert numbers and set(numbers) <= {s.number for s in SOURCES}
    assert "BM25 ranks documents" in result.answer
    assert fake_anthropic.requests == []


async def test_key_is_read_from_the_key_file(fake_anthropic: FakeAnthropic, tmp_path: Path):
    key_file = tmp_path / "anthropic.key"
    key_file.write_text("  sk-ant-from-file\n", encoding="utf-8")
    fake_anthropic.api_key = "sk-ant-from-file"  # any other key gets 401

    result = await synthesize(llm_settings(fake_anthropic, anthropic_api_key=None, anthropic_api_key_file=key_file))

    assert result.mode is AnswerMode.llm
    assert cited_numbers(result.answer) == [1]
    [req] = fake_anthropic.requests
    assert req.api_key == "sk-ant-from-file"


def test_default_model_is_current():
    model = Settings(_env_file=None).anthropic_model
    literals: set[str] = set()
    for arg in typing.get_args(anthropic.types.Model):
        literals.update(typing.get_args(arg))
    assert literals, "anthropic.types.Model lists no model names"
    assert model in literals
    assert model not in DEPRECATED_MODELS


def test_retry_after_forms():
    assert retry_after(None) is None
    assert retry_after({}) is None
    assert retry_after({"retry-after": "2"}) == timedelta(seconds=2)
    assert retry_after({"retry-after-ms": "250"}) == timedelta(milliseconds=250)
    assert retry_after({"retry-after": "3600"}) == timedelta(minutes=5)  # capped
    assert retry_after({"retry-after": "-1"}) is None
    assert retry_after({"retry-after": "soon"}) is None  # neither seconds nor a date
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    delay = retry_after({"retry-after": soon})
    assert delay is not None and timedelta(seconds=25) <= delay <= timedelta(seconds=31)


async def test_unparseable_retry_after_still_maps_to_a_retryable_error(fake_anthropic: FakeAnthropic):
    fake_anthropic.plan(error(429, retry_after="later"))
    with pytest.raises(ApplicationError) as raised:
        await synthesize(llm_settings(fake_anthropic))
    assert raised.value.type == ErrorType.LLM_RATE_LIMITED and raised.value.non_retryable is False
    assert raised.value.next_retry_delay is None


# ---------------------------------------------------------------------------------------------
# Workflow level: real Temporal retries with the workflow's LLM_RETRY policy
# ---------------------------------------------------------------------------------------------


@workflow.defn(name="SynthesizeProbe")
class SynthesizeProbeWorkflow:
    """Calls only Synthesize, exactly as the query workflow does."""

    @workflow.run
    async def run(self, inp: SynthesisInput, llm_task_queue: str) -> SynthesisResult:
        return await workflow.execute_activity(
            "Synthesize",
            inp,
            result_type=SynthesisResult,
            task_queue=llm_task_queue,
            start_to_close_timeout=timedelta(seconds=120),
            heartbeat_timeout=timedelta(seconds=60),
            retry_policy=LLM_RETRY,
        )


async def run_probe(client: Client, settings: Settings):
    """Start the probe with an llm worker and a workflow worker; return its handle and outcome."""
    workers = build_workers(client, settings, ["llm"])
    workers.append(Worker(client, task_queue=settings.workflow_task_queue, workflows=[SynthesizeProbeWorkflow]))
    async with workers[0], workers[1]:
        handle = await client.start_workflow(
            SynthesizeProbeWorkflow.run,
            args=[synthesis_input(), settings.llm_task_queue],
            id=f"synthesize-probe-{uuid.uuid4().hex}",
            task_queue=settings.workflow_task_queue,
            execution_timeout=timedelta(seconds=60),
        )
        try:
            outcome: SynthesisResult | BaseException = await asyncio.wait_for(handle.result(), 45)
        except WorkflowFailureError as e:
            outcome = e
    return handle, outcome


async def test_workflow_retries_a_429_after_retry_after(
    client: Client, settings: Settings, fake_anthropic: FakeAnthropic
):
    fake_anthropic.plan(error(429, retry_after="1"), ok("BM25 ranks by term statistics [1]."))
    handle, outcome = await run_probe(client, llm_settings(fake_anthropic, settings, anthropic_stream=True))

    assert isinstance(outcome, SynthesisResult), outcome
    assert outcome.answer == "BM25 ranks by term statistics [1]."
    assert outcome.mode is AnswerMode.llm and outcome.model == MODEL

    first, second = fake_anthropic.requests  # exactly two: one per Temporal attempt
    assert first.headers["x-stainless-retry-count"] == second.headers["x-stainless-retry-count"] == "0"
    # retry-after (1 s) replaced LLM_RETRY's first interval (2 s).
    assert 0.9 <= second.at - first.at < 1.9, second.at - first.at

    history = await handle.fetch_history()
    started = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert [s.attempt for s in started] == [2]
    assert "429" in started[0].last_failure.message
    assert started[0].last_failure.application_failure_info.type == ErrorType.LLM_RATE_LIMITED


async def test_workflow_fails_at_once_on_a_400(client: Client, settings: Settings, fake_anthropic: FakeAnthropic):
    fake_anthropic.plan(error(400, "messages: at least one message is required"))
    handle, outcome = await run_probe(client, llm_settings(fake_anthropic, settings))

    assert isinstance(outcome, WorkflowFailureError), outcome
    activity_error = outcome.cause
    assert isinstance(activity_error, ActivityError)
    app_error = activity_error.cause
    assert isinstance(app_error, ApplicationError)
    assert app_error.type == ErrorType.LLM_REQUEST_REJECTED
    assert app_error.non_retryable
    assert "400" in app_error.message and "at least one message is required" in app_error.message
    assert len(fake_anthropic.requests) == 1

    history = await handle.fetch_history()
    started = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert [s.attempt for s in started] == [1]


# ---------------------------------------------------------------------------------------------
# Native citations, prompt caching and abstention (real SDK, fake server)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_native_citations_from_search_result_blocks(fake_anthropic: FakeAnthropic, monkeypatch, stream: bool):
    published: list[str] = []
    original = anthropic_llm._AnswerStream.text
    monkeypatch.setattr(
        anthropic_llm._AnswerStream, "text", lambda self, delta: (published.append(delta), original(self, delta))[1]
    )
    # The fake turns the markers into text blocks carrying search_result_location citations.
    fake_anthropic.plan(ok("BM25 ranks by term frequency [1], dense retrieval by cosine similarity [2][1].", chunks=3))
    result = await synthesize(llm_settings(fake_anthropic, anthropic_stream=stream))

    [req] = fake_anthropic.requests
    blocks = req.body["messages"][0]["content"]
    assert [b["type"] for b in blocks] == ["search_result", "search_result", "text"]
    assert blocks[0]["title"] == "BM25 basics" and blocks[0]["source"] == "bm25.md"
    assert blocks[0]["citations"] == {"enabled": True}
    assert blocks[0]["content"][0] == {"type": "text", "text": SOURCES[0].text.split(". ")[0] + "."}
    # Prompt caching: the system prompt and the last search result end cached prefixes.
    assert req.body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert blocks[1]["cache_control"] == {"type": "ephemeral"} and "cache_control" not in blocks[0]

    assert result.answer == "BM25 ranks by term frequency [1], dense retrieval by cosine similarity [2][1]."
    assert [c.number for c in result.citations] == [1, 2]
    bm25, dense = result.citations
    assert (bm25.chunk_id, bm25.doc_id, dense.chunk_id) == ("c1", "d1", "c2")
    assert bm25.cited_text == ["BM25 ranks documents by term frequency and inverse document frequency."]
    assert dense.cited_text == ["Nearest neighbours are found by cosine similarity."]
    assert result.usage.cache_creation_input_tokens > 0 and result.usage.cache_read_input_tokens == 0
    if stream:  # what streams joins to exactly the rendered answer, markers included
        assert "".join(published).strip() == result.answer and len(published) > 3


async def test_a_second_call_over_the_same_sources_reads_the_prompt_cache(fake_anthropic: FakeAnthropic):
    first = await synthesize(llm_settings(fake_anthropic))
    second = await synthesize(llm_settings(fake_anthropic))
    created = first.usage.cache_creation_input_tokens
    assert created > 0 and second.usage.cache_read_input_tokens == created
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens < first.usage.input_tokens + created


async def test_an_answer_without_citations_cites_nothing(fake_anthropic: FakeAnthropic):
    fake_anthropic.plan(ok("The sources do not contain the answer."))
    result = await synthesize(llm_settings(fake_anthropic))
    assert result.answer == "The sources do not contain the answer." and result.citations == []


@pytest.mark.parametrize("with_key", [True, False], ids=["llm", "offline"])
async def test_below_the_threshold_no_call_is_made(fake_anthropic: FakeAnthropic, with_key: bool):
    settings = llm_settings(fake_anthropic) if with_key else llm_settings(fake_anthropic, anthropic_api_key=None)
    inp = synthesis_input().model_copy(update={"best_score": 0.12, "abstain_below": 0.5, "question": "capital?"})
    result = await ActivityEnvironment().run(AnthropicActivities(settings).synthesize, inp)
    assert result.no_answer and result.best_score == 0.12 and result.citations == []
    assert result.mode is (AnswerMode.llm if with_key else AnswerMode.offline_extractive)
    assert "do not contain the answer" in result.answer
    assert fake_anthropic.requests == []
