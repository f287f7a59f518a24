"""The HTTP gateway end to end: the real dev server, real workers (one set offline, one with the
real Anthropic SDK against ragstate.testing's FakeAnthropic), requests in-process through httpx's
ASGITransport, and through a real uvicorn server for Server-Sent Events and client disconnects.
Also the Lambda function URL adapter, the OpenAPI schema, and bounded schema-based fuzzing."""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
from gateway_client import (
    app_on,
    app_without_temporal,
    assert_error,
    free_port,
    http,
    poll,
    wait_until,
    wait_until_async,
)
from paths import EXAMPLES_CORPUS
from pydantic import SecretStr
from temporalio.client import Client

from ragstate.activities.anthropic_llm import close_llm_clients
from ragstate.client import RagClient
from ragstate.contracts import Activity, ErrorType
from ragstate.errors import LLMRateLimitedError, LLMUnavailableError, RunNotFoundError
from ragstate.gateway import GatewaySettings, IngestAccepted, QueryResponse, create_app
from ragstate.gateway import aws_lambda as gateway_lambda
from ragstate.models import IngestRequest, IngestStatus, QueryStatus, RagAnswer, RunState, StreamEvent
from ragstate.settings import LlmFallback, Settings
from ragstate.testing import FakeAnthropic, error, ok
from ragstate.workers.runtime import running_workers

ANSWER = (
    "Reciprocal rank fusion adds one over k plus the rank of a document in each list [1], "
    "so it needs no score calibration between keyword and vector search [1]."
)
RRF_QUESTION = "How does reciprocal rank fusion combine rankings?"


# ---------------------------------------------------------------------------------------------
# One stack for the module: workers, the fake LLM, the corpus ingested once
# ---------------------------------------------------------------------------------------------


@dataclass
class Stack:
    client: Client
    offline: Settings  # no API key: offline extractive answers
    llm: Settings  # the real SDK against the fake Messages API
    fake: FakeAnthropic


@pytest.fixture(scope="module")
async def stack(temporal_env, tmp_path_factory) -> AsyncIterator[Stack]:
    tag = uuid.uuid4().hex[:8]
    client = temporal_env.client
    offline = Settings(
        data_dir=tmp_path_factory.mktemp("gateway") / "data",
        temporal_address=client.service_client.config.target_host,
        collection=f"gw-{tag}",
        workflow_task_queue=f"gw-wf-{tag}",
        embeddings_task_queue=f"gw-emb-{tag}",
        llm_task_queue=f"gw-llm-{tag}",
        worker_shutdown_grace_s=2,
        _env_file=None,
    )
    with FakeAnthropic() as fake:
        # Its own workflow and LLM queues (routing comes from the workflow worker's settings);
        # the same store and embeddings queue as the offline set.
        llm = offline.model_copy(
            update={
                "workflow_task_queue": f"gw-wf-llm-{tag}",
                "llm_task_queue": f"gw-llm-llm-{tag}",
                "anthropic_api_key": SecretStr("sk-test"),
                "anthropic_base_url": fake.url,
                # These tests map LLM failures to HTTP; the extractive fallback (the default, which
                # answers instead) is tested in test_llm_reliability.py.
                "llm_fallback": LlmFallback.fail,
            }
        )
        async with (
            running_workers(client, offline),
            running_workers(client, llm, roles=["workflows", "llm"], warm_model=False),
        ):
            result = await RagClient(client, offline).ingest([str(EXAMPLES_CORPUS)])
            assert result.failed == 0, result.failures
            yield Stack(client, offline, llm, fake)
        await close_llm_clients()


@pytest.fixture
def fake(stack: Stack) -> FakeAnthropic:
    stack.fake.reset()
    yield stack.fake
    assert stack.fake.pending == 0, "a planned LLM answer was not used (it would leak into the next test)"


def make_app(stack: Stack, settings: Settings, **gateway):
    return app_on(stack.client, settings, **gateway)


# ---------------------------------------------------------------------------------------------
# 200
# ---------------------------------------------------------------------------------------------


