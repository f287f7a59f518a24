"""Ingest progress by chunks embedded, on the real dev server: the count moves inside a batch
(EmbedChunks heartbeats), the documents' total is known from the first poll and never changes,
and a rate and an ETA come with it. `ragstate ingest` interrupted says the ingest goes on; run
again, it says it joined the running ingest."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client

from ragstate.activities.embeddings import EmbeddingActivities
from ragstate.client import RagClient
from ragstate.client.ingest_progress import chunks_total, live_progress, with_rate
from ragstate.models import IngestProgress, IngestRequest
from ragstate.retrieval.embedding import get_embedder
from ragstate.settings import Settings
from ragstate.testing import RAGSTATE, process_env
from ragstate.workers.runtime import running_workers

DOCS = 160


class SlowEmbedder:
    """The real model, slowed down, so that one batch takes seconds even on a fast machine."""

    def __init__(self, delay_s: float):
        self.real = get_embedder("cpu")
        self.delay_s = delay_s

    def encode(self, texts, batch_size):
        time.sleep(self.delay_s)
        return self.real.encode(texts, batch_size=batch_size)


class SlowEmbedding(EmbeddingActivities):
    delay_s = 0.25

    @property
    def embedder(self):
        return SlowEmbedder(self.delay_s)


def corpus(tmp_path: Path, n: int = DOCS) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(n):
        text = f"# Note {i}\n\nNote {i} is about retrieval topic {i % 7} and keeps its own words {i}.\n"
        (folder / f"note-{i:03d}.md").write_text(text)
    return folder


def test_totals_are_exact_once_every_document_is_chunked_and_estimated_before():
    p = IngestProgress(documents_total=100, documents_chunked=25, chunks_found=50)
    assert chunks_total(p) == (200, False)
    assert chunks_total(p.model_copy(update={"documents_chunked": 100, "chunks_found": 190})) == (190, True)
    assert chunks_total(IngestProgress()) == (None, False)
    started = datetime(2026, 1, 1, tzinfo=UTC)
    p = p.model_copy(update={"started_at": started, "chunks_embedded": 40})
    rated = with_rate(p, now=started + timedelta(seconds=20))
    assert rated.chunks_per_s == pytest.approx(2.0) and rated.eta_s == pytest.approx(80.0)


@pytest.mark.timeout(180)
async def test_progress_counts_chunks_embedded_inside_a_batch_with_a_stable_total(
    client: Client, settings: Settings, tmp_path
):
    """Before: the count moved only when a whole batch ended (0 chunks for minutes on CISI) and
    the total grew batch by batch (4, 5, 6)."""
    settings = settings.model_copy(update={"embedding_batch_size": 4})
    path = corpus(tmp_path)
    rag = RagClient(client, settings)
    seen: list[IngestProgress] = []
    async with running_workers(client, settings, replace=[SlowEmbedding(settings).embed_chunks]):
        handle = await rag.start_ingest(IngestRequest(paths=[str(path)], batch_docs=DOCS))  # one batch
        result_task = asyncio.create_task(handle.result())
        while not result_task.done():
            # The first query may come before the first workflow task: it fails, the next one answers.
            with contextlib.suppress(Exception):
                seen.append(await live_progress(client, handle.id))
            await asyncio.sleep(0.3)
        result = await result_task
        final = await live_progress(client, handle.id)  # a query needs a worker: before they stop
    assert (result.documents, result.failed) == (DOCS, 0)
    totals = {p.documents_total for p in seen if p.documents_total is not None}
    assert totals == {DOCS}, totals  # known from the first page on, never growing
    mid_batch = [p for p in seen if p.batches_done == 0 and 0 < p.chunks_embedded < result.chunks]
    assert mid_batch, [(p.batches_done, p.chunks_embedded) for p in seen]  # heartbeats moved the count
    assert all(p.chunks_per_s and p.eta_s is not None for p in mid_batch)
    assert final.finished and final.chunks_embedded == final.chunks_found == result.chunks
    assert chunks_total(final) == (result.chunks, True)


def with_default_sigint(program: str) -> list[str]:
    """``program`` run with SIGINT at its default: a shell starts background jobs (``make test &``)
    with SIGINT ignored, a child inherits that, and Python then never turns it into
    KeyboardInterrupt, so the Ctrl-C this test sends would be lost."""
    restore = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", restore, program]


async def _wait_running(client: Client, workflow_id: str, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            await client.get_workflow_handle(workflow_id).describe()
            return
        except Exception:  # not started yet
            await asyncio.sleep(0.2)
    raise AssertionError(f"{workflow_id} never started")


async def _wait_embedding(client: Client, workflow_id: str, limit_s: float = 60) -> None:
    """Until the ingest's progress counts a chunk embedded."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # a query before the first workflow task fails
            if (await live_progress(client, workflow_id)).chunks_embedded:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} embedded nothing in {limit_s:.0f} s")


@pytest.mark.timeout(240)
async def test_ctrl_c_says_the_ingest_goes_on_and_running_it_again_joins_it(
    client: Client, settings: Settings, tmp_path
):
    settings = settings.model_copy(update={"embedding_batch_size": 4})
    path = corpus(tmp_path)
    rag = RagClient(client, settings)
    workflow_id = rag.ingest_id(IngestRequest(paths=[str(path)]))
    async with running_workers(client, settings, replace=[SlowEmbedding(settings).embed_chunks]):
        first = await asyncio.create_subprocess_exec(
            *with_default_sigint(RAGSTATE),
            "ingest",
            str(path),
            env=process_env(settings),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        await _wait_running(client, workflow_id)
        await _wait_embedding(client, workflow_id)  # Ctrl-C mid-ingest, the command following it
        first.send_signal(signal.SIGINT)
        out = (await asyncio.wait_for(first.communicate(), 30))[0].decode()
        assert first.returncode == 130, out
        assert "the ingest goes on on the server" in out and workflow_id in out and "joins the running ingest" in out
        assert "Traceback" not in out
        assert not (await client.get_workflow_handle(workflow_id).describe()).close_time  # still running

        again = await asyncio.create_subprocess_exec(
            RAGSTATE,
            "ingest",
            str(path),
            env=process_env(settings),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out = (await asyncio.wait_for(again.communicate(), 120))[0].decode()
    assert again.returncode == 0, out
    assert f"joined the running ingest {workflow_id}" in out
    assert f"ingested {DOCS} documents" in out
