"""Ingest under fire: a worker SIGKILLed mid-ingest, the Temporal server SIGKILLed and restarted
mid-ingest. Afterwards the store is counted against what the corpus should give: every chunk of
every document present once, with its dense vector."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from ragstate.models import IngestProgress, IngestRequest, IngestResult

from .report import Result
from .stack import ROOT, ChaosStack

CISI = ROOT.parent / "shared" / "datasets" / "cisi" / "corpus.jsonl"
#: Small batches so that a kill lands with some batches done and most not.
BATCH_DOCS, CONCURRENCY = 10, 2


def corpus_slice(dst: Path, n_docs: int) -> Path:
    """The first ``n_docs`` CISI documents (a seeded synthetic corpus when CISI is not there)."""
    if CISI.exists():
        with CISI.open(encoding="utf-8") as src, dst.open("w", encoding="utf-8") as out:
            for _, line in zip(range(n_docs), src):
                out.write(line)
        return dst
    import random

    rng = random.Random(7)
    words = [
        "retrieval",
        "ranking",
        "vector",
        "keyword",
        "fusion",
        "workflow",
        "durable",
        "worker",
        "chunk",
        "query",
        "answer",
    ]
    with dst.open("w", encoding="utf-8") as out:
        for i in range(n_docs):
            text = " ".join(" ".join(rng.choice(words) for _ in range(15)) + "." for _ in range(rng.randint(5, 30)))
            out.write(json.dumps({"_id": f"d{i}", "title": f"Document {i}", "text": text}) + "\n")
    return dst


def check_store(stack: ChaosStack, collection: str, corpus: Path) -> tuple[int, int, int]:
    """(expected, lost, duplicated) chunks: a chunk without its dense vector counts as lost. The
    embedded store has one owner, so the main worker must be stopped first."""
    from ragstate.activities.qdrant import QdrantActivities
    from ragstate.ingest.chunking import chunk_text
    from ragstate.ingest.documents import load
    from ragstate.models import SourceRef
    from ragstate.store.edge import EdgeStore

    s = stack.settings
    docs = list(load(SourceRef(path=str(corpus)), s.max_document_bytes))
    indexing = QdrantActivities(s)
    store = EdgeStore(s.data_dir / "qdrant-edge" / collection)
    try:
        expected = lost = 0
        for doc in docs:
            n = len(chunk_text(doc.text, s.chunk_tokens, s.chunk_overlap, title=doc.title))
            expected += n
            lost += max(0, n - store.count_version(doc.doc_id, indexing.chunk_version(doc), with_dense=True))
        duplicated = max(0, store.counts().chunks - (expected - lost))
    finally:
        store.close()
    return expected, lost, duplicated


async def progress(stack: ChaosStack, workflow_id: str) -> IngestProgress | None:
    try:
        return await asyncio.wait_for(stack.rag.ingest_progress(workflow_id), 5)
    except Exception:  # no workflow worker or no server right now
        return None


async def wait_batches(stack: ChaosStack, workflow_id: str, at_least: int, timeout_s: float) -> IngestProgress:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        p = await progress(stack, workflow_id)
        if p and (p.batches_done >= at_least or p.finished):
            return p
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the ingest did not reach {at_least} batches in {timeout_s:.0f} s")


async def attempts(stack: ChaosStack, workflow_id: str) -> dict[str, int]:
    """The attempt of each pending activity of the ingest's latest run, by activity id."""
    desc = await stack.rag.client.get_workflow_handle(workflow_id).describe()
    return {a.activity_id: a.attempt for a in desc.raw_description.pending_activities}


async def rescheduled_after(
    stack: ChaosStack, workflow_id: str, killed_at: float, done_before: int, before: dict[str, int]
) -> float:
    """Seconds from the kill until the server has given a lost step another attempt (a pending
    activity on a later attempt than ``before``, taken just before the kill), or the ingest has
    moved on, whichever comes first."""
    while time.monotonic() - killed_at < 120:
        try:
            now = await attempts(stack, workflow_id)
            if any(attempt > before.get(aid, 1) for aid, attempt in now.items()):
                return time.monotonic() - killed_at
        except Exception:
            pass
        p = await progress(stack, workflow_id)
        if p and (p.batches_done > done_before or p.finished):
            return time.monotonic() - killed_at
        await asyncio.sleep(0.2)
    raise TimeoutError("the lost step was not rescheduled in 120 s")


