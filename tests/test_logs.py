"""ragstate.observability.logs: JSON lines with Temporal's context, secrets redacted, and `ragstate up` in JSON."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from asyncio.subprocess import Process
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio import activity
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from ragstate.observability.logs import JsonFormatter, RedactSecrets, secrets_of
from ragstate.settings import Settings
from ragstate.temporal.devserver import free_port
from ragstate.testing import clean_env, worker_env
from ragstate.testing.probes import http_answer, pollers, wait_for

WORKFLOW, ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def capture(secrets: list[str] = ()) -> Capture:
    handler = Capture()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecrets(secrets))
    return handler


async def test_an_activity_line_carries_the_temporal_context():
    handler = capture()
    logger = activity.logger.logger
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    @activity.defn(name="Synthesize")
    async def synthesize() -> None:
        activity.logger.info("answering")

    try:
        env = ActivityEnvironment()
        env.info = env.info.__class__(
            **{**env.info.__dict__, "attempt": 3, "workflow_id": "rag-query-1", "activity_type": "Synthesize"}
        )
        await env.run(synthesize)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    [line] = [json.loads(x) for x in handler.lines if "answering" in x]
    assert line["level"] == "INFO" and line["activity_type"] == "Synthesize"
    assert line["attempt"] == 3 and line["workflow_id"] == "rag-query-1" and "task_queue" in line


def test_secrets_are_redacted_in_messages_and_tracebacks():
    settings = Settings(anthropic_api_key=SecretStr("sk-ant-api-key-42"), _env_file=None)
    handler = capture(secrets_of(settings))
    log = logging.getLogger("ragstate.test_logs")
    log.addHandler(handler)
    try:
        log.warning("calling with %s", "sk-ant-api-key-42")
        try:
            raise RuntimeError("header x-api-key: sk-ant-api-key-42")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    assert handler.lines and all("sk-ant-api-key-42" not in line for line in handler.lines)
    assert json.loads(handler.lines[0])["message"] == "calling with [redacted]"
    assert "[redacted]" in json.loads(handler.lines[1])["exception"]


async def until_polled(process: Process, address: str, queues: dict[str, TaskQueueType.ValueType]) -> None:
    """Until a worker polls each queue for its kind of task (``TaskQueueType``) on the server at
    ``address``, while ``process`` runs."""
    client = await Client.connect(address)
    for queue, kind in queues.items():

        async def polled(queue: str = queue, kind: TaskQueueType.ValueType = kind) -> list[str]:
            assert process.returncode is None, await process.stdout.read() if process.stdout else b""
            return await pollers(client, queue, kind)

        await wait_for(polled, 90, f"a worker polling {queue}")


async def until_healthy(process: Process, port: int) -> None:
    """Until the gateway on ``port`` answers /healthz, while ``process`` runs."""

    async def healthy() -> tuple[int, dict] | None:
        assert process.returncode is None, await process.stdout.read() if process.stdout else b""
        return await http_answer(port, "/healthz", 200)

    await wait_for(healthy, 60, "the gateway answering /healthz")


async def test_every_line_of_ragstate_up_is_json(tmp_path: Path):
    env = clean_env(RAGSTATE_LOG_FORMAT="json", RAGSTATE_DATA_DIR=str(tmp_path))
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("ragstate")),
        "up",
        "--port",
        str(port := free_port()),
        "--ui-port",
        str(free_port()),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    lines: list[bytes] = []
    try:
        async with asyncio.timeout(90):
            while not any(b"worker: serving" in line for line in lines):
                lines.append(await process.stdout.readline())
                assert lines[-1], b"".join(lines)
            # Every queue polled: the model has loaded (its loader logs too) and the SDK's
            # workers run, so the lines checked cover a whole start.
            up = Settings(_env_file=None)
            queues = {up.workflow_task_queue: WORKFLOW, up.embeddings_task_queue: ACTIVITY, up.llm_task_queue: ACTIVITY}
            await until_polled(process, f"127.0.0.1:{port}", queues)
            process.send_signal(signal.SIGINT)
            lines += (await process.stdout.read()).splitlines(keepends=True)
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
    records = [json.loads(line) for line in lines if line.strip()]  # raises on any line that is not JSON
    assert any("offline extractive" in r["message"] for r in records)


async def test_expected_failures_log_one_line_without_a_traceback(client, settings: Settings, fake_anthropic, caplog):
    """A rejected question and a rate-limited LLM attempt (retried) are expected: each logs one
    line, and the worker's own failure log (with its traceback) stays at DEBUG (BENIGN)."""
    from paths import EXAMPLES_CORPUS

    from ragstate.activities import anthropic_llm
    from ragstate.client import InvalidQueryError, RagClient
    from ragstate.testing import error, ok
    from ragstate.workers.runtime import running_workers

    settings = settings.model_copy(
        update={"anthropic_api_key": SecretStr("sk-ant-test"), "anthropic_base_url": fake_anthropic.url}
    )
    rag = RagClient(client, settings)
    caplog.set_level(logging.INFO)
    try:
        async with running_workers(client, settings):
            await rag.ingest([str(EXAMPLES_CORPUS)])
            caplog.clear()
            try:
                await rag.ask("   ")
            except InvalidQueryError:
                pass
            else:
                raise AssertionError("an empty question was answered")
            fake_anthropic.plan(error(429, "rate limited", retry_after="1"), ok("BM25 ranks [1]."))
            answer = await rag.ask("What is BM25?")
    finally:
        await anthropic_llm.close_llm_clients()
    assert answer.answer == "BM25 ranks [1]."
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in warned if r.exc_info], [r.getMessage() for r in warned if r.exc_info]
    rejected = [r for r in caplog.records if r.getMessage().startswith("question rejected:")]
    assert len(rejected) == 1 and rejected[0].levelno == logging.INFO
    retry_line = "Synthesize attempt 1 failed: Anthropic API answered 429"
    retried = [r for r in warned if r.getMessage().startswith(retry_line)]
    assert len(retried) == 1, [r.getMessage() for r in warned]


@pytest.mark.parametrize(
    "command",
    [["worker", "--roles", "workflows"], ["serve", "--port", "{port}"], ["-m", "ragstate.workers.light"]],
    ids=["worker", "gateway", "light-worker"],
)
async def test_every_line_of_a_worker_and_the_gateway_is_json(command, settings: Settings, tmp_path: Path):
    """RAGSTATE_LOG_FORMAT=json: what a worker entry point and `ragstate serve` write from start
    to a signalled stop is JSON, line by line (the SDK's and uvicorn's lines included)."""
    env = worker_env(settings, tmp_path, RAGSTATE_LOG_FORMAT="json")
    port = free_port()
    args = [a.replace("{port}", str(port)) for a in command]
    program = sys.executable if args[0] == "-m" else str(Path(sys.executable).with_name("ragstate"))
    process = await asyncio.create_subprocess_exec(
        program, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        # Started and serving (a worker polls its queue, the gateway answers), so the lines
        # checked cover a whole start.
        if command[0] == "serve":
            await until_healthy(process, port)
        else:
            await until_polled(process, settings.temporal_address, {settings.workflow_task_queue: WORKFLOW})
        process.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
    lines = [line for line in out.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # raises on any line that is not JSON
    assert records and all("message" in r for r in records), out
