"""A worker process killed with SIGKILL in the middle of an ingest; a new one finishes it
with exactly the expected chunks: none lost, none duplicated."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.client import Client

from ragstate.activities.qdrant import QdrantActivities
from ragstate.client import RagClient
from ragstate.ingest.chunking import chunk_text
from ragstate.ingest.documents import load
from ragstate.models import IngestRequest, SourceRef
from ragstate.settings import Settings
from ragstate.store.edge import EdgeStore
from ragstate.testing import worker_env
from ragstate.testing.probes import pollers, wait_for

WORDS = [
    "retrieval",
    "ranking",
    "vector",
    "keyword",
    "fusion",
    "workflow",
    "activity",
    "durable",
    "worker",
    "history",
    "replay",
    "chunk",
    "embedding",
    "index",
    "query",
    "answer",
    "citation",
    "source",
    "document",
    "corpus",
    "token",
    "model",
    "latency",
    "throughput",
    "shard",
    "segment",
    "payload",
    "filter",
    "score",
    "rank",
    "recall",
    "precision",
    "relevance",
    "temporal",
    "qdrant",
]


def make_corpus(path: Path, n_docs: int, seed: int = 7) -> Path:
    rng = random.Random(seed)
    with path.open("w") as f:
        for i in range(n_docs):
            sentences = [
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))).capitalize() + "."
                for _ in range(rng.randint(10, 40))
            ]
            f.write(json.dumps({"_id": f"d{i}", "title": f"Document {i}", "text": " ".join(sentences)}) + "\n")
    return path


def start_worker(settings: Settings, log: Path) -> subprocess.Popen:
    """``python -m ragstate.workers.local`` (every role) on this test's server, queues and data."""
    return subprocess.Popen(
        [sys.executable, "-m", "ragstate.workers.local"],
        cwd=log.parent,
        env=worker_env(settings, settings.data_dir),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def test_sigkill_mid_ingest_loses_and_duplicates_nothing(client: Client, settings: Settings, tmp_path):
    # 120 documents in 12 batches: the kill lands after 3 and before the last (asserted below,
    # from the progress and from the history); more documents only cost embedding time.
    corpus = make_corpus(tmp_path / "corpus.jsonl", n_docs=120)
    docs = [d for d in load(SourceRef(path=str(corpus)), settings.max_document_bytes)]
    expected_chunks = sum(
        len(chunk_text(d.text, settings.chunk_tokens, settings.chunk_overlap, title=d.title)) for d in docs
    )
    log = tmp_path / "worker.log"
    rag = RagClient(client, settings)

    worker = start_worker(settings, log)
    try:
        handle = await rag.start_ingest(IngestRequest(paths=[str(corpus)], batch_docs=10, concurrency=2))
        # Progress is a query: it needs the worker up (on a loaded machine its start outlasts a query's timeout).
        await wait_for(
            lambda: pollers(client, settings.workflow_task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
            180,
            "the worker to poll its workflow queue",
            alive=worker,
        )
        # Kill once some batches are done and most are not.
        for _ in range(600):
            await asyncio.sleep(0.2)
            progress = await rag.ingest_progress(handle.id)
            if progress.batches_done >= 3:
                break
        assert 3 <= progress.batches_done < 12 and not progress.finished, (progress, log.read_text()[-3000:])
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)

        worker = start_worker(settings, log)
        result = await asyncio.wait_for(handle.result(), timeout=300)
    finally:
        worker.send_signal(signal.SIGTERM)  # graceful: drains and closes the store
        worker.wait(timeout=60)

    # The ingest spanned both workers: activities started on the killed one and on its successor.
    identities = {
        e.activity_task_started_event_attributes.identity
        async for e in client.get_workflow_handle(handle.id).fetch_history_events()
        if e.HasField("activity_task_started_event_attributes")
    }
    assert len(identities) == 2, identities
    assert (result.documents, result.failed) == (120, 0), result.failures
    assert result.chunks == expected_chunks
    store = EdgeStore(settings.data_dir / "qdrant-edge" / settings.collection)
    try:
        counts = store.counts()
        assert (counts.chunks, counts.documents) == (expected_chunks, 120)
        indexing = QdrantActivities(settings)
        for doc in docs:  # every chunk of every document has its dense vector
            n = len(chunk_text(doc.text, settings.chunk_tokens, settings.chunk_overlap, title=doc.title))
            assert store.count_version(doc.doc_id, indexing.chunk_version(doc), with_dense=True) == n, doc.doc_id
    finally:
        store.close()
