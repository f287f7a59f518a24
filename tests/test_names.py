"""Collection names are refused wherever they enter, before they reach a path, a workflow or a
Qdrant collection: the models a caller builds, the settings, the CLI's options, queue events and
the store itself (ragstate/models/names.py). Each finding of the tenants issue is one case."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from ragstate.models import (
    CollectionRequest,
    DeleteDocumentsRequest,
    IngestRequest,
    ListDocumentsRequest,
    RagQuery,
    ReindexRequest,
    StatsRequest,
)
from ragstate.models.names import check_collection_name
from ragstate.settings import Settings
from ragstate.store.registry import open_physical
from ragstate.testing import run_cli_in_process
from ragstate.workers.sqs_ingest import RecordError, parse_body

BAD = [
    "../../x",
    "..",
    ".",
    "/tmp/abs",
    "a/b",
    "a\\b",
    ".hidden",
    "",
    "x" * 129,
    "ragstate.alias.json",
    "docs.index.JSON",
]
GOOD = ["docs", "ragstate", "tenant-a_docs", "docs.v1a2b3c4d", "x" * 128]


@pytest.mark.parametrize("name", BAD)
def test_a_name_that_is_not_one_folder_is_refused_by_every_model(name: str):
    with pytest.raises(ValueError, match="invalid collection name"):
        check_collection_name(name)
    for build in (
        lambda: RagQuery(question="What is BM25?", collection=name),
        lambda: IngestRequest(paths=["docs"], collection=name),
        lambda: ListDocumentsRequest(collection=name),
        lambda: DeleteDocumentsRequest(doc_ids=["a"], collection=name),
        lambda: CollectionRequest(collection=name),
        lambda: StatsRequest(collection=name),
        lambda: ReindexRequest(collection=name),
        lambda: Settings(collection=name),
    ):
        with pytest.raises(ValidationError, match="invalid collection name"):
            build()


@pytest.mark.parametrize("name", GOOD)
def test_names_of_one_folder_pass(name: str):
    assert check_collection_name(name) == name == RagQuery(question="q", collection=name).collection


def test_the_store_refuses_a_bad_name_before_it_makes_a_folder(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    for name in ("../../y", "/tmp/elsewhere", "ragstate.alias.json"):
        with pytest.raises(ValueError, match="invalid collection name"):
            open_physical(settings, name)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, inside or outside


def test_a_queue_event_with_a_bad_collection_is_an_unusable_record():
    body = json.dumps({"paths": ["/mnt/documents/a.md"], "collection": "../../x"})
    with pytest.raises(RecordError, match="invalid collection name"):
        parse_body(body, Settings())


@pytest.mark.parametrize(
    "args",
    [
        ("ingest", "--collection", "../../x", "README.md"),
        ("ingest", "--collection", "/tmp/abs", "README.md"),
        ("ask", "--collection", "..", "What is BM25?"),
        ("documents", "list", "--collection", "ragstate.alias.json"),
        ("documents", "delete", "a", "--collection", "../x"),
        ("status", "--collection", "../x"),
        ("reindex", "--collection", "../x"),
        ("schedule", "add", "docs", "--every", "1h", "--collection", "../x"),
    ],
)
async def test_the_cli_refuses_a_bad_collection_before_anything_starts(settings: Settings, tmp_path, args):
    """Refused by the option itself: no workflow starts and nothing is written."""
    code, out = await run_cli_in_process(settings, *args, cwd=tmp_path)
    assert code == 2 and "invalid collection name" in " ".join(out.split()) and "Traceback" not in out, out
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "x").exists()
