"""Clients that ride out a Temporal server restart: ``RagClient.ask`` and ``ragstate ingest``
keep following their run, and ``ask_stream`` resumes its stream where it was cut, with no
event lost or repeated. Each test runs its own dev server on a persistent SQLite database,
kills it with SIGKILL mid-run and starts it again on the same ports."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from paths import EXAMPLES_CORPUS
from pydantic import SecretStr
from temporalio.service import RPCError, RPCStatusCode

from ragstate.client import RagClient
from ragstate.errors import ServerUnavailableError
from ragstate.models import AnswerMode, StreamEventType
from ragstate.settings import Settings
from ragstate.temporal.outage import server_unreachable, through_outage
from ragstate.testing import FakeAnthropic, RestartableServer, ok, process_env
from ragstate.testing.anthropic.handler import Handler
from ragstate.testing.probes import wait_for
from ragstate.workers.runtime import running_workers

ANSWER = " ".join(f"word{i}" for i in range(40)) + " [1]."
#: What a follower logs (the CLI prints it) once the core client's own retries gave up.
UNREACHABLE = "Temporal server unreachable while following"


@contextlib.contextmanager
def client_log() -> Iterator[list[str]]:
    """The messages of the ``ragstate.client`` logger while in the block."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger, handler = logging.getLogger("ragstate.client"), Collect(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def count_deltas(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text deltas the fake Messages API streams from now on (it serves on its own thread)."""
    sent: list[str] = []
    original = Handler._event

    def counted(self: Handler, name: str, data: dict) -> None:
        original(self, name, data)
        if data.get("delta", {}).get("type") == "text_delta":
            sent.append(data["delta"]["text"])

    monkeypatch.setattr(Handler, "_event", counted)
    return sent


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RestartableServer]:
    s = RestartableServer(tmp_path / "temporal")
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def outage_settings(settings: Settings, server: RestartableServer) -> Settings:
    return settings.model_copy(update={"temporal_address": server.address, "server_outage_s": 60.0})


async def test_ask_follows_its_run_through_a_server_restart(server: RestartableServer, outage_settings: Settings):
    rag = await RagClient.connect(outage_settings)
    async with running_workers(rag.client, outage_settings):
        await rag.ingest([str(EXAMPLES_CORPUS)])
    # No worker yet: the question waits on the server while it dies and comes back.
    with client_log() as logged:
        asking = asyncio.create_task(rag.ask("What is BM25?"))
        await wait_for_run(outage_settings, "rag-query-")
        server.kill()

        async def reconnecting() -> bool:
            return any(UNREACHABLE in m for m in logged) or asking.done()

        # Past the core client's own retries (about 10 s): the follower itself reconnects.
        await wait_for(reconnecting, 60, "the client saying it reconnects")
    assert not asking.done()
    server.restart()
    async with running_workers(rag.client, outage_settings):
        answer = await asyncio.wait_for(asking, 60)
    assert answer.mode is AnswerMode.offline_extractive and answer.citations


async def test_ask_stream_resumes_without_losing_or_repeating_events(
    server: RestartableServer, outage_settings: Settings, fake_anthropic: FakeAnthropic, monkeypatch
):
    fake_anthropic.delta_delay_s = 0.25
    deltas = count_deltas(monkeypatch)
    settings = outage_settings.model_copy(
        update={
            "anthropic_api_key": SecretStr("sk-ant-test"),
            "anthropic_base_url": fake_anthropic.url,
            "anthropic_stream": True,
        }
    )
    rag = await RagClient.connect(settings)
    async with running_workers(rag.client, settings):
        await rag.ingest([str(EXAMPLES_CORPUS)])
        fake_anthropic.plan(ok(ANSWER, chunks=40), ok(ANSWER, chunks=40))
        events = []
        killed = False
        async with contextlib.aclosing(rag.ask_stream("What is BM25?")) as stream:
            async for event in stream:
                events.append(event)
                if event.type is StreamEventType.token and not killed:
                    killed = True
                    server.kill()
                    # The answer goes on while the server is down (the worker cannot report it).
                    await until_grown(deltas, 4, "tokens produced during the outage")
                    server.restart()
                    # A restarted server lists no poller until the workers poll again; `ask`
                    # looks for a few seconds before it says no worker runs.
                    assert await rag.pollers_within(settings.workflow_task_queue, 15, workflows=True) >= 1

    assert killed and events[-1].type is StreamEventType.final, [e.type for e in events]
    answer = events[-1].answer
    # What a consumer shows: tokens since the last `synthesizing` step (a retried attempt restarts).
    last = max(i for i, e in enumerate(events) if e.step == "synthesizing")
    text = "".join(e.text for e in events[last:] if e.type is StreamEventType.token)
    assert text == answer.answer == ANSWER
    steps = [e.step for e in events if e.type is StreamEventType.step]
    assert steps.count("parsed") == 1 and steps.count("retrieved") == 1  # nothing read twice


