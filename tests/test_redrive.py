"""Redrive of failed documents on the real dev server: each failure says whether retrying can
help, and `ragstate ingest --retry-failed ID` (and RagClient.retry_failed) ingests the
retryable ones of that run as a new ingest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from ragstate.activities.qdrant import QdrantActivities
from ragstate.client import RagClient, RunNotFoundError
from ragstate.contracts import Activity
from ragstate.ingest.redrive import plan_retry
from ragstate.models import ChunkBatchInput, IngestRequest
from ragstate.settings import Settings
from ragstate.testing import run_cli
from ragstate.workers.runtime import running_workers
from ragstate.workflows.ingest import INGEST_RETRY


def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("Reciprocal rank fusion sums one over k plus rank.")
    (docs / "flaky.txt").write_text("Its batch loses its worker every time in the first ingest.")
    (docs / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))  # fails until re-encoded
    (docs / "big.txt").write_text("too large " * 200)  # over the limit set below
    return docs


def losing_the_worker(settings: Settings, attempts: list[int]):
    """IndexChunks that fails every attempt for the batch holding flaky.txt, as if its worker
    died each time (a retryable error; ``attempts`` gets the number of each), and works for the
    rest. The next attempt comes at once instead of after the policy's backoff (1+2+4+8 s of
    waiting that the test is not about): the attempts still run out, which is what makes a
    failure retryable."""
    real = QdrantActivities(settings)

    @activity.defn(name=Activity.INDEX_CHUNKS)
    def index_chunks(inp: ChunkBatchInput):
        if any(r.path.endswith("flaky.txt") for r in inp.refs):
            attempts.append(activity.info().attempt)
            raise ApplicationError("worker lost mid-batch", next_retry_delay=timedelta(milliseconds=1))
        return real.index_chunks(inp)

    return index_chunks


@pytest.mark.timeout(300)
async def test_only_retryable_failures_are_ingested_again_as_a_new_ingest(client: Client, settings: Settings, tmp_path):
    settings = settings.model_copy(update={"max_document_bytes": 1000})
    docs = folder(tmp_path)
    rag = RagClient(client, settings)
    attempts: list[int] = []
    async with running_workers(client, settings, replace=[losing_the_worker(settings, attempts)]):
        first = await rag.ingest(IngestRequest(paths=[str(docs)], batch_docs=1))
    assert attempts == list(range(1, INGEST_RETRY.maximum_attempts + 1))  # failed after all its retries
    retryable = {Path(f.source).name: f.retryable for f in first.failures}
    assert retryable == {"flaky.txt": True, "latin1.txt": False, "big.txt": False}, first.failures
    assert first.documents == 1

    plan = await plan_retry(client, first.workflow_id)
    assert plan.request is not None and plan.request.paths == [str(docs / "flaky.txt")]
    assert plan.request.collection is None and plan.request.batch_docs == 1  # as the first ingest had them

    async with running_workers(client, settings):  # the workers are back
        again = await rag.retry_failed(first.workflow_id)
        assert again is not None and (again.documents, again.failed) == (1, 0), again
        assert again.workflow_id != first.workflow_id  # a new ingest; the first keeps its record
        sources = {d.source for d in (await rag.documents()).documents}
        assert str(docs / "flaky.txt") in sources and str(docs / "good.txt") in sources

        code, out = await run_cli(settings, "ingest", "--retry-failed", first.workflow_id)
        assert code == 0, out
        out = " ".join(out.split())  # rich wraps lines at the terminal width
        assert "1 failure(s) may succeed if retried, 2 would fail again" in out
        assert "ingested 1 document (1 unchanged)" in out

        nothing = await rag.retry_failed(again.workflow_id)  # nothing failed there
        assert nothing is None


async def test_retry_failed_of_an_unknown_ingest_is_a_clear_error(client: Client, settings: Settings):
    with pytest.raises(RunNotFoundError, match="no ingest with workflow id 'rag-ingest-nope'"):
        await plan_retry(client, "rag-ingest-nope")
    code, out = await run_cli(settings, "ingest", "--retry-failed", "rag-ingest-nope")
    assert code == 1 and "no ingest with workflow id" in out and "Traceback" not in out
    code, out = await run_cli(settings, "ingest", "--retry-failed", "x", "some/path")
    assert code == 1 and "takes no paths" in out
