"""Every worker entry point, started as a process the way deploy/ starts it, against the real
local Temporal dev server: it polls the task queues of its roles (and no others), serves one
task of each role, and on SIGTERM drains and exits 0.

``ENTRY_POINTS`` (tests/entry_points.py) is the one table of covered (entry point, role set)
cases: the process tests here and the Lambda handler tests (tests/test_lambda.py) are
parametrized from it, and tests/test_deploy.py fails when a deploy file starts a case that is not in it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from entry_points import ACTIVITY, ENTRY_POINTS, REVISION, SOURCES, WORKFLOW, EntryPoint, stop
from temporalio import workflow
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from ragstate.activities.query_parsing import build_routing
from ragstate.contracts import Activity, Workflow
from ragstate.models import ParsedQuery, StatsRequest, StoreStats, SynthesisInput
from ragstate.settings import Settings
from ragstate.temporal.devserver import free_port
from ragstate.testing import clean_env, worker_env
from ragstate.testing.probes import http_answer, pollers, wait_for

PROCESSES = [e for e in ENTRY_POINTS if e.argv]

#: Cases that fail for a known reason; strict, so a fix shows up as XPASS. (The gateway died by
#: SIGTERM, exit -15, until its main() handled uvicorn's re-raised signal.)
KNOWN_DEFECTS: dict[str, str] = {}


def process_cases() -> list:
    return [
        pytest.param(
            e,
            id=str(e),
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_DEFECTS[e.name])] if e.name in KNOWN_DEFECTS else [],
        )
        for e in PROCESSES
    ]


# --- starting a process -----------------------------------------------------------------------


def command(e: EntryPoint) -> list[str]:
    """The command line: the installed console script for ``ragstate ...``, else this interpreter."""
    if e.argv[0] == "ragstate":
        return [str(Path(sys.executable).with_name("ragstate")), *e.argv[1:]]
    return [sys.executable, *e.argv]


def cloud_run_env(e: EntryPoint) -> dict[str, str]:
    """What Cloud Run sets for a service or a worker pool (the identity plugin reads it)."""
    if not e.name.startswith("ragstate.workers.cloud_run"):
        return {}
    if "--service" in e.argv:
        return {"K_SERVICE": "ragstate-test", "K_REVISION": REVISION}
    return {"CLOUD_RUN_WORKER_POOL": "ragstate-test", "CLOUD_RUN_REVISION": REVISION}


# --- watching it ------------------------------------------------------------------------------


def polled_queues(settings: Settings, roles: frozenset[str]) -> Iterator[tuple[str, TaskQueueType.ValueType]]:
    """(task queue, task kind) a worker with ``roles`` polls, from the settings the test gave it."""
    if "workflows" in roles:
        yield settings.workflow_task_queue, WORKFLOW
        yield settings.workflow_task_queue, ACTIVITY
    for role, queue in (
        ("embeddings", settings.embeddings_task_queue),
        ("gpu-embeddings", settings.gpu_embeddings_task_queue),
        ("llm", settings.llm_task_queue),
    ):
        if role in roles:
            yield queue, ACTIVITY


# --- one task per role --------------------------------------------------------------------------


@workflow.defn(name="ActivityProbe")
class ActivityProbeWorkflow:
    """Runs one activity, once, on the given task queue, and returns its result as JSON data."""

    @workflow.run
    async def run(self, activity_type: str, arg: Any, task_queue: str) -> Any:
        return await workflow.execute_activity(
            activity_type,
            arg,
            task_queue=task_queue,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


async def run_activity(client: Client, probe_queue: str, activity_type: str, arg: Any, task_queue: str) -> Any:
    return await client.execute_workflow(
        ActivityProbeWorkflow.run,
        args=[activity_type, arg, task_queue],
        id=f"probe-{uuid.uuid4().hex}",
        task_queue=probe_queue,
        execution_timeout=timedelta(seconds=60),
    )


async def serve_one_task_per_role(client: Client, settings: Settings, roles: frozenset[str]) -> None:
    """A StoreStats workflow on the workflow queue, a VectorSearch on each embedding queue and an
    offline Synthesize on the LLM queue, each with the result it must have."""
    if "workflows" in roles:
        stats = await client.execute_workflow(
            Workflow.STATS,
            StatsRequest(collection=settings.collection),
            id=f"stats-{uuid.uuid4().hex}",
            task_queue=settings.workflow_task_queue,
            result_type=StoreStats,
            execution_timeout=timedelta(seconds=60),
        )
        assert (stats.collection, stats.documents, stats.chunks) == (settings.collection, 0, 0)
    probe_queue = f"probe-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=probe_queue, workflows=[ActivityProbeWorkflow], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        query = ParsedQuery(
            question="What is BM25?",
            top_k=3,
            depth=5,
            terms=["bm25"],
            collection=settings.collection,
            routing=build_routing(settings),
        )
        for role, queue in (
            ("embeddings", settings.embeddings_task_queue),
            ("gpu-embeddings", settings.gpu_embeddings_task_queue),
        ):
            if role in roles:
                found = await run_activity(client, probe_queue, Activity.VECTOR_SEARCH, query, queue)
                assert (found["branch"], found["hits"]) == ("vector", []), found
        if "llm" in roles:
            answer = await run_activity(
                client,
                probe_queue,
                Activity.SYNTHESIZE,
                SynthesisInput(question="What is BM25?", sources=SOURCES),
                settings.llm_task_queue,
            )
            assert answer["mode"] == "offline-extractive" and "BM25" in answer["answer"], answer


# --- the test --------------------------------------------------------------------------------------


@pytest.mark.parametrize("e", process_cases())
async def test_entry_point_serves_its_roles_and_exits_0_on_sigterm(
    e: EntryPoint, client: Client, settings: Settings, tmp_path: Path
):
    settings = settings.model_copy(update={"gpu_embeddings_task_queue": f"gpu-{uuid.uuid4().hex[:8]}"})
    port = free_port()
    log = tmp_path / "process.log"
    # Its own working directory: nothing may depend on running from the repository.
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    with log.open("wb") as out:
        proc = await asyncio.to_thread(
            subprocess.Popen,
            command(e),
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=worker_env(settings, tmp_path / "data", PORT=str(port), **cloud_run_env(e)),
        )
    try:
        await check_serving(e, proc, client, settings, port)
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.to_thread(proc.wait, 30)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n--- output of {e} ---\n{log.read_text(errors='replace')[-4000:]}") from None
    finally:
        stop(proc)
    output = log.read_text(errors="replace")
    assert rc == 0, output[-4000:]
    assert "Traceback" not in output and "light worker imported" not in output, output[-4000:]


async def check_serving(e: EntryPoint, proc: subprocess.Popen, client: Client, settings: Settings, port: int) -> None:
    """Its health endpoint, its pollers (on its queues, only there) and one task of each role."""
    # The model loads before an embedding worker polls: seconds on a busy machine.
    startup_s = 90 if e.roles & {"embeddings", "gpu-embeddings"} else 45
    if e.name in ("ragstate.gateway", "ragstate serve"):
        await wait_for(lambda: http_answer(port, "/healthz", 200), startup_s, "/healthz", alive=proc)
        assert await http_answer(port, "/readyz") == (200, {"status": "ready"})  # it reaches Temporal
        return
    if "--service" in e.argv:
        _, body = await wait_for(lambda: http_answer(port, "/healthz", 200), startup_s, "/healthz 200", alive=proc)
        assert body["status"] == "running" and set(body["roles"]) == e.roles, body

    def mine(identity: str) -> bool:
        # Cloud Run names the instance and revision; everywhere else the identity is pid@host.
        return identity.endswith(f"@{REVISION}") if cloud_run_env(e) else identity.startswith(f"{proc.pid}@")

    expected = set(polled_queues(settings, e.roles))
    everything = set(polled_queues(settings, frozenset({"workflows", "embeddings", "gpu-embeddings", "llm"})))

    async def polled() -> set:
        return {(q, k) for q, k in everything if any(map(mine, await pollers(client, q, k)))}

    await wait_for(lambda: _covers(polled(), expected), startup_s, f"pollers on {sorted(expected)}", alive=proc)
    await serve_one_task_per_role(client, settings, e.roles)
    assert await polled() == expected  # and nothing else, after serving


async def _covers(value: Awaitable[set], expected: set) -> bool:
    return expected <= await value


# --- what the light and LLM workers load and take -------------------------------------------------


def test_light_worker_never_imports_torch(temporal_address: str, tmp_path: Path):
    code = (
        "import asyncio, json, sys\n"
        "import ragstate.workers.light, ragstate.workers.embeddings, ragstate.workers.llm, ragstate.workers.cloud_run\n"
        "from ragstate.settings import Settings\n"
        "from ragstate.temporal.connection import connect\n"
        "from ragstate.workers.runtime import build_workers\n"
        "async def main():\n"
        "    s = Settings(temporal_address=sys.argv[1], _env_file=None)\n"
        "    built = build_workers(await connect(s), s, ragstate.workers.light.LIGHT_ROLES)\n"
        "    print(json.dumps({'workers': len(built), 'heavy': ragstate.workers.light.heavy_modules_loaded(),\n"
        "                      'torch': 'torch' in sys.modules}))\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, temporal_address],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"workers": 2, "heavy": [], "torch": False}


def test_llm_worker_flags_override_settings(client: Client, monkeypatch):
    from ragstate.workers.llm import parser, settings_from_args
    from ragstate.workers.runtime import build_workers

    monkeypatch.setenv("RAGSTATE_LLM_MAX_CONCURRENT", "3")
    monkeypatch.setenv("RAGSTATE_LLM_QUEUE_RATE_PER_S", "5")
    defaults = settings_from_args(parser().parse_args([]))
    assert (defaults.llm_max_concurrent, defaults.llm_queue_rate_per_s) == (3, 5.0)
    s = settings_from_args(parser().parse_args(["--max-concurrent", "2", "--rate-per-s", "0.5"]))
    assert (s.llm_max_concurrent, s.llm_queue_rate_per_s) == (2, 0.5)
    (worker,) = build_workers(client, s, ["llm"])
    config = worker.config()
    assert (config["max_concurrent_activities"], config["max_task_queue_activities_per_second"]) == (2, 0.5)
    assert config["graceful_shutdown_timeout"] == timedelta(seconds=s.worker_shutdown_grace_s)
    with pytest.raises(SystemExit):
        parser().parse_args(["--max-concurrent", "0"])