async def test_offline_answer_health_and_readiness(stack: Stack):
    async with http(make_app(stack, stack.offline)) as h:
        assert (await h.get("/healthz")).json() == {"status": "ok"}
        ready = await h.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        r = await h.post("/v1/query", json={"question": RRF_QUESTION, "top_k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "offline-extractive"
    assert body["citations"] and body["citations"][0]["title"] == "Reciprocal rank fusion"
    assert len(body["citations"]) <= 3
    assert body["usage"]["input_tokens"] == 0 and body["usage"]["output_tokens"] == 0
    assert body["cost"]["usd"] == 0 and "offline extractive mode" in body["cost"]["reason"]
    assert body["no_answer"] is False and body["best_score"] > 0.5
    assert body["degraded"] is False and body["degraded_reasons"] == []
    assert body["workflow_id"].startswith("rag-query-how-does-reciprocal-rank-fusion")
    assert body["workflow_id"] in body["ui_link"] and body["run_id"] in body["ui_link"]


async def test_llm_answer(stack: Stack, fake: FakeAnthropic):
    fake.plan(ok(ANSWER, input_tokens=321, output_tokens=17))
    async with http(make_app(stack, stack.llm)) as h:
        r = await h.post("/v1/query", json={"question": RRF_QUESTION}, headers={"X-Request-Timeout": "30"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["mode"], body["answer"]) == ("llm", ANSWER)
    assert (body["usage"]["input_tokens"], body["usage"]["output_tokens"]) == (321, 17)
    # claude-sonnet-5-5 list prices, $2 / $10 per million tokens (cached input tokens aside).
    assert body["cost"]["priced"] and body["cost"]["usd"] > 0
    assert [c["number"] for c in body["citations"]] == [1]
    assert body["citations"][0]["title"] == "Reciprocal rank fusion"
    assert fake.requests[-1].api_key == "sk-test"


# ---------------------------------------------------------------------------------------------
# 400 (and other refusals) before anything starts
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,kind,expected",
    [
        ({"question": ""}, "InvalidQuery", "empty"),
        ({"question": " \u200b\n "}, "InvalidQuery", "empty"),
        ({"question": "x" * 4001}, "InvalidQuery", "limit is 4000"),
        ({"question": "ring the bell \x07"}, "InvalidQuery", "control characters"),
        ({"question": "fine question", "top_k": 0}, "InvalidQuery", "top_k must be between 1 and 50"),
        ({"question": "fine question", "sources": []}, "InvalidQuery", "sources filter"),
        ({"question": "fine question", "doc_ids": ["a\x00b"]}, "InvalidRequest", "control characters"),
        ({}, "InvalidRequest", "question: Field required"),
        ({"question": None}, "InvalidRequest", "question"),
        ({"question": 42}, "InvalidRequest", "question"),
        ({"question": ["what?"]}, "InvalidRequest", "question"),
        ({"question": "ok?", "top_k": "5"}, "InvalidRequest", "top_k"),
        ({"question": "ok?", "top_k": 2.5}, "InvalidRequest", "top_k"),
        ({"question": "ok?", "sources": "a.md"}, "InvalidRequest", "sources"),
        ({"question": "ok?", "timeout_s": 0}, "InvalidRequest", "timeout_s"),
        ({"question": "ok?", "timeout_s": "1"}, "InvalidRequest", "timeout_s"),
        ({"question": "ok?", "collection": "other"}, "InvalidRequest", "collection"),
        (["question"], "InvalidRequest", None),
        ("What is BM25?", "InvalidRequest", None),
    ],
)
async def test_invalid_queries_are_400_before_anything_starts(body, kind, expected):
    async with http(app_without_temporal()) as h:
        for path in ("/v1/query", "/v1/query?stream=true", "/v1/query/stream"):
            err = assert_error(await h.post(path, json=body), 400, kind)
            if expected:
                assert expected in err["message"], err


@pytest.mark.parametrize(
    "content,expected",
    [
        (b'{"question": ', "InvalidJSON"),
        (b'{"question": "\\ud800 lone surrogate"}', "InvalidRequest"),
        (b'{"question": NaN}', "InvalidRequest"),
        (b"", "InvalidRequest"),
        (b'{"question": "caf\xe9"}', "InvalidRequest"),  # not UTF-8
    ],
)
async def test_bad_json_is_400(content, expected):
    async with http(app_without_temporal()) as h:
        assert_error(
            await h.post("/v1/query", content=content, headers={"content-type": "application/json"}), 400, expected
        )


async def test_other_refusals_are_json(tmp_path):
    async with http(app_without_temporal(max_body_bytes=2048, ingest_roots=str(tmp_path))) as h:
        assert_error(await h.post("/v1/query", json={"question": "x"}, headers={"X-Request-Timeout": "soon"}), 400)
        assert_error(await h.post("/v1/query", json={"question": "x"}, headers={"X-Request-Timeout": "-1"}), 400)
        assert_error(await h.post("/v1/query", json={"question": "y" * 3000}), 413, "RequestTooLarge")
        assert_error(await h.get("/v1/nowhere"), 404)
        assert_error(await h.get("/v1/query"), 405)
        assert_error(await h.post("/v1/ingest", json={"paths": []}), 400, "InvalidRequest")
        assert_error(await h.post("/v1/ingest", json={"paths": [""]}), 400, "InvalidRequest")
        assert_error(await h.post("/v1/ingest", json={"paths": ["docs"], "collection": "../elsewhere"}), 400)
        assert_error(await h.post("/v1/ingest", json={"paths": [1]}), 400, "InvalidRequest")
        assert_error(await h.post("/v1/ingest", json={"path": "docs"}), 400, "InvalidRequest")


async def test_ingest_roots_confine_paths(tmp_path):
    root = tmp_path / "shared"
    async with http(app_without_temporal(ingest_roots=str(root))) as h:
        for path in ("/etc/passwd", "../outside", str(root / ".." / "x"), "a/../../b"):
            err = assert_error(await h.post("/v1/ingest", json={"paths": [path]}), 400, "InvalidRequest")
            assert "outside the folders" in err["message"]


# ---------------------------------------------------------------------------------------------
# 429, 502, 504
# ---------------------------------------------------------------------------------------------


async def test_concurrency_limit_answers_429(stack: Stack, fake: FakeAnthropic):
    fake.plan(ok(ANSWER, delay_s=2))
    async with http(make_app(stack, stack.llm, max_concurrent_requests=1)) as h:
        first = asyncio.create_task(h.post("/v1/query", json={"question": RRF_QUESTION, "timeout_s": 30}))
        await wait_until(lambda: len(fake.requests) == 1)  # it holds the only slot, waiting on the LLM
        second = await h.post("/v1/query", json={"question": "What is BM25?"})
        err = assert_error(second, 429, "TooManyRequests")
        assert second.headers["retry-after"] == "1" and err["retry_after_s"] == 1
        assert_error(await h.get("/v1/queries/rag-query-x"), 429)  # every /v1 request counts
        assert (await h.get("/healthz")).status_code == 200  # probes do not
        r = await first
        assert r.status_code == 200 and r.json()["answer"] == ANSWER
        # The slot is free again.
        status = await h.get(f"/v1/queries/{r.json()['workflow_id']}")
        assert status.status_code == 200 and status.json()["state"] == "completed"


async def test_llm_rate_limited_beyond_the_budget_is_429_and_the_workflow_goes_on(stack: Stack, fake: FakeAnthropic):
    fake.plan(error(429, retry_after="4"))  # then the default answer
    async with http(make_app(stack, stack.llm)) as h:
        # A 429 and not the answer: the gateway gave up within the budget instead of waiting out
        # the 4 s the API asked for (the mechanism; a clock bound flakes on a loaded machine).
        r = await h.post("/v1/query", json={"question": RRF_QUESTION, "timeout_s": 2})
        err = assert_error(r, 429, "LLMRateLimited")
        assert "429" in err["message"] and "rate_limit_error" in err["message"]
        assert 1 <= int(r.headers["retry-after"]) <= 5 and err["retry_after_s"] == int(r.headers["retry-after"])
        assert err["status_url"] == f"/v1/queries/{err['workflow_id']}"
        status = await poll(h, err["status_url"])
    assert status["state"] == "completed", status
    assert status["answer"]["mode"] == "llm"
    assert len(fake.requests) == 2


async def test_the_429_comes_from_the_error_type_not_the_message(stack: Stack, fake: FakeAnthropic):
    """A 529 whose text says "429 rate_limit" is an outage (504 past the budget), not a rate limit."""
    fake.plan(error(529, "429 rate_limit_error from upstream", retry_after="4"))  # then the default answer
    async with http(make_app(stack, stack.llm)) as h:
        r = await h.post("/v1/query", json={"question": RRF_QUESTION, "timeout_s": 2})
        err = assert_error(r, 504, "Timeout")
        assert "retry-after" not in r.headers
        status = await poll(h, err["status_url"])
    assert status["state"] == "completed", status
    assert len(fake.requests) == 2


async def test_llm_rate_limited_through_every_retry_is_502(stack: Stack, fake: FakeAnthropic):
    fake.plan(*[error(429, retry_after_ms="100")] * 6)  # LLM_RETRY's six attempts, 0.1 s apart
    async with http(make_app(stack, stack.llm)) as h:
        r = await h.post("/v1/query", json={"question": RRF_QUESTION, "timeout_s": 30})
        err = assert_error(r, 502, ErrorType.LLM_RATE_LIMITED)
        assert "retry-after" not in r.headers and "retry_after_s" not in err
        failed = (await h.get(err["status_url"])).json()
    assert failed["state"] == "failed" and failed["error_type"] == ErrorType.LLM_RATE_LIMITED
    assert len(fake.requests) == 6


@pytest.mark.parametrize("status", [400, 401])
async def test_llm_rejecting_the_request_is_502(stack: Stack, fake: FakeAnthropic, status: int):
    fake.plan(error(status))
    async with http(make_app(stack, stack.llm)) as h:
        r = await h.post("/v1/query", json={"question": RRF_QUESTION})
        err = assert_error(r, 502, "LLMRequestRejected")
        assert f"rejected the request with {status}" in err["message"]
        failed = (await h.get(err["status_url"])).json()
    assert failed["state"] == "failed" and failed["error_type"] == "LLMRequestRejected"
    assert len(fake.requests) == 1  # not retried


async def test_budget_exceeded_is_504_then_the_answer_can_be_fetched(stack: Stack, fake: FakeAnthropic):
    fake.plan(ok(ANSWER, delay_s=3))
    async with http(make_app(stack, stack.llm)) as h:
        # 504 while the run is still running (below): the gateway returned at its budget, not
        # at the answer (the mechanism; a clock bound flakes on a loaded machine).
        r = await h.post("/v1/query", json={"question": RRF_QUESTION, "timeout_s": 1})
        err = assert_error(r, 504, "Timeout")
        workflow_id = err["workflow_id"]
        assert err["status_url"] == f"/v1/queries/{workflow_id}" and workflow_id in err["ui_link"]
        assert (await h.get(err["status_url"])).json()["state"] == "running"
        status = await poll(h, err["status_url"])
    assert status["state"] == "completed", status
    QueryStatus.model_validate(status)
    assert status["answer"]["answer"] == ANSWER and status["answer"]["workflow_id"] == workflow_id


async def test_a_run_whose_client_left_keeps_its_slot_until_it_ends(stack: Stack, fake: FakeAnthropic):
    """Issue 23: the slot was freed when the client's budget ran out while the run went on, so
    20 clients x 5 requests with a 0.7 s budget paid 100 LLM calls with a limit of 64 requests.
    Now the run keeps its slot until it ends: the next request is 429 and pays nothing."""
    fake.plan(ok(ANSWER, delay_s=3), ok(ANSWER))
    app = make_app(stack, stack.llm, max_concurrent_requests=1)
    async with http(app) as h:
        r = await h.post("/v1/query", json={"question": RRF_QUESTION, "timeout_s": 0.5})
        err = assert_error(r, 504, "Timeout")
        again = await h.post("/v1/query", json={"question": RRF_QUESTION, "timeout_s": 0.5})
        assert_error(again, 429, "TooManyRequests")
        assert len(fake.requests) <= 1  # the refused request started no run and paid no LLM call
        await stack.client.get_workflow_handle(err["workflow_id"]).result()
        await wait_until(lambda: app.state.gateway.in_flight == 0)  # released when the run ended
        done = await h.post("/v1/query", json={"question": RRF_QUESTION, "timeout_s": 30})
        assert done.status_code == 200, done.text
    assert len(fake.requests) == 2


async def test_a_504_names_only_a_run_that_exists(stack: Stack, monkeypatch):
    """Before: a budget shorter than the start named a run that was never started (15 of 20
    status URLs then answered 404 on a loaded machine). Now a 504 names a run only if it exists,
    else says none was. Here every start takes longer than the budget, as under that load."""
    real_start = RagClient.start_query

    async def slow_start(self, *args, **kwargs):
        await asyncio.sleep(0.5)  # a loaded server's latency, not a synchronisation
        return await real_start(self, *args, **kwargs)

    monkeypatch.setattr(RagClient, "start_query", slow_start)
    async with http(make_app(stack, stack.offline)) as h:
        replies = await asyncio.gather(
            *(h.post("/v1/query", json={"question": f"{RRF_QUESTION} ({i})", "timeout_s": 0.01}) for i in range(20))
        )
        for r in (r for r in replies if r.status_code == 504):
            err = assert_error(r, 504, "Timeout")
            if "status_url" in err:
                assert (await h.get(err["status_url"])).status_code == 200, err
            else:
                assert "no run was started" in err["message"] and "workflow_id" not in err, err


# ---------------------------------------------------------------------------------------------
# Status endpoints and ingest
# ---------------------------------------------------------------------------------------------


async def test_ingest_and_status(stack: Stack, tmp_path):
    root = tmp_path / "root"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "good.txt").write_text("Vector databases store embeddings for similarity search.")
    (root / "docs" / "empty.md").write_text("  \n")
    async with http(make_app(stack, stack.offline, ingest_roots=str(root))) as h:
        r = await h.post("/v1/ingest", json={"paths": ["docs"], "collection": f"extra-{uuid.uuid4().hex[:6]}"})
        assert r.status_code == 202, r.text
        accepted = IngestAccepted.model_validate(r.json())
        assert r.headers["location"] == accepted.status_url == f"/v1/ingest/{accepted.workflow_id}"
        status = await poll(h, accepted.status_url)
        IngestStatus.model_validate(status)
        assert status["state"] == "completed", status
        assert status["result"]["documents"] == 1 and status["result"]["failed"] == 1
        assert status["result"]["failures"][0]["source"].endswith("empty.md")
        # Each kind of id only under its own path; unknown ids are 404.
        assert_error(await h.get(f"/v1/queries/{accepted.workflow_id}"), 404, "NotFound")
        assert_error(await h.get("/v1/ingest/rag-ingest-nothing-like-this"), 404, "NotFound")
        assert_error(await h.get("/v1/queries/rag-query-nothing-like-this"), 404, "NotFound")


# ---------------------------------------------------------------------------------------------
# What the gateway asks of RagClient: status by kind in one call, the LLM's rate-limit wait
# ---------------------------------------------------------------------------------------------


async def test_client_reports_the_llm_rate_limit_wait_while_synthesize_retries(stack: Stack, fake: FakeAnthropic):
    fake.plan(error(429, retry_after="3"))  # then the default answer
    rag = RagClient(stack.client, stack.llm)
    handle = await rag.start_query(RRF_QUESTION)
    deadline = time.monotonic() + 20
    while (wait := await rag.llm_rate_limit(handle.id)) is None:
        assert time.monotonic() < deadline, "no rate-limit wait reported"
        await asyncio.sleep(0.1)
    assert wait.activity == Activity.SYNTHESIZE
    assert wait.retry_in_s is not None and 0 <= wait.retry_in_s <= 3
    assert "429" in wait.message
    assert (await rag.get_result(handle.id)).state is RunState.running
    await asyncio.wait_for(handle.result(), 30)
    assert await rag.llm_rate_limit(handle.id) is None  # closed: nothing to wait for
    assert len(fake.requests) == 2


async def test_client_not_rate_limited_while_the_llm_is_only_unavailable(stack: Stack, fake: FakeAnthropic):
    fake.plan(error(529, "429 rate_limit_error from upstream", retry_after="3"))
    rag = RagClient(stack.client, stack.llm)
    handle = await rag.start_query(RRF_QUESTION)
    deadline = time.monotonic() + 20
    while not any(
        pending.HasField("last_failure")  # Synthesize failed once and waits to retry
        for pending in (await handle.describe()).raw_description.pending_activities
    ):
        assert time.monotonic() < deadline, "Synthesize did not fail"
        await asyncio.sleep(0.1)
    assert await rag.llm_rate_limit(handle.id) is None
    await asyncio.wait_for(handle.result(), 30)


async def test_client_raises_llm_rate_limited_when_the_run_failed_for_good(stack: Stack, fake: FakeAnthropic):
    fake.plan(*[error(429, retry_after_ms="100")] * 6)
    rag = RagClient(stack.client, stack.llm)
    with pytest.raises(LLMRateLimitedError) as raised:
        await rag.ask(RRF_QUESTION)
    assert isinstance(raised.value, LLMUnavailableError) and raised.value.kind == ErrorType.LLM_RATE_LIMITED
    status = await rag.get_result(raised.value.workflow_id)
    assert (status.state, status.error_type) == (RunState.failed, ErrorType.LLM_RATE_LIMITED)


async def test_client_status_calls_know_each_kind_of_run(stack: Stack):
    rag = RagClient(stack.client, stack.offline)
    answer = await rag.ask(RRF_QUESTION)
    ingest_id = rag.ingest_id(IngestRequest(paths=[str(EXAMPLES_CORPUS)]))  # the stack's ingest
    assert (await rag.get_result(answer.workflow_id)).state is RunState.completed
    assert (await rag.ingest_status(ingest_id)).state is RunState.completed
    assert await rag.llm_rate_limit(answer.workflow_id) is None
    for call, workflow_id in (
        (rag.get_result, ingest_id),
        (rag.llm_rate_limit, ingest_id),
        (rag.ingest_status, answer.workflow_id),
        (rag.get_result, "rag-query-no-such-run"),
        (rag.ingest_status, "rag-ingest-no-such-run"),
    ):
        with pytest.raises(RunNotFoundError) as raised:
            await call(workflow_id)
        assert raised.value.workflow_id == workflow_id and raised.value.kind == "NotFound"


# ---------------------------------------------------------------------------------------------
# Server-Sent Events through a real server
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def live(stack: Stack):
    """The LLM-mode app on a real uvicorn server (same event loop) on a free port."""
    import uvicorn

    app = make_app(stack, stack.llm, sse_keepalive_s=0.5, ingest_roots=str(EXAMPLES_CORPUS))  # the example ingests it
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await wait_until(lambda: server.started or task.done())
    assert not task.done(), task
    yield app, f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await task
    sock.close()


async def sse(response: httpx.Response) -> AsyncIterator[tuple[str, dict]]:
    event = None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: "):
            yield event, json.loads(line[len("data: ") :])


async def test_stream_steps_tokens_final(live, fake: FakeAnthropic):
    _, url = live
    fake.plan(ok(ANSWER, chunks=5))
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as h,
        h.stream("POST", "/v1/query?stream=true", json={"question": RRF_QUESTION}) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [e async for e in sse(r)]
    kinds = [k for k, _ in events]
    for kind, data in events:
        assert StreamEvent.model_validate(data).type.value == kind
    assert kinds[0] == "step" and kinds[-1] == "final" and kinds.count("final") == 1, kinds
    first_token = kinds.index("token")
    assert set(kinds[:first_token]) == {"step"} and set(kinds[first_token:-1]) == {"token"}, kinds
    answer = events[-1][1]["answer"]
    assert answer["answer"] == ANSWER
    assert "".join(d["text"] for k, d in events if k == "token").strip() == ANSWER


async def test_client_disconnect_mid_stream_leaves_the_workflow_running(stack: Stack, live, fake: FakeAnthropic):
    app, url = live
    fake.plan(ok(ANSWER, delay_s=1.5))
    # In-domain and plain (a random tag in it would pull its similarity under the abstention bar).
    question = "What does reciprocal rank fusion do, in short?"
    async with (
        httpx.AsyncClient(base_url=url, timeout=30) as h,
        h.stream("POST", "/v1/query/stream", json={"question": question}) as r,
    ):
        assert r.status_code == 200
        workflow_id = r.headers.get("x-workflow-id")
        async for kind, _ in sse(r):
            assert kind == "step"
            break  # leaving the block closes the connection mid-stream
    if workflow_id is None:  # the client could not be told the id: find the run
        prefix = "rag-query-what-does-reciprocal-rank-fusion-do-in-short"
        found = [
            w.id
            async for w in stack.client.list_workflows('WorkflowType = "RagQuery"')
            if w.id.startswith(prefix) and w.task_queue == stack.llm.workflow_task_queue
        ]
        assert found
        workflow_id = found[0]
    handle = stack.client.get_workflow_handle(workflow_id, result_type=RagAnswer)
    answer = await asyncio.wait_for(handle.result(), 30)
    assert answer.answer == ANSWER and len(fake.requests) == 1
    gateway = app.state.gateway
    await wait_until(lambda: gateway.in_flight == 0, within_s=10)  # slot released


async def test_example_http_client(stack: Stack, live, fake: FakeAnthropic, capsys):
    """examples/http_client.py against the live server: ingest (joins the indexed corpus), ask, stream."""
    import importlib.util

    from paths import ROOT

    spec = importlib.util.spec_from_file_location("http_client_example", ROOT / "examples" / "http_client.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    fake.plan(ok(ANSWER), ok(ANSWER, chunks=3))

    def run() -> tuple[dict, dict | None]:
        with httpx.Client(base_url=live[1], timeout=30) as h:
            example.ingest(h, [str(EXAMPLES_CORPUS)])
            return example.ask(h, RRF_QUESTION), example.ask_streamed(h, RRF_QUESTION)

    answer, streamed = await asyncio.to_thread(run)
    assert answer["answer"] == ANSWER and answer["citations"]
    out = capsys.readouterr().out
    assert "ingested 8 documents" in out
    if streamed is not None:
        assert streamed["answer"] == ANSWER and ANSWER in out
    else:
        fake.reset()


# ---------------------------------------------------------------------------------------------
# Authentication and readiness
# ---------------------------------------------------------------------------------------------


async def test_api_keys(stack: Stack, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("# gateway keys\nkey-one\n\n  key-two  \n")
    app = make_app(stack, stack.offline, api_keys_file=keys, api_keys="key-three, key-four")
    async with http(app) as h:
        for headers in (
            {},
            {"Authorization": "Bearer nope"},
            {"x-api-key": "key-on"},
            {"Authorization": "Basic key-one"},
            {"Authorization": "Bearer "},
            {"x-api-key": "key-one-and-more"},
        ):
            r = await h.post("/v1/query", json={"question": RRF_QUESTION}, headers=headers)
            assert_error(r, 401, "Unauthorized")
            assert r.headers["www-authenticate"].startswith("Bearer")
        # Checked before the body is read: bad JSON without a key is 401, not 400.
        assert_error(await h.post("/v1/query", content=b"{", headers={"content-type": "application/json"}), 401)
        assert_error(await h.get("/v1/queries/rag-query-x"), 401)
        for path in ("/healthz", "/readyz", "/openapi.json"):
            assert (await h.get(path)).status_code == 200, path
        r = await h.post("/v1/query", json={"question": RRF_QUESTION}, headers={"Authorization": "Bearer key-two"})
        assert r.status_code == 200, r.text
        for key in ("key-one", "key-three", "key-four"):
            assert_error(await h.get("/v1/queries/rag-query-x", headers={"x-api-key": key}), 404, "NotFound")
        schema = (await h.get("/openapi.json")).json()
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schema["components"]["securitySchemes"])
    assert "401" in schema["paths"]["/v1/query"]["post"]["responses"]


async def test_a_key_removed_from_the_keys_file_stops_without_a_restart(stack: Stack, tmp_path):
    """Issue 23: a key removed from the keys file kept working until the gateway restarted."""
    keys = tmp_path / "keys"
    keys.write_text("key-one\nkey-two\n")
    app = make_app(stack, stack.offline, api_keys_file=keys, keys_refresh_s=0.1)
    async with http(app) as h:
        assert_error(await h.get("/v1/queries/rag-query-x", headers={"x-api-key": "key-two"}), 404, "NotFound")
        keys.write_text("key-one\n")
        statuses: list[int] = []

        async def refused() -> bool:
            statuses.append((await h.get("/v1/queries/rag-query-x", headers={"x-api-key": "key-two"})).status_code)
            return statuses[-1] == 401

        await wait_until_async(refused)
        assert_error(await h.get("/v1/queries/rag-query-x", headers={"x-api-key": "key-one"}), 404, "NotFound")
        keys.unlink()  # an unreadable file: none of its keys, and the gateway stays closed
        await wait_until_async(lambda: _status_is(h, "key-one", 401))
        assert_error(await h.get("/v1/queries/rag-query-x"), 401)


async def _status_is(h: httpx.AsyncClient, key: str, status: int) -> bool:
    return (await h.get("/v1/queries/rag-query-x", headers={"x-api-key": key})).status_code == status


async def test_readyz_is_503_when_temporal_is_unreachable():
    settings = Settings(temporal_address=f"127.0.0.1:{free_port()}", _env_file=None)
    app = create_app(settings, gateway=GatewaySettings(_env_file=None, ready_timeout_s=2, connect_timeout_s=2))
    async with http(app) as h:
        assert (await h.get("/healthz")).status_code == 200
        err = assert_error(await h.get("/readyz"), 503, "NotReady")
        assert settings.temporal_address in err["message"]
        assert_error(await h.post("/v1/query", json={"question": "What is BM25?"}), 503, "TemporalUnavailable")
        assert_error(await h.post("/v1/query", json={"question": ""}), 400, "InvalidQuery")


# ---------------------------------------------------------------------------------------------
# OpenAPI
# ---------------------------------------------------------------------------------------------


async def test_openapi_schema_lists_paths_methods_and_codes():
    async with http(app_without_temporal()) as h:
        schema = (await h.get("/openapi.json")).json()
    expected = {
        ("/v1/query", "post"): {"200", "400", "413", "429", "502", "503", "504"},
        ("/v1/query/stream", "post"): {"200", "400", "413", "429", "502", "503"},
        ("/v1/queries/{workflow_id}", "get"): {"200", "404", "429", "503"},
        ("/v1/ingest", "post"): {"202", "400", "403", "413", "429", "503"},
        ("/v1/ingest/{workflow_id}", "get"): {"200", "404", "429", "503"},
        ("/v1/documents", "get"): {"200", "400", "429", "502", "503"},
        ("/v1/documents/{doc_id}", "delete"): {"200", "400", "404", "429", "502", "503"},
        ("/v1/queries/{workflow_id}/feedback", "post"): {"200", "400", "404", "429", "502", "503"},
        ("/v1/sessions", "post"): {"201", "400", "429", "503"},
        ("/v1/sessions/{session_id}/messages", "post"): {"200", "400", "429", "502", "503", "504"},
        ("/v1/sessions/{session_id}", "get"): {"200", "400", "404", "429", "503"},
        ("/v1/sessions/{session_id}", "delete"): {"200", "400", "429", "503"},
        ("/healthz", "get"): {"200"},
        ("/readyz", "get"): {"200", "503"},
    }
    found = {(p, m) for p, ops in schema["paths"].items() for m in ops}
    assert found == set(expected)
    for (path, method), codes in expected.items():
        assert set(schema["paths"][path][method]["responses"]) == codes, (path, method)
    assert '"422"' not in json.dumps(schema) and "HTTPValidationError" not in json.dumps(schema)
    query = schema["paths"]["/v1/query"]["post"]
    assert set(query["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    assert {p["name"] for p in query["parameters"]} == {"stream", "X-Request-Timeout"}
    body = schema["components"]["schemas"]["QueryRequest"]
    assert body["required"] == ["question"]
    assert body["properties"]["top_k"]["anyOf"][0] == {"type": "integer", "minimum": 1, "maximum": 50}
    assert set(body["properties"]) == {"question", "top_k", "sources", "doc_ids", "timeout_s"}
    error = schema["components"]["schemas"]["ErrorDetail"]
    assert {"type", "message"} <= set(error["required"])
    for code in ("400", "429", "504"):
        assert query["responses"][code]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")


# ---------------------------------------------------------------------------------------------
# AWS Lambda function URL
# ---------------------------------------------------------------------------------------------


class LambdaContext:
    def __init__(self, timeout_s: float):
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def url_event(
    method: str, path: str, body: object = None, *, query: str = "", b64: bool = False, headers: dict | None = None
) -> dict:
    host = "abcdefgh.lambda-url.eu-west-1.on.aws"
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": host, "content-type": "application/json", **(headers or {})},
        "requestContext": {
            "domainName": host,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
        },
        "isBase64Encoded": b64,
    }
    if body is not None:
        raw = json.dumps(body)
        event["body"] = base64.b64encode(raw.encode()).decode() if b64 else raw
    return event


async def test_lambda_function_url_adapter(stack: Stack, fake: FakeAnthropic):
    app = make_app(stack, stack.offline)
    ctx = LambdaContext(60)
    health = await gateway_lambda.handle_event(app, url_event("GET", "/healthz"), ctx)
    assert health["statusCode"] == 200 and json.loads(health["body"]) == {"status": "ok"}
    assert health["headers"]["content-type"] == "application/json" and not health["isBase64Encoded"]

    r = await gateway_lambda.handle_event(
        app, url_event("POST", "/v1/query", {"question": RRF_QUESTION}, b64=True), ctx
    )
    assert r["statusCode"] == 200, r
    assert json.loads(r["body"])["citations"][0]["title"] == "Reciprocal rank fusion"
    bad = await gateway_lambda.handle_event(app, url_event("POST", "/v1/query", {"question": ""}), ctx)
    assert bad["statusCode"] == 400 and json.loads(bad["body"])["error"]["type"] == "InvalidQuery"

    # Buffered: every event, in order, in one body.
    s = await gateway_lambda.handle_event(
        app, url_event("POST", "/v1/query", {"question": RRF_QUESTION}, query="stream=true"), ctx
    )
    assert s["statusCode"] == 200 and s["headers"]["content-type"].startswith("text/event-stream")
    kinds = [line[len("event: ") :] for line in s["body"].splitlines() if line.startswith("event: ")]
    assert kinds[0] == "step" and kinds[-1] == "final", kinds

    # The invocation's deadline caps the budget: 504 (with the workflow id) before Lambda would kill it.
    fake.plan(ok(ANSWER, delay_s=2.5))
    llm_app = make_app(stack, stack.llm)
    # 504, and the run answers afterwards: the deadline (2.5 s), not the 60 s asked for, cut the
    # wait (the mechanism; a clock bound flakes on a loaded machine).
    late = await gateway_lambda.handle_event(
        llm_app, url_event("POST", "/v1/query", {"question": RRF_QUESTION, "timeout_s": 60}), LambdaContext(2.5)
    )
    assert late["statusCode"] == 504, late
    workflow_id = json.loads(late["body"])["error"]["workflow_id"]
    assert (await stack.client.get_workflow_handle(workflow_id, result_type=RagAnswer).result()).answer == ANSWER

    out = gateway_lambda.to_result(
        201,
        [(b"set-cookie", b"a=1"), (b"x-many", b"1"), (b"x-many", b"2"), (b"content-type", b"application/octet-stream")],
        b"\x00\xff",
    )
    assert out["cookies"] == ["a=1"] and out["headers"]["x-many"] == "1, 2"
    assert out["isBase64Encoded"] and base64.b64decode(out["body"]) == b"\x00\xff"


async def test_lambda_handler_entry_point(monkeypatch):
    """The synchronous entry point keeps one loop and one app across invocations."""
    monkeypatch.setattr(gateway_lambda, "_loop", None)
    monkeypatch.setattr(gateway_lambda, "_app", None)

    def invoke_twice() -> list[dict]:
        try:
            return [gateway_lambda.handler(url_event("GET", "/healthz"), LambdaContext(5)) for _ in range(2)]
        finally:
            gateway_lambda._loop.close()

    results = await asyncio.to_thread(invoke_twice)
    assert [r["statusCode"] for r in results] == [200, 200]


# ---------------------------------------------------------------------------------------------
# Fuzzing from the OpenAPI schema (last: its ingests run on in the background)
# ---------------------------------------------------------------------------------------------


def from_schema(schema: dict, components: dict):
    """A Hypothesis strategy for the values a JSON schema (as FastAPI writes it) accepts: the
    keywords the gateway's request bodies use. (hypothesis-jsonschema 0.23 does not work with
    current Hypothesis.)"""
    from hypothesis import strategies as st

    if "$ref" in schema:
        return from_schema(components["schemas"][schema["$ref"].rsplit("/", 1)[-1]], components)
    if "anyOf" in schema:
        return st.one_of([from_schema(s, components) for s in schema["anyOf"]])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        size = dict(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 60))
        printable = st.characters(exclude_categories=("Cc", "Cs"))
        return st.one_of(st.text(**size), st.text(printable, **size))
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        return st.floats(
            low, schema.get("maximum"), exclude_min="exclusiveMinimum" in schema, allow_nan=False, allow_infinity=False
        )
    if kind == "array":
        return st.lists(
            from_schema(schema.get("items", {}), components),
            min_size=schema.get("minItems", 0),
            max_size=schema.get("maxItems", 5),
        )
    if kind == "object":
        props = {k: from_schema(v, components) for k, v in schema.get("properties", {}).items()}
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: v for k, v in props.items() if k in required},
            optional={k: v for k, v in props.items() if k not in required},
        )
    raise AssertionError(f"schema keyword not handled by the test's generator: {schema}")