async def finish_and_count(stack: ChaosStack, r: Result, handle, collection: str, corpus: Path) -> None:
    """The ingest's result, then the store counted with the main worker stopped (and started again)."""
    try:
        result = await asyncio.wait_for(handle.result(), 240)
    except TimeoutError:
        r.hangs += 1
        r.notes.append("FAILED: the ingest did not finish in 240 s")
        return
    stack.stop_worker("main")
    expected, r.lost, r.duplicated = check_store(stack, collection, corpus)
    stack.start_worker("main")
    r.notes.append(f"{result.documents} documents, {expected} chunks expected, result said {result.chunks}")
    if result.failed or result.chunks != expected:
        r.notes.append(f"FAILED: result {result.documents} docs / {result.chunks} chunks, {result.failed} failed")


async def worker_kill_mid_ingest(stack: ChaosStack, kills: int = 2, n_docs: int = 300) -> Result:
    """SIGKILL the worker that holds the store and the model, ``kills`` times during one ingest;
    a new one is started at once each time."""
    r = Result("worker SIGKILL mid-ingest")
    corpus = corpus_slice(stack.scratch / "cisi-wkill.jsonl", n_docs)
    collection = f"{stack.settings.collection}-wkill"
    await stack.wait_ready("main")
    handle = await stack.rag.start_ingest(
        IngestRequest(paths=[str(corpus)], collection=collection, batch_docs=BATCH_DOCS, concurrency=CONCURRENCY)
    )
    done = 0
    for k in range(kills):
        p = await wait_batches(stack, handle.id, done + 3, 180)
        if p.finished:
            r.notes.append(f"the ingest finished before kill {k + 1}")
            break
        before = await attempts(stack, handle.id)
        killed_at = stack.kill_worker("main")
        stack.start_worker("main")
        took = await rescheduled_after(stack, handle.id, killed_at, p.batches_done, before)
        r.recovered(took)
        await stack.wait_ready("main")
        p2 = await wait_batches(stack, handle.id, p.batches_done + 1, 120)
        resumed = time.monotonic() - killed_at
        r.notes.append(
            f"kill {k + 1} at batch {p.batches_done}: rescheduled in {took:.1f} s, going on in {resumed:.1f} s"
        )
        done = p2.batches_done
        r.attempt(True)
    await finish_and_count(stack, r, handle, collection, corpus)
    if any(n.startswith("FAILED") for n in r.notes) or r.lost or r.duplicated:
        r.survived = 0
    return r


async def server_kill_mid_ingest(stack: ChaosStack, n_docs: int = 200, down_s: float = 3.0) -> Result:
    """SIGKILL the Temporal server while `ragstate ingest` follows a run, restart it on the same
    database and ports ``down_s`` later. Two tries: the ingest itself, and the CLI following it."""
    r = Result("server kill -9 mid-ingest")
    corpus = corpus_slice(stack.scratch / "cisi-skill.jsonl", n_docs)
    collection = f"{stack.settings.collection}-skill"
    await stack.wait_ready("main")
    cli = asyncio.create_task(stack.cli("ingest", str(corpus), "--collection", collection, timeout_s=240))
    from ragstate.temporal.conventions import ingest_workflow_id

    workflow_id = ingest_workflow_id([str(corpus)], collection, False)
    p = await wait_batches(stack, workflow_id, 2, 180)
    stack.kill_server()
    killed_at = time.monotonic()
    await asyncio.sleep(down_s)
    stack.restart_server()
    await stack.reconnect()
    p2 = await wait_batches(stack, workflow_id, p.batches_done + 1, 120)
    r.recovered(time.monotonic() - killed_at)
    r.notes.append(f"killed at batch {p.batches_done}, down {down_s:.0f} s; at batch {p2.batches_done} after restart")
    handle = stack.rag.client.get_workflow_handle(workflow_id, result_type=IngestResult)
    await finish_and_count(stack, r, handle, collection, corpus)
    r.attempt(not r.lost and not r.duplicated and not any(n.startswith("FAILED") for n in r.notes), "the ingest")
    code, out, took = await cli
    if code is None:
        r.hangs += 1
    tail = " ".join(out.strip().splitlines()[-2:])[-300:]
    r.attempt(code == 0, f"`ragstate ingest` exit {code} after {took:.0f} s: {tail}")
    return r
