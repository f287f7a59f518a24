"""The ChunkStore contract, run against both backends: the embedded Qdrant engine (qdrant-edge)
and qdrant-client (local mode stands in for a server)."""

from __future__ import annotations

import math

import pytest

from ragstate.retrieval.bm25 import Bm25Encoder, SparseVec
from ragstate.store.edge import EdgeStore
from ragstate.store.qdrant_server import QdrantServerStore, connect
from ragstate.store.records import ChunkRecord, SearchFilter, StoredChunk, chunk_id

DIM = 8
# qdrant-client local mode warns that payload indexes are no-ops there.
pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")
ENC = Bm25Encoder(k1=1.2, b=0.75, avg_len=6.0)


@pytest.fixture(params=["edge", "qdrant"])
def store(request, tmp_path):
    if request.param == "edge":
        s = EdgeStore(tmp_path / "edge" / "c", dim=DIM)
        yield s
        s.close()
    else:
        client = connect(path=str(tmp_path / "q"))
        yield QdrantServerStore(client, "c", dim=DIM)
        client.close()


def unit(i: int) -> list[float]:
    """A one-hot direction (cosine distance makes the scale irrelevant)."""
    v = [0.0] * DIM
    v[i % DIM] = 1.0
    return v


def rec(
    doc_id: str,
    position: int,
    text: str,
    version: str = "v1",
    source: str = "src/a.md",
    title: str = "",
    dense: list[float] | None = None,
) -> ChunkRecord:
    return ChunkRecord(
        chunk_id=chunk_id(doc_id, version, position),
        doc_id=doc_id,
        version=version,
        title=title,
        text=text,
        source=source,
        position=position,
        sparse=ENC.encode_document(f"{title}\n\n{text}" if title else text),
        dense=dense,
    )


DOCS = {
    "doc-a": [
        "Temporal workflows are durable and replay their history.",
        "Activities retry with backoff when workers crash.",
    ],
    "doc-b": ["Qdrant stores dense vectors and sparse vectors for hybrid search."],
    "doc-c": [
        "BM25 ranks documents by term frequency and inverse document frequency.",
        "Reciprocal rank fusion merges the keyword and vector rankings.",
        "Chunks overlap so that no sentence loses its context.",
    ],
}


def corpus(source_of=lambda d: f"src/{d}.md") -> list[ChunkRecord]:
    return [
        rec(d, i, t, source=source_of(d), title=d.upper()) for d, texts in DOCS.items() for i, t in enumerate(texts)
    ]


# --- writing and counting -----------------------------------------------------------------------


def test_chunk_id_is_deterministic_uuid():
    a = chunk_id("doc", "v1", 0)
    assert a == chunk_id("doc", "v1", 0)
    assert len({a, chunk_id("doc", "v1", 1), chunk_id("doc", "v2", 0), chunk_id("doc2", "v1", 0)}) == 4
    assert len(a) == 36 and a.count("-") == 4


def test_empty_store_counts(store):
    c = store.counts()
    assert (c.chunks, c.documents) == (0, 0)


def test_upsert_then_counts(store):
    store.upsert(corpus())
    c = store.counts()
    assert c.chunks == 6
    assert c.documents == 3  # chunks at position 0


def test_upsert_is_idempotent(store):
    records = corpus()
    store.upsert(records)
    store.upsert(records)
    store.upsert(corpus())  # fresh objects with the same ids
    c = store.counts()
    assert (c.chunks, c.documents) == (6, 3)


def test_upsert_replaces_payload(store):
    store.upsert([rec("d", 0, "first text")])
    store.upsert([rec("d", 0, "second text")])
    cid = chunk_id("d", "v1", 0)
    assert store.get([cid])[cid].text == "second text"
    assert store.counts().chunks == 1


def test_empty_writes_are_no_ops(store):
    store.upsert([])
    store.set_dense({})
    assert store.counts().chunks == 0


# --- dense search ---------------------------------------------------------------------------------


