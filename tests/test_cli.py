"""The `ragstate` command line as a person runs it: a subprocess against the real dev server."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from temporalio.client import Client

from ragstate import __version__
from ragstate.settings import Settings
from ragstate.workers.runtime import running_workers

RAGSTATE = str(Path(sys.executable).with_name("ragstate"))


def cli_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSTATE_")}
    env.update(
        HF_HUB_OFFLINE="1",
        RAGSTATE_TEMPORAL_ADDRESS=settings.temporal_address,
        RAGSTATE_WORKFLOW_TASK_QUEUE=settings.workflow_task_queue,
        RAGSTATE_EMBEDDINGS_TASK_QUEUE=settings.embeddings_task_queue,
        RAGSTATE_LLM_TASK_QUEUE=settings.llm_task_queue,
        RAGSTATE_COLLECTION=settings.collection,
        RAGSTATE_DATA_DIR=str(settings.data_dir),
    )
    return env


async def run_cli(settings: Settings, *args: str | bytes, limit_s: float = 120) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        RAGSTATE,
        *args,
        env=cli_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), limit_s)
    return process.returncode or 0, out.decode("utf-8", "replace")


async def test_version(settings: Settings):
    assert await run_cli(settings, "--version") == (0, f"ragstate {__version__}\n")


async def test_status_exits_cleanly_every_time(settings: Settings):
    """Before: SIGABRT (PyGILState_Release at interpreter teardown) in 3 of 11 runs under load."""
    results = await asyncio.gather(*(run_cli(settings, "status") for _ in range(6)))
    for code, out in results:
        assert code == 0, out
        assert "no worker" in out and "Traceback" not in out


async def test_a_question_that_is_not_utf8_is_a_clear_error_not_a_traceback(settings: Settings):
    code, out = await run_cli(settings, "ask", b"caf\xe9?")
    assert code == 1
    assert "not valid UTF-8" in out and "Traceback" not in out


@pytest.mark.timeout(240)
async def test_ingest_exits_2_when_documents_failed_and_lists_them(client: Client, settings: Settings, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("Hybrid retrieval fuses keyword and vector rankings.")
    (docs / "empty.md").write_text("  \n")
    (docs / "report.pdf").write_bytes(b"%PDF-1.4")  # skipped with its reason: not a failure, not silent
    async with running_workers(client, settings):
        code, out = await run_cli(settings, "ingest", str(docs))
        assert code == 2, out
        assert "empty.md" in out and "empty document" in out
        flat = " ".join(out.split())  # rich wraps at the terminal's width
        assert "skipped" in flat and "report.pdf: unsupported file type '.pdf'" in flat
        (docs / "empty.md").unlink()
        code, out = await run_cli(settings, "ingest", str(docs))
        assert code == 0, out
        assert "report.pdf: unsupported file type '.pdf'" in " ".join(out.split())


async def test_ask_without_a_workflow_worker_says_so_at_once(settings: Settings):
    """Before: `ragstate ask` with no worker on the workflow queue hung silently (killed after 40 s)."""
    code, out = await run_cli(settings, "ask", "What is BM25?", limit_s=30)
    assert code == 1
    assert f"no worker polls task queue {settings.workflow_task_queue!r}" in out and "ragstate up" in out
