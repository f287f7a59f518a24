"""Documents and collections end to end on the real dev server: each listing and change runs as a
workflow (ListDocuments, DeleteDocuments, ListCollections, DropCollection) through RagClient and
the `ragstate documents` / `ragstate collections` commands."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest
from lifecycle_workers import lifecycle_workers
from paths import EXAMPLES_CORPUS
from pydantic import ValidationError
from temporalio.client import Client, WorkflowFailureError

from ragstate.cli.render import count
from ragstate.client import RagClient
from ragstate.contracts import Workflow
from ragstate.models import Branch, IngestRequest, RagQuery
from ragstate.settings import Settings
from ragstate.testing import run_cli_in_process

EXAMPLE_DOCS = 8  # 5 files + 3 records in faq.jsonl


@pytest.mark.timeout(300)
async def test_list_and_delete_documents_by_id_path_and_folder(
    client: Client, settings: Settings, tmp_path, monkeypatch
):
    corpus = tmp_path / "corpus"
    shutil.copytree(EXAMPLES_CORPUS, corpus)
    (corpus / "notes").mkdir()
    (corpus / "notes" / "a.md").write_text("# Walrus notes\n\nWalruses haul out on sea ice.")
    (corpus / "notes" / "b.md").write_text("# Seal notes\n\nSeals and walruses share the ice.")
    rag = RagClient(client, settings)
    async with lifecycle_workers(client, settings):
        await rag.ingest([str(corpus)])
        listing = await rag.documents()
        assert listing.total == EXAMPLE_DOCS + 2 == len(listing.documents)
        bm25 = next(d for d in listing.documents if d.source.endswith("bm25.md"))
        assert (bm25.title, bm25.chunks >= 1, bool(bm25.ingested_at)) == ("BM25 keyword ranking", True, True)
        faq = str((corpus / "faq.jsonl").resolve())
        assert len((await rag.documents(faq)).documents) == 3  # a .jsonl file: one document per record
        assert (await rag.documents(str(corpus), limit=2)).total == EXAMPLE_DOCS + 2
        assert (await rag.documents("/")).total == EXAMPLE_DOCS + 2  # the root holds every source

        # A relative prefix is made absolute, as ingest's paths are.
        monkeypatch.chdir(tmp_path)
        assert {d.title for d in (await rag.documents("corpus/notes/")).documents} == {"Walrus notes", "Seal notes"}

        by_path = await rag.delete_documents(["corpus/bm25.md"])  # a relative source path
        assert (by_path.documents, by_path.chunks) == (1, bm25.chunks)
        faq_id = next(d.doc_id for d in listing.documents if d.source == faq)
        assert (await rag.delete_documents([faq_id])).documents == 1  # a doc id
        assert (await rag.delete_documents([str(corpus / "notes")])).documents == 2  # a folder
        assert (await rag.delete_documents([str(corpus / "notes")])).documents == 0  # repeatable
        assert (await rag.stats()).documents == EXAMPLE_DOCS - 2
        hits = (await rag.ask(RagQuery(question="walrus sea ice BM25 k1", synthesize=False))).branch_rankings
        gone = {bm25.doc_id, faq_id, str((corpus / "notes" / "a.md").resolve())}
        assert not gone & {h.doc_id for branch in (Branch.keyword, Branch.vector) for h in hits[branch]}


@pytest.mark.timeout(300)
async def test_collections_list_and_drop(client: Client, settings: Settings):
    rag = RagClient(client, settings)
    async with lifecycle_workers(client, settings):
        await rag.ingest([str(EXAMPLES_CORPUS / "bm25.md")])
        await rag.ingest(IngestRequest(paths=[str(EXAMPLES_CORPUS / "chunking.md")], collection="second"))
        listing = await rag.collections()
        assert (listing.backend, listing.collections) == ("edge", sorted([settings.collection, "second"]))
        dropped = await rag.drop_collection("second")
        assert dropped.dropped and (await rag.collections()).collections == [settings.collection]
        assert not (await rag.drop_collection("second")).dropped
        with pytest.raises(ValidationError, match="invalid collection name"):  # refused before a run starts
            await rag.drop_collection("../outside")
        # A caller that skips the models (another SDK, a raw payload) gets a failed run at once,
        # not a workflow task retried for ever on input it cannot decode.
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow(
                Workflow.DROP_COLLECTION,
                {"collection": "../outside"},
                id=f"rag-drop-raw-{settings.collection}",
                task_queue=settings.workflow_task_queue,
                execution_timeout=timedelta(minutes=2),
            )
        assert "invalid collection name" in str(failed.value.cause), failed.value.cause
        assert (await rag.stats()).documents == 1  # the other collection is untouched


@pytest.mark.timeout(300)
async def test_documents_and_collections_commands(client: Client, settings: Settings, tmp_path):
    def cli(*args: str):  # in this process: the test is about what the commands do
        return run_cli_in_process(settings, *args, cwd=tmp_path)

    async with lifecycle_workers(client, settings):
        code, out = await cli("ingest", str(EXAMPLES_CORPUS / "bm25.md"))
        assert code == 0 and "ingested 1 document (0 unchanged)" in out, out
        code, out = await cli("documents", "list", "--json")
        assert code == 0, out
        [doc] = json.loads(out)["documents"]
        assert doc["title"] == "BM25 keyword ranking" and doc["source"].endswith("bm25.md")
        code, out = await run_cli_in_process(
            settings, "documents", "list", "--source", str(EXAMPLES_CORPUS), cwd=tmp_path
        )
        assert code == 0 and "1 document in collection" in out, out

        code, out = await cli("collections", "list")
        assert code == 0 and settings.collection in out, out
        code, out = await cli("collections", "drop", settings.collection)
        assert code == 1 and "not dropped" in out, out  # no confirmation on a closed stdin
        code, out = await cli("documents", "delete", doc["doc_id"])
        assert code == 0 and "deleted 1 document" in out, out
        code, out = await run_cli_in_process(
            settings, "collections", "drop", "--yes", settings.collection, cwd=tmp_path
        )
        assert code == 0 and f"dropped collection {settings.collection!r}" in out, out
        code, out = await cli("collections", "drop", "--yes", "../x")
        assert code == 1 and "invalid collection name" in out, out


def test_plurals():
    assert (count(0, "document"), count(1, "document"), count(2, "chunk")) == ("0 documents", "1 document", "2 chunks")


def test_lifecycle_workflows_are_registered():
    from ragstate.workflows import ALL_WORKFLOWS

    names = {w.__temporal_workflow_definition.name for w in ALL_WORKFLOWS}
    lifecycle = {
        Workflow.LIST_DOCUMENTS,
        Workflow.DELETE_DOCUMENTS,
        Workflow.LIST_COLLECTIONS,
        Workflow.DROP_COLLECTION,
    }
    assert lifecycle <= names