def test_set_dense_then_search_dense_returns_nearest_first(store):
    records = corpus()
    store.upsert(records)
    store.set_dense({r.chunk_id: unit(i) for i, r in enumerate(records)})
    # A query closest to direction 2, then 3, then others.
    query = [0.0] * DIM
    query[2], query[3] = 1.0, 0.5
    hits = store.search_dense(query, limit=3)
    assert [h.chunk_id for h in hits[:2]] == [records[2].chunk_id, records[3].chunk_id]
    assert hits[0].doc_id == records[2].doc_id
    # Cosine, to three decimals: the default layout keeps the originals as float16.
    assert hits[0].score == pytest.approx(1 / math.sqrt(1.25), abs=1e-3)
    assert hits[1].score == pytest.approx(0.5 / math.sqrt(1.25), abs=1e-3)
    assert hits[0].score > hits[1].score > hits[2].score - 1e-9
    assert len(hits) == 3


def test_dense_given_at_upsert_is_searchable(store):
    store.upsert([rec("d", 0, "alpha", dense=unit(1)), rec("d", 1, "beta", dense=unit(5))])
    hits = store.search_dense(unit(5), limit=5)
    assert hits[0].chunk_id == chunk_id("d", "v1", 1)
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_points_without_dense_are_found_by_sparse_only(store):
    store.upsert([rec("embedded", 0, "kangaroo habitat"), rec("pending", 0, "kangaroo diet")])
    store.set_dense({chunk_id("embedded", "v1", 0): unit(0)})
    dense = store.search_dense(unit(0), limit=10)
    assert [h.doc_id for h in dense] == ["embedded"]
    sparse = store.search_sparse(ENC.encode_query("kangaroo"), limit=10)
    assert {h.doc_id for h in sparse} == {"embedded", "pending"}


# --- sparse (BM25) search -------------------------------------------------------------------------


def test_search_sparse_ranks_by_bm25(store):
    store.upsert(
        [
            rec("one", 0, "penguin"),
            rec("three", 0, "penguin penguin penguin colony"),
            rec("long", 0, "penguin " + " ".join(f"filler{i}" for i in range(30))),
            rec("none", 0, "giraffe savanna"),
            rec("none2", 0, "giraffe neck"),
        ]
    )
    hits = store.search_sparse(ENC.encode_query("penguin"), limit=10)
    # More occurrences beat one; the same single occurrence in a long chunk weighs least.
    assert [h.doc_id for h in hits] == ["three", "one", "long"]
    # Score = query count * IDF * the stored saturated tf (Qdrant's IDF over live points).
    n, df = 5, 3
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    tf_one = ENC.encode_document("penguin").values[0]
    assert hits[1].score == pytest.approx(idf * tf_one, rel=1e-5)
    # Repeating a query term doubles its weight.
    twice = store.search_sparse(ENC.encode_query("penguin penguin"), limit=10)
    assert [h.score for h in twice] == pytest.approx([2 * h.score for h in hits], rel=1e-5)


def test_rare_terms_weigh_more(store):
    store.upsert([rec(f"c{i}", 0, "common word") for i in range(6)] + [rec("r", 0, "common rare")])
    hits = store.search_sparse(ENC.encode_query("common rare"), limit=3)
    assert hits[0].doc_id == "r"
    assert hits[0].score > 2 * hits[1].score


def test_empty_sparse_query_returns_nothing(store):
    store.upsert(corpus())
    assert store.search_sparse(SparseVec([], []), limit=10) == []
    assert store.search_sparse(ENC.encode_query("the of and"), limit=10) == []


def test_sparse_query_without_matching_terms(store):
    store.upsert(corpus())
    assert store.search_sparse(ENC.encode_query("xylophone"), limit=10) == []


def test_sparse_limit(store):
    store.upsert([rec(f"d{i}", 0, f"shared term number{i}") for i in range(8)])
    assert len(store.search_sparse(ENC.encode_query("shared"), limit=5)) == 5


