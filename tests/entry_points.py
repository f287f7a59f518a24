"""The table of worker entry points the tests start (``ENTRY_POINTS``: each entry point and
the roles it serves, named as deploy/ names them) and what a test needs beside it: the task
kinds a queue is polled for, the Cloud Run revision a test sets, a sample source to answer from,
and how a started process is stopped. tests/test_workers.py runs every process case,
tests/test_lambda.py the Lambda handlers, and tests/test_deploy.py fails when a deploy file
starts a case that is not in the table."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from temporalio.api.enums.v1 import TaskQueueType

from ragstate.models import Source


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


def lambda_handler_cases(handler: str) -> list[EntryPoint]:
    """The table's cases of one Lambda handler string (what tests/test_lambda.py runs)."""
    return [e for e in ENTRY_POINTS if e.name == handler]


REVISION = "ragstate-test-00001"
WORKFLOW, ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY

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


def stop(proc: subprocess.Popen) -> None:
    """Kill a started process that is still running, and reap it."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
