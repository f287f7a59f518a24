"""Permission-aware retrieval: documents carry access groups from ingest (a .jsonl record's
``"groups"``, a ``<file>.groups`` sidecar, ``IngestRequest.access_groups`` for the rest), and a
question's ``RagQuery.access_groups`` filters both search branches in the store.

On the real stack (dev server, workers, the embedding model, offline extractive answers), on
both store backends: a caller outside a restricted document's groups gets the open sources or
an abstention, never the restricted text (hits, citations, answer, summary, abstention score);
a caller in the group gets it; the operator (``access_groups=None``) sees every document. The
store filter is checked on its own for both client libraries, and loading for its errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from corpus_files import write
from temporalio.client import Client

from ragstate.activities.lifecycle import LifecycleActivities
from ragstate.activities.qdrant import QdrantActivities
from ragstate.client import RagClient
from ragstate.ingest.discovery import discover_all
from ragstate.ingest.documents import Document, DocumentError, load
from ragstate.models import ChunkBatchInput, IngestRequest, ListDocumentsRequest, RagAnswer, RagQuery, SourceRef
from ragstate.retrieval.bm25 import Bm25Encoder
from ragstate.settings import Settings
from ragstate.store import open_store
from ragstate.store.edge import FILTERS as EDGE_FILTERS
from ragstate.store.edge import EdgeStore
from ragstate.store.filters import FilterDialect
from ragstate.store.qdrant_server import FILTERS as QDRANT_FILTERS
from ragstate.store.qdrant_server import QdrantServerStore, connect
from ragstate.store.records import ChunkRecord, SearchFilter, chunk_id, summary_chunk_id, visible
from ragstate.workers.runtime import running_workers

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")

MERGER = {
    "_id": "merger",
    "title": "Merger plan",
    "text": "Codename Bluefin is the planned acquisition of Wexler Corporation. The Wexler acquisition "
    "closes in March, and the purchase price is forty million dollars.",
    "groups": ["legal"],
}
CAFETERIA = {
    "_id": "cafeteria",
    "title": "Staff cafeteria",
    "text": "The staff cafeteria opens at eight in the morning and serves lunch until two. Vegetarian "
    "dishes are offered every day.",
}
BAD_GROUPS = {"_id": "bad-groups", "title": "Bad", "text": "A record whose groups cannot be.", "groups": ["no spaces"]}
SALARIES = (
    "# Executive salaries\n\nThe executive salary bands are confidential. The chief executive's salary is "
    "410,000 dollars a year; vice presidents earn between 250,000 and 300,000 dollars a year.\n"
)
PARKING = (
    "# Parking\n\nEmployees park in the north garage. Visitor parking is on level one, and parking "
    "permits are renewed every January.\n"
)
BOARD = "Board minutes: the board approved the Heron reorganisation of the sales division on 3 February."

#: question -> (the restricted document's marker text, its group)
QUESTIONS = {
    "What is the acquisition of Wexler Corporation called and when does it close?": ("Bluefin", "legal"),
    "What is the chief executive's salary?": ("410,000", "hr"),
    "What reorganisation did the board approve in February?": ("Heron", "board"),
}


def corpus(root: Path) -> dict[str, Path]:
    """Open and restricted documents, and two whose groups are wrong."""
    docs = root / "docs"
    lines = [json.dumps(r) for r in (MERGER, CAFETERIA, BAD_GROUPS)]
    paths = {
        "jsonl": write(docs / "records.jsonl", "\n".join(lines) + "\n"),
        "salaries": write(docs / "salaries.md", SALARIES),
        "parking": write(docs / "parking.md", PARKING),
        "broken": write(docs / "broken.md", "# Broken\n\nA document whose sidecar names a bad group.\n"),
        "board": write(root / "board" / "minutes.txt", BOARD),
    }
    write(docs / "salaries.md.groups", "# who may read the salaries\nhr\n\nexec  # the executives too\n")
    write(docs / "broken.md.groups", "hr\nnot valid!\n")
    return {k: p.resolve() for k, p in paths.items()}


def restricted_ids(paths: dict[str, Path]) -> dict[str, str]:
    """marker -> doc id of the restricted document holding it."""
    return {"Bluefin": "merger", "410,000": str(paths["salaries"]), "Heron": str(paths["board"])}


def assert_never_shown(answer: RagAnswer, marker: str, doc_id: str) -> None:
    """Neither the restricted document nor its text anywhere in the answer."""
    assert marker not in answer.answer, answer.answer
    for c in answer.citations:
        assert c.doc_id != doc_id, c
        assert marker not in c.snippet and not any(marker in t for t in c.cited_text), c
    ranked = answer.ranking + [h for hits in answer.branch_rankings.values() for h in hits]
    assert doc_id not in {h.doc_id for h in ranked}


async def test_restricted_documents_reach_only_their_groups(
    client: Client, backend_settings: Settings, tmp_path: Path
) -> None:
    settings = backend_settings
    paths = corpus(tmp_path)
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        ingested = await rag.ingest(IngestRequest(paths=[str(tmp_path / "docs")], summarize=True))
        # The board's minutes get the ingest's groups: the file names none of its own.
        board = await rag.ingest(IngestRequest(paths=[str(paths["board"])], access_groups=["board"]))

        # One bad document each, with a clear reason; the rest went in.
        reasons = {f.doc_id: f.reason for f in ingested.failures}
        assert set(reasons) == {"bad-groups", str(paths["broken"])}, reasons
        assert "invalid access group 'no spaces'" in reasons["bad-groups"] and '"groups"' in reasons["bad-groups"]
        assert "broken.md.groups line 2" in reasons[str(paths["broken"])]
        assert "invalid access group 'not valid!'" in reasons[str(paths["broken"])]
        assert ingested.documents == 4 and board.documents == 1 and board.failed == 0
        assert not any(f.path.endswith(".groups") for f in ingested.skipped_files)  # read with their files

        store = open_store(settings)
        groups = {d.doc_id: d.groups for d in store.list_documents()}
        assert groups == {
            "merger": ["legal"],
            "cafeteria": [],
            str(paths["salaries"]): ["exec", "hr"],
            str(paths["parking"]): [],
            str(paths["board"]): ["board"],
        }
        # A document's summary point carries its groups: found only by those who may read it.
        merger = next(d for d in store.list_documents() if d.doc_id == "merger")
        assert merger.summary and "Bluefin" in merger.summary["text"]
        summary = store.get([summary_chunk_id("merger", merger.version)])
        assert [c.groups for c in summary.values()] == [("legal",)]

        markers = restricted_ids(paths)
        for question, (marker, group) in QUESTIONS.items():
            doc_id = markers[marker]
            allowed = await rag.ask(RagQuery(question=question, access_groups=[group, "someone-else"]))
            assert doc_id in {c.doc_id for c in allowed.citations}, (question, allowed)
            operator = await rag.ask(RagQuery(question=question))
            assert doc_id in {c.doc_id for c in operator.citations}, (question, operator)
            for caller in ([], ["marketing"]):
                answer = await rag.ask(RagQuery(question=question, access_groups=caller))
                assert_never_shown(answer, marker, doc_id)
                # Open sources or an abstention: whatever is cited is open to everyone.
                assert answer.no_answer or {c.doc_id for c in answer.citations} <= {"cafeteria", str(paths["parking"])}
                # The abstention score never counts the restricted chunk.
                assert answer.best_score is not None and allowed.best_score is not None
                assert answer.best_score < allowed.best_score
                ranked = await rag.ask(RagQuery(question=question, access_groups=caller, synthesize=False))
                assert_never_shown(ranked, marker, doc_id)
                assert ranked.ranking  # the open documents are still found

        # An open document is found by every caller.
        parking = await rag.ask(RagQuery(question="Where do employees park?", access_groups=[]))
        assert str(paths["parking"]) in {c.doc_id for c in parking.citations}

    # Listing (and reading) documents as a caller: only what it may find.
    lifecycle = LifecycleActivities(settings)
    listed = lifecycle.list_documents(ListDocumentsRequest(access_groups=["hr"], with_chunks=True))
    assert {d.doc_id for d in listed.documents} == {"cafeteria", str(paths["parking"]), str(paths["salaries"])}
    everything = lifecycle.list_documents(ListDocumentsRequest())
    assert everything.total == 5


# --- the store's filter, for both client libraries ------------------------------------------------

ENC = Bm25Encoder(k1=1.2, b=0.75, avg_len=6.0)


def record(doc_id: str, text: str, groups: list[str] | None) -> ChunkRecord:
    return ChunkRecord(
        chunk_id=chunk_id(doc_id, "v1", 0),
        doc_id=doc_id,
        version="v1",
        title="",
        text=text,
        source=f"src/{doc_id}.md",
        position=0,
        sparse=ENC.encode_document(text),
        dense=[1.0, 0.0, 0.0, 0.0],
        groups=groups,
    )


@pytest.fixture(params=["edge", "qdrant"])
def store(request, tmp_path):
    if request.param == "edge":
        s = EdgeStore(tmp_path / "edge" / "c", dim=4)
        yield s
        s.close()
    else:
        qdrant = connect(path=str(tmp_path / "q"))
        yield QdrantServerStore(qdrant, "c", dim=4)
        qdrant.close()


@pytest.mark.parametrize(
    "access_groups, found",
    [
        (None, {"open", "legal", "hr-exec", "empty"}),  # the operator
        ([], {"open", "empty"}),  # no groups: only open documents
        (["marketing"], {"open", "empty"}),
        (["legal"], {"open", "empty", "legal"}),
        (["exec", "legal"], {"open", "empty", "legal", "hr-exec"}),
    ],
)
def test_store_filter_by_access_groups(store, access_groups, found):
    store.upsert(
        [
            record("open", "quarterly report figures", None),
            record("empty", "quarterly report summary", []),
            record("legal", "quarterly report merger", ["legal"]),
            record("hr-exec", "quarterly report salaries", ["hr", "exec"]),
        ]
    )
    flt = SearchFilter(access_groups=access_groups)
    sparse = {h.doc_id for h in store.search_sparse(ENC.encode_query("quarterly report"), 10, flt)}
    dense = {h.doc_id for h in store.search_dense([1.0, 0.0, 0.0, 0.0], 10, flt)}
    assert sparse == dense == found
    # With the other filters: both conditions hold.
    both = SearchFilter(doc_ids=["legal", "open"], access_groups=access_groups)
    assert {h.doc_id for h in store.search_sparse(ENC.encode_query("quarterly"), 10, both)} == found & {"legal", "open"}
    # The Python rule says the same, for the chunks read back.
    chunks = store.get([chunk_id(d, "v1", 0) for d in ("open", "empty", "legal", "hr-exec")])
    assert {c.doc_id for c in chunks.values() if visible(c.groups, access_groups)} == found


#: The dialect's constructors as tuples: the filter's structure, whatever the library.
TUPLES = FilterDialect(
    condition=lambda key, match: ("field", key, match),
    match_value=lambda v: ("value", v),
    match_any=lambda v: ("any", tuple(v)),
    has_vector=lambda name: ("has_vector", name),
    filter=lambda must=None, should=None, must_not=None: ("filter", must, should, must_not),
    is_empty=lambda key: ("is_empty", key),
)


def test_the_filter_both_dialects_spell():
    assert TUPLES.search(SearchFilter()) is None  # the operator, no other filter: none
    no_groups = ("filter", None, [("is_empty", "groups")], None)
    assert TUPLES.search(SearchFilter(access_groups=[])) == ("filter", [no_groups], None, None)
    either = ("filter", None, [("is_empty", "groups"), ("field", "groups", ("any", ("a", "b")))], None)
    assert TUPLES.search(SearchFilter(access_groups=["b", "a", "a"])) == ("filter", [either], None, None)
    with_docs = TUPLES.search(SearchFilter(doc_ids=["d"], access_groups=["a", "b"]))
    assert with_docs == ("filter", [("field", "doc_id", ("any", ("d",))), either], None, None)
    # Both libraries build it (their behaviour: test_store_filter_by_access_groups).
    for dialect in (EDGE_FILTERS, QDRANT_FILTERS):
        assert "IsEmptyCondition" in repr(dialect.search(SearchFilter(access_groups=["a"])))


# --- loading ---------------------------------------------------------------------------------------


def test_groups_from_jsonl_and_sidecars(tmp_path):
    lines = [
        {"_id": "own", "text": "Own groups.", "groups": ["b", "a", "b"]},
        {"_id": "inherits", "text": "The file's groups."},
        {"_id": "not-a-list", "text": "Bad.", "groups": "legal"},
        {"_id": "too-long", "text": "Bad.", "groups": ["x" * 129]},
    ]
    jsonl = write(tmp_path / "r.jsonl", "\n".join(json.dumps(r) for r in lines) + "\n")
    write(tmp_path / "r.jsonl.groups", "file-group\n")
    items = list(load(SourceRef(path=str(jsonl), start=0, end=4), 1_000_000))
    docs = {i.doc_id: i for i in items if isinstance(i, Document)}
    errors = {i.failure.doc_id: i.failure.reason for i in items if isinstance(i, DocumentError)}
    assert docs["own"].groups == ("a", "b") and docs["inherits"].groups == ("file-group",)
    assert "must be a list of strings" in errors["not-a-list"]
    assert "invalid access group" in errors["too-long"]

    text = write(tmp_path / "a.md", "# A\n\nText.")
    [plain] = load(SourceRef(path=str(text)), 1_000_000)
    assert isinstance(plain, Document) and plain.groups is None
    write(tmp_path / "a.md.groups", "# comment\n\n  team-1 \nteam-1\n")
    [grouped] = load(SourceRef(path=str(text)), 1_000_000)
    assert isinstance(grouped, Document) and grouped.groups == ("team-1",)
    # The groups are part of the version (a change re-indexes); no groups: the version as before.
    assert grouped.version != plain.version
    assert plain.version == Document(plain.doc_id, plain.title, plain.text, plain.source).version

    # A bad sidecar fails every record of its .jsonl (none indexed without its groups).
    write(tmp_path / "r.jsonl.groups", "ok\nbad group\n")
    failed = list(load(SourceRef(path=str(jsonl), start=0, end=4), 1_000_000))
    assert len(failed) == 4 and all(isinstance(i, DocumentError) for i in failed)
    assert all("r.jsonl.groups line 2" in i.failure.reason for i in failed if isinstance(i, DocumentError))

    # Discovery reads a sidecar with its document: not a skipped file; an orphan one is.
    write(tmp_path / "orphan.txt.groups", "x\n")
    found = discover_all([str(tmp_path)], batch_docs=10)
    assert [f.path for f in found.skipped_files] == [str(tmp_path / "orphan.txt.groups")]


def test_ingest_default_groups_and_reindex_keeps_them(backend_settings: Settings, tmp_path: Path):
    """IndexChunks (no worker needed): the ingest's access_groups go to documents naming none;
    a re-index (groups_from: the version being rebuilt) keeps them; own groups win."""
    settings = backend_settings
    plain = write(tmp_path / "plain.txt", "Minutes of the board meeting.")
    own = write(tmp_path / "own.txt", "Notes for the legal team.")
    write(tmp_path / "own.txt.groups", "legal\n")
    refs = [SourceRef(path=str(plain.resolve())), SourceRef(path=str(own.resolve()))]
    acts = QdrantActivities(settings)
    acts.index_chunks(ChunkBatchInput(collection="live", refs=refs, access_groups=["board"]))
    acts.index_chunks(ChunkBatchInput(collection="rebuilt", refs=refs, groups_from="live"))
    acts.index_chunks(ChunkBatchInput(collection="fresh", refs=refs))
    for name, expected in (("live", ["board"]), ("rebuilt", ["board"]), ("fresh", [])):
        groups = {d.doc_id: d.groups for d in open_store(settings, name).list_documents()}
        assert groups == {str(plain.resolve()): expected, str(own.resolve()): ["legal"]}, name