# --- filters --------------------------------------------------------------------------------------


def test_filter_by_sources(store):
    records = corpus()
    store.upsert(records)
    store.set_dense({r.chunk_id: unit(0) for r in records})
    flt = SearchFilter(sources=["src/doc-a.md", "src/doc-b.md"])
    sparse = store.search_sparse(ENC.encode_query("workers vectors documents"), 10, flt)
    assert sparse and {h.doc_id for h in sparse} <= {"doc-a", "doc-b"}
    assert {h.doc_id for h in store.search_dense(unit(0), 10, flt)} == {"doc-a", "doc-b"}
    assert len(store.search_dense(unit(0), 10, flt)) == 3
    # Unfiltered, doc-c matches "documents".
    assert "doc-c" in {h.doc_id for h in store.search_sparse(ENC.encode_query("documents"), 10)}


def test_filter_by_doc_ids(store):
    records = corpus()
    store.upsert(records)
    store.set_dense({r.chunk_id: unit(0) for r in records})
    flt = SearchFilter(doc_ids=["doc-c"])
    assert {h.doc_id for h in store.search_dense(unit(0), 10, flt)} == {"doc-c"}
    assert len(store.search_dense(unit(0), 10, flt)) == 3
    hits = store.search_sparse(ENC.encode_query("vectors rankings"), 10, flt)
    # "rankings" meets "ranks" and "rank" in two doc-c chunks; doc-b's "vectors" is filtered out.
    assert [h.doc_id for h in hits] == ["doc-c", "doc-c"]
    assert len(store.search_sparse(ENC.encode_query("vectors rankings"), 10)) == 3


def test_filters_combine_with_and(store):
    store.upsert(corpus())
    both = SearchFilter(sources=["src/doc-a.md"], doc_ids=["doc-b"])
    assert store.search_sparse(ENC.encode_query("vectors workers"), 10, both) == []
    ok = SearchFilter(sources=["src/doc-b.md"], doc_ids=["doc-b", "doc-a"])
    assert [h.doc_id for h in store.search_sparse(ENC.encode_query("vectors workers"), 10, ok)] == ["doc-b"]


def test_empty_filter_is_no_filter(store):
    store.upsert(corpus())
    assert SearchFilter().empty and SearchFilter(sources=[], doc_ids=[]).empty
    assert not SearchFilter(doc_ids=["x"]).empty
    a = store.search_sparse(ENC.encode_query("vectors"), 10, SearchFilter())
    b = store.search_sparse(ENC.encode_query("vectors"), 10)
    assert [h.chunk_id for h in a] == [h.chunk_id for h in b] and a


# --- reading --------------------------------------------------------------------------------------


def test_get_returns_payload_fields(store):
    r = rec("doc-x", 3, "Some chunk text.", version="abc", source="/data/x.md", title="The Title")
    store.upsert([r])
    got = store.get([r.chunk_id, chunk_id("missing", "v1", 0)])
    assert set(got) == {r.chunk_id}
    assert got[r.chunk_id] == StoredChunk(
        chunk_id=r.chunk_id, doc_id="doc-x", title="The Title", text="Some chunk text.", source="/data/x.md", position=3
    )
    assert got[r.chunk_id].indexed_text() == "The Title\n\nSome chunk text."
    assert store.get([]) == {}


def test_unicode_payload_round_trips(store):
    r = rec("日本", 0, "Ünïcödé — “quotes” 🎉", title="Tïtle")
    store.upsert([r])
    c = store.get([r.chunk_id])[r.chunk_id]
    assert (c.doc_id, c.text, c.title) == ("日本", "Ünïcödé — “quotes” 🎉", "Tïtle")