async def test_schema_fuzzing_no_500s_and_json_errors(stack: Stack, fake: FakeAnthropic, tmp_path):
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings
    from hypothesis import strategies as st

    root = tmp_path / "ingest-root"
    root.mkdir()
    (root / "note.txt").write_text("Fuzzing keeps the gateway honest.")
    app = make_app(stack, stack.offline, default_timeout_s=3, max_timeout_s=3, ingest_roots=str(root))
    schema = app.openapi()
    components = schema["components"]

    def body_of(name: str):
        return from_schema(components["schemas"][name], components)

    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=12),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=6,
    )

    def loose(name: str):  # the schema's keys with values of any type
        return st.fixed_dictionaries({}, optional={k: json_values for k in components["schemas"][name]["properties"]})

    loop = asyncio.get_running_loop()
    seen: collections.Counter = collections.Counter()
    fuzz = hsettings(
        max_examples=40, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )

    async with http(app) as h:

        def call(method: str, url: str, **kwargs) -> httpx.Response:
            r = asyncio.run_coroutine_threadsafe(h.request(method, url, **kwargs), loop).result(60)
            seen[(method, url.split("/")[2], r.status_code)] += 1
            assert r.status_code not in (500, 501), r.text
            if r.status_code >= 300:
                assert r.headers["content-type"].startswith("application/json"), r.text
                err = r.json()["error"]
                assert isinstance(err["type"], str) and isinstance(err["message"], str) and err["message"]
            return r

        @fuzz
        @given(st.one_of(body_of("QueryRequest"), body_of("QueryRequest"), loose("QueryRequest"), json_values))
        def fuzz_query(body) -> None:
            r = call("POST", "/v1/query", json=body)
            if r.status_code == 200:
                QueryResponse.model_validate(r.json())

        @fuzz
        @given(st.one_of(body_of("IngestBody"), body_of("IngestBody"), loose("IngestBody"), json_values))
        def fuzz_ingest(body) -> None:
            r = call("POST", "/v1/ingest", json=body)
            if r.status_code == 202:
                IngestAccepted.model_validate(r.json())

        @hsettings(fuzz, max_examples=25)
        @given(st.text(max_size=40), st.sampled_from(["queries", "ingest"]))
        def fuzz_ids(workflow_id: str, kind: str) -> None:
            call("GET", f"/v1/{kind}/{quote(workflow_id, safe='')}")

        for test in (fuzz_query, fuzz_ingest, fuzz_ids):
            await asyncio.to_thread(test)
    codes = {code for (_, _, code) in seen}
    assert {200, 202, 400, 404} <= codes, seen
