"""`ingest --sync` end to end on the real dev server, on both store backends: a file deleted from
an ingested folder leaves keyword and vector results; a sync killed half way and retried ends
in the same state; relative `--source` paths match what ingest stored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lifecycle_workers import lifecycle_workers
from paths import EXAMPLES_CORPUS
from temporalio import activity
from temporalio.client import Client

from ragstate.activities import lifecycle
from ragstate.activities.lifecycle import LifecycleActivities
from ragstate.client import RagClient
from ragstate.contracts import Activity
from ragstate.models import Branch, IngestRequest, PruneInput, RagQuery
from ragstate.settings import Settings
from ragstate.store import open_store
from ragstate.testing import run_cli_in_process

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")
EXAMPLE_DOCS = 8  # 5 files + 3 records in faq.jsonl
QUESTION = "How does dense retrieval with embeddings work?"


def corpus_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(EXAMPLES_CORPUS, folder)
    return folder


async def retrieved_doc_ids(rag: RagClient, question: str) -> dict[Branch, set[str]]:
    """Documents each search branch returns for ``question`` (retrieval only: no synthesis)."""
    answer = await rag.ask(RagQuery(question=question, synthesize=False))
    return {branch: {h.doc_id for h in hits} for branch, hits in answer.branch_rankings.items()}


@pytest.mark.timeout(300)
async def test_sync_removes_a_deleted_file_from_keyword_and_vector_results(client: Client, backend_settings, tmp_path):
    settings = backend_settings
    folder = corpus_copy(tmp_path)
    gone_file = folder / "dense-retrieval.txt"
    gone = str(gone_file.resolve())
    rag = RagClient(client, settings)
    async with lifecycle_workers(client, settings):
        first = await rag.ingest(IngestRequest(paths=[str(folder)], sync=True))
        assert (first.documents, first.removed, first.failed) == (EXAMPLE_DOCS, 0, 0), first.failures
        before = await retrieved_doc_ids(rag, QUESTION)
        assert gone in before[Branch.keyword] and gone in before[Branch.vector]

        gone_file.unlink()
        plain = await rag.ingest([str(folder)])  # without --sync an ingest only adds
        assert plain.removed == 0 and (await rag.stats()).documents == EXAMPLE_DOCS

        synced = await rag.ingest(IngestRequest(paths=[str(folder)], sync=True))
        assert (synced.documents, synced.unchanged, synced.removed) == (EXAMPLE_DOCS - 1, EXAMPLE_DOCS - 1, 1)
        after = await retrieved_doc_ids(rag, QUESTION)
        assert gone not in after[Branch.keyword] | after[Branch.vector]
        assert after[Branch.keyword] and after[Branch.vector]  # the rest is still found
        listed = await rag.documents(str(folder))
        assert listed.total == EXAMPLE_DOCS - 1 and gone not in {d.source for d in listed.documents}
        assert (await rag.stats()).documents == EXAMPLE_DOCS - 1

        again = await rag.ingest(IngestRequest(paths=[str(folder)], sync=True))  # idempotent
        assert (again.removed, again.unchanged) == (0, EXAMPLE_DOCS - 1)


@pytest.mark.timeout(300)
async def test_sync_prunes_records_gone_from_a_jsonl_file_and_only_under_its_paths(
    client: Client, settings: Settings, tmp_path
):
    folder = corpus_copy(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "kept.md").write_text("# Kept\n\nA document outside the synced folder stays indexed.")
    rag = RagClient(client, settings)
    async with lifecycle_workers(client, settings):
        await rag.ingest([str(folder), str(other)])
        faq = folder / "faq.jsonl"
        records = faq.read_text().splitlines()
        faq.write_text("\n".join(records[1:]) + "\n")
        dropped_id = json.loads(records[0])["_id"]
        (folder / "bm25.md").unlink()

        synced = await rag.ingest(IngestRequest(paths=[str(folder)], sync=True))
        assert synced.removed == 2
        ids = {d.doc_id for d in (await rag.documents()).documents}
        assert dropped_id not in ids and str((folder / "bm25.md").resolve()) not in ids
        assert str((other / "kept.md").resolve()) in ids  # not under the synced path
        assert len(ids) == EXAMPLE_DOCS - 2 + 1


@pytest.mark.timeout(300)
async def test_a_sync_killed_half_way_and_retried_ends_in_the_same_state(
    client: Client, settings: Settings, tmp_path, monkeypatch
):
    """The prune deletes one document, then its worker "dies"; the retry finishes the job and the
    result still counts every removed document (the first attempt's heartbeat carries its count)."""
    monkeypatch.setattr(lifecycle, "DELETE_SLICE", 1)
    folder = corpus_copy(tmp_path)
    real = LifecycleActivities(settings)
    attempts: list[int] = []

    @activity.defn(name=Activity.PRUNE_DOCUMENTS)
    def prune_dying_after_one_delete(inp: PruneInput):
        attempts.append(activity.info().attempt)
        if activity.info().attempt > 1:
            return real.prune_documents(inp)
        store = open_store(settings, inp.collection)
        delete = store.delete_documents
        calls = []

        def delete_then_die(**kwargs):
            if calls:
                raise RuntimeError("worker killed half way through the prune")
            calls.append(kwargs)
            return delete(**kwargs)

        store.delete_documents = delete_then_die  # type: ignore[method-assign]
        try:
            return real.prune_documents(inp)
        finally:
            del store.delete_documents

    rag = RagClient(client, settings)
    async with lifecycle_workers(client, settings, replace=[prune_dying_after_one_delete]):
        await rag.ingest([str(folder)])
        for name in ("dense-retrieval.txt", "chunking.md", "bm25.md"):
            (folder / name).unlink()
        synced = await rag.ingest(IngestRequest(paths=[str(folder)], sync=True))
        assert attempts == [1, 2] and synced.removed == 3
        assert (await rag.stats()).documents == EXAMPLE_DOCS - 3


@pytest.mark.timeout(300)
async def test_ask_source_of_a_deleted_file_answers_nothing_after_sync(client: Client, settings: Settings, tmp_path):
    """Regression: after deleting dense-retrieval.txt and ingesting the folder again, `ask --source
    .../dense-retrieval.txt` still answered from the deleted file; and a relative --source matched
    nothing (ingest stores absolute paths). Both through the command line, from the folder above."""
    corpus_copy(tmp_path)
    relative = "corpus/dense-retrieval.txt"
    async with lifecycle_workers(client, settings):
        code, out = await run_cli_in_process(settings, "ingest", "corpus", cwd=tmp_path)
        assert code == 0, out
        code, out = await run_cli_in_process(settings, "ask", "--json", "--source", relative, QUESTION, cwd=tmp_path)
        assert code == 0, out
        cited = {c["source"] for c in json.loads(out)["citations"]}
        assert cited == {str(tmp_path / relative)}  # the relative path matched the stored absolute one

        (tmp_path / relative).unlink()
        code, out = await run_cli_in_process(settings, "ingest", "--sync", "corpus", cwd=tmp_path)
        assert code == 0 and "1 document removed" in out, out
        code, out = await run_cli_in_process(settings, "ask", "--json", "--source", relative, QUESTION, cwd=tmp_path)
        assert code == 0, out
        assert json.loads(out)["citations"] == []