def test_chunks_of_returns_one_version_by_position(store):
    texts = [f"chunk number {i}" for i in range(5)]
    records = [rec("d", i, t) for i, t in enumerate(texts)]
    store.upsert(list(reversed(records)))
    store.upsert([rec("d", 0, "old version", version="v0"), rec("other", 0, "chunk number 0")])
    chunks = store.chunks_of("d", "v1")
    assert [c.position for c in chunks] == [0, 1, 2, 3, 4]
    assert [c.text for c in chunks] == texts
    assert all(c.doc_id == "d" for c in chunks)
    assert store.chunks_of("d", "v0")[0].text == "old version"
    assert store.chunks_of("d", "nope") == []


def test_chunks_of_without_dense(store):
    records = [rec("d", i, f"text {i}") for i in range(4)]
    store.upsert(records)
    assert len(store.chunks_of("d", "v1", without_dense=True)) == 4
    store.set_dense({records[1].chunk_id: unit(1), records[3].chunk_id: unit(3)})
    pending = store.chunks_of("d", "v1", without_dense=True)
    assert [c.position for c in pending] == [0, 2]
    assert len(store.chunks_of("d", "v1")) == 4


def test_chunks_of_many(store, monkeypatch):
    """More chunks than one scroll page: the pages follow each other, nothing lost or repeated.
    Pages of 16 points instead of 1,024 (the paging is the same, the upsert 25 times cheaper)."""
    monkeypatch.setattr(store, "scroll_page", 16)
    pages: list[int] = []
    scroll_page = store._scroll_page

    def counted(*args):
        records, offset = scroll_page(*args)
        pages.append(len(records))
        return records, offset

    monkeypatch.setattr(store, "_scroll_page", counted)
    store.upsert([rec("big", i, f"t{i}") for i in range(40)])
    chunks = store.chunks_of("big", "v1")
    assert [c.position for c in chunks] == list(range(40))
    assert pages == [16, 16, 8], pages


def test_count_version(store):
    records = [rec("d", i, f"text {i}") for i in range(3)]
    store.upsert([*records, rec("d", 0, "old", version="v0")])
    assert store.count_version("d", "v1") == 3
    assert store.count_version("d", "v0") == 1
    assert store.count_version("d", "v1", with_dense=True) == 0
    store.set_dense({records[0].chunk_id: unit(0), records[2].chunk_id: unit(2)})
    assert store.count_version("d", "v1", with_dense=True) == 2
    assert store.count_version("d", "v1") == 3
    assert store.count_version("e", "v1") == 0


# --- deleting -------------------------------------------------------------------------------------


def test_delete_stale_removes_only_other_versions(store):
    store.upsert([rec("d", i, f"old {i}", version="v1") for i in range(3)])
    store.upsert([rec("d", i, f"new {i}", version="v2") for i in range(2)])
    store.upsert([rec("e", 0, "other doc", version="v1")])
    assert store.delete_stale("d", "v2") == 3
    assert store.count_version("d", "v1") == 0
    assert store.count_version("d", "v2") == 2
    assert store.count_version("e", "v1") == 1  # another document's v1 stays
    assert store.counts().chunks == 3
    assert store.delete_stale("d", "v2") == 0  # nothing left to remove
    assert store.delete_stale("missing", "v1") == 0


def test_deleted_chunks_leave_search(store):
    store.upsert([rec("d", 0, "walrus tusk", version="v1"), rec("e", 0, "walrus ice"), rec("f", 0, "seal ice")])
    store.upsert([rec("d", 0, "seal tusk", version="v2")])
    assert store.delete_stale("d", "v2") == 1
    hits = store.search_sparse(ENC.encode_query("walrus"), 10)
    assert [h.doc_id for h in hits] == ["e"]
    assert [h.doc_id for h in store.search_sparse(ENC.encode_query("tusk"), 10)] == ["d"]
    assert store.get([chunk_id("d", "v1", 0)]) == {}
    # IDF: live statistics (N = 3, n = 1), or, in the Qdrant engine until a deleted point's
    # segment is rebuilt, statistics that still count it in both N and n (N = 4, n = 2).
    tf = dict(zip(*_vec("walrus ice")))[ENC.encode_query("walrus").indices[0]]
    live = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5)) * tf
    with_deleted = math.log(1 + (4 - 2 + 0.5) / (2 + 0.5)) * tf
    assert hits[0].score == pytest.approx(live, rel=1e-5) or hits[0].score == pytest.approx(with_deleted, rel=1e-5)


