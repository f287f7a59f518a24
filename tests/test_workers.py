"""Every worker entry point, started as a process the way deploy/ starts it, against the real
local Temporal dev server: it polls the task queues of its roles (and no others), serves one
task of each role, and on SIGTERM drains and exits 0.

``ENTRY_POINTS`` is the one table of covered (entry point, role set) cases: the process tests
here and the Lambda handler tests (tests/test_lambda.py) are parametrized from it, and
tests/test_deploy.py fails when a deploy file starts a case that is not in it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from ragstate.activities.query_parsing import build_routing
from ragstate.contracts import Activity, Workflow
from ragstate.models import ParsedQuery, Source, StatsRequest, StoreStats, SynthesisInput
from ragstate.settings import Settings
from ragstate.temporal.devserver import free_port


@dataclass(frozen=True)
class EntryPoint:
    """An entry point and the roles it serves, named as deploy/ names them: a ``python -m``
    module (``ragstate.workers.cloud_run --service`` for the Cloud Run service shape), a
    ``ragstate`` command, or a Lambda handler string."""

    name: str
    roles: frozenset[str]
    #: How a test starts it: the arguments after ``python`` (``-m module ...``) or ``ragstate ...``.
    #: Empty for a Lambda handler, which tests/test_lambda.py invokes in-process.
    argv: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, frozenset[str]]:
        return self.name, self.roles

    def __str__(self) -> str:
        return f"{self.name}[{','.join(sorted(self.roles)) or '-'}]"


def entry(name: str, roles: str, *argv: str) -> EntryPoint:
    return EntryPoint(name, frozenset(r for r in roles.split(",") if r), tuple(argv))


ENTRY_POINTS: list[EntryPoint] = [
    entry("ragstate.workers.local", "workflows,embeddings,llm", "-m", "ragstate.workers.local"),
    entry("ragstate.workers.light", "workflows,llm", "-m", "ragstate.workers.light"),
    entry("ragstate.workers.light", "workflows", "-m", "ragstate.workers.light", "--roles", "workflows"),
    entry("ragstate.workers.embeddings", "embeddings", "-m", "ragstate.workers.embeddings", "--device", "cpu"),
    # The CUDA image's command serves this queue on a GPU; the roles are the same on the CPU.
    entry(
        "ragstate.workers.embeddings",
        "gpu-embeddings",
        "-m",
        "ragstate.workers.embeddings",
        "--device",
        "cpu",
        "--queue",
        "gpu",
    ),
    entry("ragstate.workers.llm", "llm", "-m", "ragstate.workers.llm"),
    entry(
        "ragstate.workers.cloud_run", "workflows,llm", "-m", "ragstate.workers.cloud_run", "--roles", "workflows,llm"
    ),
    entry("ragstate.workers.cloud_run", "embeddings", "-m", "ragstate.workers.cloud_run", "--roles", "embeddings"),
    entry(
        "ragstate.workers.cloud_run --service",
        "workflows,llm",
        "-m",
        "ragstate.workers.cloud_run",
        "--service",
        "--roles",
        "workflows,llm",
    ),
    entry("ragstate worker", "workflows,llm", "ragstate", "worker", "--roles", "workflows,llm"),
    entry("ragstate.gateway", "", "-m", "ragstate.gateway"),
    entry("ragstate serve", "", "ragstate", "serve"),
    entry("ragstate.workers.aws_lambda.handler", "workflows,llm"),
    entry("ragstate.workers.sqs_ingest.handler", ""),
]
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


def lambda_handler_cases(handler: str) -> list[EntryPoint]:
    """The table's cases of one Lambda handler string (what tests/test_lambda.py runs)."""
    return [e for e in ENTRY_POINTS if e.name == handler]


# --- starting a process -----------------------------------------------------------------------

#: Variables of the test's own environment that would change what a worker does.
FOREIGN_VARIABLES = ("K_SERVICE", "K_REVISION", "CLOUD_RUN_WORKER_POOL", "CLOUD_RUN_REVISION", "PORT")
REVISION = "ragstate-test-00001"


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test process's environment without RAGSTATE_*/TEMPORAL_* or Cloud Run variables,
    offline for the model, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RAGSTATE_", "TEMPORAL_")) and k not in FOREIGN_VARIABLES
    }
    return {**env, "HF_HUB_OFFLINE": "1", **extra}


def worker_env(settings: Settings, data_dir: Path, **extra: str) -> dict[str, str]:
    """RAGSTATE_* variables for this test's server, data directory, collection and task queues."""
    return subprocess_env(
        RAGSTATE_TEMPORAL_ADDRESS=settings.temporal_address,
        RAGSTATE_DATA_DIR=str(data_dir),
        RAGSTATE_COLLECTION=settings.collection,
        RAGSTATE_WORKFLOW_TASK_QUEUE=settings.workflow_task_queue,
        RAGSTATE_EMBEDDINGS_TASK_QUEUE=settings.embeddings_task_queue,
        RAGSTATE_LLM_TASK_QUEUE=settings.llm_task_queue,
        RAGSTATE_GPU_EMBEDDINGS_TASK_QUEUE=settings.gpu_embeddings_task_queue,
        **extra,
    )


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


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


# --- watching it ------------------------------------------------------------------------------


async def wait_for(
    predicate: Callable[[], Awaitable[Any]],
    within_s: float,
    what: str,
    alive: subprocess.Popen | None = None,
    every: float = 0.2,
) -> Any:
    """The first truthy value of ``predicate()``; fails after ``within_s``, or at once when the
    process ``alive`` exits meanwhile."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if value := await predicate():
            return value
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"the process exited ({alive.returncode}) before {what}")
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {within_s:.0f} s waiting for {what}")


async def pollers(client: Client, queue: str, kind: TaskQueueType.ValueType) -> list[str]:
    """Identities of the workers polling ``queue`` for tasks of ``kind``."""
    resp = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind)
    )
    return [p.identity for p in resp.pollers]


def http_get(port: int, path: str) -> tuple[int, dict] | None:
    """Status and JSON body of ``GET path`` on localhost; None while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return None


async def http_answer(port: int, path: str, code: int | None = None) -> tuple[int, dict] | None:
    """:func:`http_get` off the event loop; with ``code``, None unless the status is that one."""
    answer = await asyncio.to_thread(http_get, port, path)
    return answer if answer and code in (None, answer[0]) else None


WORKFLOW, ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY


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

SOURCES = [
    Source(
        number=1,
        chunk_id="c1",
        doc_id="d1",
        title="BM25",
        source="bm25.md",
        text="BM25 ranks documents by term frequency and inverse document frequency.",
        score=0.9,
    )
]


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
        env=subprocess_env(),
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