async def until_grown(items: list, by: int, what: str) -> None:
    """Until ``items`` (filled by another thread) holds ``by`` more than now."""
    target = len(items) + by

    async def grown() -> bool:
        return len(items) >= target

    await wait_for(grown, 60, what)


async def wait_for_run(settings: Settings, prefix: str, limit_s: float = 60) -> None:
    rag = await RagClient.connect(settings)
    deadline = time.monotonic() + limit_s
    while not [w async for w in rag.client.list_workflows(f"WorkflowId STARTS_WITH '{prefix}'")]:
        assert time.monotonic() < deadline, f"no {prefix}* run started"
        await asyncio.sleep(0.5)


async def test_the_ingest_command_survives_a_server_restart(
    server: RestartableServer, outage_settings: Settings, tmp_path: Path
):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(60):
        (corpus / f"doc{i}.txt").write_text(f"Document {i} about topic {i % 7}. " * 40)
    ingest = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "ragstate.cli", "ingest", str(corpus)],
        env=process_env(outage_settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    lines: list[str] = []  # its output so far, read while the test waits

    async def read() -> None:
        assert ingest.stdout is not None
        async for line in ingest.stdout:
            lines.append(line.decode(errors="replace"))

    reader = asyncio.create_task(read())
    try:
        await wait_for_run(outage_settings, "rag-ingest-")  # started; no worker yet: it waits
        server.kill()

        async def reconnecting() -> bool:
            assert ingest.returncode is None, "".join(lines)
            return any(UNREACHABLE in line for line in lines)

        # Past the core client's own retries (about 10 s): the command says it reconnects.
        await wait_for(reconnecting, 60, "the command saying it reconnects")
        server.restart()
        rag = await RagClient.connect(outage_settings)
        # Workers in this process: the command is the process under test, and a worker process
        # would load the model again (10 s or more here).
        async with running_workers(rag.client, outage_settings):
            await asyncio.wait_for(ingest.wait(), 180)
    finally:
        if ingest.returncode is None:
            ingest.kill()
            await ingest.wait()
    await asyncio.wait_for(reader, 30)
    out = "".join(lines)
    assert ingest.returncode == 0, out
    assert "Traceback" not in out and "60 documents" in out, out


async def test_through_outage_gives_up_with_a_clear_error_and_passes_other_errors():
    calls = 0

    async def down():
        nonlocal calls
        calls += 1
        raise RPCError("tcp connect error", RPCStatusCode.UNAVAILABLE, b"")

    with pytest.raises(ServerUnavailableError, match="did not answer for 1 s while following query q1"):
        await through_outage(down, outage_s=1.0, what="query q1")
    assert calls >= 2

    async def not_found():
        raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")

    with pytest.raises(RPCError):
        await through_outage(not_found, outage_s=5.0, what="query q2")
    assert server_unreachable(RPCError("transport error", RPCStatusCode.UNKNOWN, b""))
    assert not server_unreachable(RPCError("bad", RPCStatusCode.INVALID_ARGUMENT, b""))