def _vec(text: str):
    v = ENC.encode_document(text)
    return v.indices, v.values


def test_edge_idf_counts_only_live_points_after_reopen(tmp_path):
    path = tmp_path / "reopen-idf"
    s = EdgeStore(path, dim=DIM)
    s.upsert([rec("d", 0, "walrus tusk", version="v1"), rec("e", 0, "walrus ice"), rec("f", 0, "seal ice")])
    s.upsert([rec("d", 0, "seal tusk", version="v2")])
    s.delete_stale("d", "v2")
    s.close()
    s = EdgeStore(path, dim=DIM)
    try:
        hit = s.search_sparse(ENC.encode_query("walrus"), 10)[0]
        tf = dict(zip(*_vec("walrus ice")))[ENC.encode_query("walrus").indices[0]]
        assert hit.score == pytest.approx(math.log(1 + 2.5 / 1.5) * tf, rel=1e-5)
    finally:
        s.close()


# --- persistence ----------------------------------------------------------------------------------


def test_edge_store_persists_across_reopen(tmp_path):
    path = tmp_path / "edge" / "persist"
    s = EdgeStore(path, dim=DIM)
    records = corpus()
    s.upsert(records)
    s.set_dense({records[0].chunk_id: unit(4)})
    s.close()

    s2 = EdgeStore(path, dim=DIM)
    try:
        c = s2.counts()
        assert (c.chunks, c.documents) == (6, 3)
        assert s2.get([records[0].chunk_id])[records[0].chunk_id].text == records[0].text
        assert s2.search_dense(unit(4), 1)[0].chunk_id == records[0].chunk_id
        assert s2.search_sparse(ENC.encode_query("durable"), 5)[0].doc_id == "doc-a"
        assert s2.count_version("doc-a", "v1", with_dense=True) == 1
        # Payload indexes survive too: filters still work and writes go on.
        assert {
            h.doc_id for h in s2.search_sparse(ENC.encode_query("vectors"), 5, SearchFilter(doc_ids=["doc-b"]))
        } == {"doc-b"}
        s2.upsert([rec("doc-d", 0, "new after reopen")])
        assert s2.counts().documents == 4
    finally:
        s2.close()


def test_edge_store_optimize_keeps_results(tmp_path):
    s = EdgeStore(tmp_path / "opt", dim=DIM)
    try:
        records = corpus()
        s.upsert(records)
        before = [(h.chunk_id, round(h.score, 5)) for h in s.search_sparse(ENC.encode_query("vectors rank"), 10)]
        s.optimize()
        after = [(h.chunk_id, round(h.score, 5)) for h in s.search_sparse(ENC.encode_query("vectors rank"), 10)]
        assert before == after and before
        assert s.counts().chunks == 6
    finally:
        s.close()


def test_qdrant_store_reuses_existing_collection(tmp_path):
    client = connect(path=str(tmp_path / "q"))
    try:
        QdrantServerStore(client, "c", dim=DIM).upsert(corpus())
        again = QdrantServerStore(client, "c", dim=DIM)  # must not recreate (and empty) it
        assert again.counts().chunks == 6
        other = QdrantServerStore(client, "other", dim=DIM)
        assert other.counts().chunks == 0
    finally:
        client.close()


# --- documents ------------------------------------------------------------------------------------


def test_list_documents_one_row_per_document_without_text(store):
    store.upsert(corpus())
    docs = store.list_documents()
    assert [(d.doc_id, d.source, d.title, d.chunks, d.version) for d in docs] == [
        ("doc-a", "src/doc-a.md", "DOC-A", 2, "v1"),
        ("doc-b", "src/doc-b.md", "DOC-B", 1, "v1"),
        ("doc-c", "src/doc-c.md", "DOC-C", 3, "v1"),
    ]
    assert all(d.ingested_at and d.ingested_at.startswith("20") for d in docs)


