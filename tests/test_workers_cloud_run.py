"""The Cloud Run service shape (``python -m ragstate.workers.cloud_run --service``) against the real
local Temporal server: on SIGTERM, /healthz turns 503 ``draining`` while an in-flight LLM call
finishes, then the process exits 0. Its start, pollers and identity for every deployed role
set are in tests/test_workers.py."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from entry_points import ACTIVITY, REVISION, SOURCES, stop
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from ragstate.models import AnswerMode, SynthesisInput, SynthesisResult
from ragstate.settings import Settings
from ragstate.temporal.devserver import free_port
from ragstate.testing import FakeAnthropic, ok, worker_env
from ragstate.testing.probes import http_answer, http_get, pollers, wait_for

KEY = "sk-ant-test-deploy"


@workflow.defn(name="DrainProbe")
class DrainProbeWorkflow:
    """Calls only Synthesize, once: a call cut off by the drain would fail the workflow."""

    @workflow.run
    async def run(self, inp: SynthesisInput, llm_task_queue: str) -> SynthesisResult:
        return await workflow.execute_activity(
            "Synthesize",
            inp,
            result_type=SynthesisResult,
            task_queue=llm_task_queue,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


async def test_cloud_run_service_drains_an_llm_call_on_sigterm(
    client: Client, settings: Settings, tmp_path: Path, fake_anthropic: FakeAnthropic
):
    port = free_port()
    fake_anthropic.plan(ok("BM25 weighs terms [1].", delay_s=3.0))
    env = worker_env(
        settings,
        tmp_path / "data",
        PORT=str(port),
        K_SERVICE="ragstate-test",
        K_REVISION=REVISION,
        RAGSTATE_ANTHROPIC_API_KEY=KEY,
        RAGSTATE_ANTHROPIC_BASE_URL=fake_anthropic.url,
        RAGSTATE_ANTHROPIC_MODEL="claude-test-model",
        RAGSTATE_ANTHROPIC_STREAM="false",
        RAGSTATE_WORKER_SHUTDOWN_GRACE_S="10",
    )
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = await asyncio.to_thread(
            subprocess.Popen,
            [sys.executable, "-m", "ragstate.workers.cloud_run", "--service", "--roles", "llm"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _, body = await wait_for(lambda: http_answer(port, "/healthz", 200), 45, "/healthz 200", alive=proc)
        assert body["status"] == "running" and body["roles"] == ["llm"]
        assert body["identity"].endswith(f"@{REVISION}")  # the metadata server is out of reach here
        assert body["identity"] in await pollers(client, settings.llm_task_queue, ACTIVITY)

        async with Worker(
            client,
            task_queue=settings.workflow_task_queue,
            workflows=[DrainProbeWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            handle = await client.start_workflow(
                DrainProbeWorkflow.run,
                args=[SynthesisInput(question="What is BM25?", sources=SOURCES), settings.llm_task_queue],
                id=f"drain-probe-{uuid.uuid4().hex}",
                task_queue=settings.workflow_task_queue,
                execution_timeout=timedelta(seconds=60),
            )

            async def llm_call_started() -> bool:
                return len(fake_anthropic.requests) >= 1

            await wait_for(llm_call_started, 20, "the LLM call to start", alive=proc)
            proc.send_signal(signal.SIGTERM)
            # Draining: the health endpoint says so while the in-flight call finishes.
            _, body = await wait_for(lambda: http_answer(port, "/healthz", 503), 3, "/healthz 503", every=0.05)
            assert body["status"] == "draining"
            assert await asyncio.to_thread(proc.wait, 20) == 0
            result = await asyncio.wait_for(handle.result(), 20)
        assert result.mode is AnswerMode.llm and result.answer == "BM25 weighs terms [1]."
        assert len(fake_anthropic.requests) == 1  # finished during the drain, not retried
        assert http_get(port, "/healthz") is None  # the endpoint is gone with the process
    finally:
        stop(proc)
    output = log.read_text(errors="replace")
    assert "draining" in output and "Traceback" not in output, output[-3000:]