def test_list_documents_by_source_prefix(store):
    store.upsert(corpus(source_of=lambda d: f"/data/{'x' if d == 'doc-b' else 'y'}/{d}.md"))
    assert [d.doc_id for d in store.list_documents("/data/y/")] == ["doc-a", "doc-c"]
    assert [d.doc_id for d in store.list_documents("/data/x/doc-b.md")] == ["doc-b"]
    assert store.list_documents("/elsewhere") == []


def test_list_documents_shows_the_newest_version_while_one_is_replaced(store):
    store.upsert([rec("d", i, f"old {i}", version="v1") for i in range(3)])
    newer = [rec("d", i, f"new {i}", version="v2") for i in range(2)]
    for r in newer:
        r.ingested_at = "2999-01-01T00:00:00+00:00"
    store.upsert(newer)
    [doc] = store.list_documents()
    assert (doc.version, doc.chunks) == ("v2", 2)


def test_delete_documents_by_id_and_by_source(store):
    store.upsert(corpus())
    assert store.delete_documents(doc_ids=["doc-a"]) == (1, 2)
    assert store.delete_documents(sources=["src/doc-c.md"]) == (1, 3)
    assert [d.doc_id for d in store.list_documents()] == ["doc-b"]
    assert (store.counts().chunks, store.counts().documents) == (1, 1)
    assert store.delete_documents(doc_ids=["doc-a"], sources=["src/doc-c.md"]) == (0, 0)  # repeatable
    assert store.delete_documents() == (0, 0)  # nothing named: nothing goes


def test_deleted_documents_leave_keyword_and_vector_search(store):
    records = corpus()
    for i, r in enumerate(records):
        r.dense = unit(i)
    store.upsert(records)
    store.delete_documents(sources=["src/doc-b.md"])
    assert "doc-b" not in {h.doc_id for h in store.search_sparse(ENC.encode_query("qdrant dense vectors"), 10)}
    assert "doc-b" not in {h.doc_id for h in store.search_dense(unit(2), 10)}
    assert {h.doc_id for h in store.search_dense(unit(0), 10)} == {"doc-a", "doc-c"}


def test_source_under_is_a_path_prefix():
    from ragstate.store import source_under

    assert source_under("/a/b/c.md", "/a/b") and source_under("/a/b/c.md", "/a/b/")
    assert source_under("/a/b.md", "/a/b.md")
    assert not source_under("/a/bc.md", "/a/b") and not source_under("/a/b", "/a/b/c")


# --- collections ----------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path):
    """No server here: the store alone (``backend_settings`` of conftest.py puts these on each
    store backend)."""
    from ragstate.settings import Settings

    return Settings(data_dir=tmp_path / "data", embedding_dim=DIM, _env_file=None)


def test_list_and_drop_collections(backend_settings):
    from ragstate.store import drop_collection, list_collections, open_store

    assert list_collections(backend_settings) == []
    open_store(backend_settings, "one").upsert(corpus())
    open_store(backend_settings, "two").upsert(corpus()[:1])
    assert list_collections(backend_settings) == ["one", "two"]
    assert drop_collection(backend_settings, "one") is True
    assert list_collections(backend_settings) == ["two"]
    assert drop_collection(backend_settings, "one") is False
    assert open_store(backend_settings, "one").counts().chunks == 0  # opened again: a new, empty collection
    assert open_store(backend_settings, "two").counts().chunks == 1


@pytest.mark.parametrize("name", ["", "..", "../outside", "a/b", ".hidden", "x" * 129])
def test_drop_refuses_names_no_collection_can_have(backend_settings, name):
    from ragstate.store import drop_collection

    with pytest.raises(ValueError, match="invalid collection name"):
        drop_collection(backend_settings, name)
