"""Pseudo-relevance feedback in the search activities (activities/expansion.py, issue 24): off
by default; on, each branch searches again from its first chunks, on both store backends,
and never borrows from a chunk the caller may not see."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from search_queries import keyword_query

from ragstate.activities.embeddings import EmbeddingActivities
from ragstate.activities.expansion import expand_vector
from ragstate.activities.qdrant import QdrantActivities
from ragstate.activities.query_parsing import build_routing
from ragstate.models import ChunkBatchInput, ParsedQuery, SearchHit, SourceRef, StatsRequest
from ragstate.retrieval import embedding
from ragstate.retrieval.bm25 import Bm25Encoder
from ragstate.settings import Settings
from ragstate.store import ChunkRecord, ChunkStore, chunk_id, open_store
from ragstate.testing import isolated_settings

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")
DIM = 384

# 'aurora' finds the two first documents; what they share ('magnetosphere') finds the third,
# which never says 'aurora'. The fourth says 'aurora' with 'plankton', but only group 'hr' may
# read it; 'plankton' alone is in the fifth.
DOCS = [
    ("a1", "aurora magnetosphere solar wind aurora", None),
    ("a2", "aurora magnetosphere particles", None),
    ("m3", "magnetosphere shields the planet from particles", None),
    ("h4", "aurora plankton plankton plankton plankton", ["hr"]),
    ("p5", "plankton blooms in spring", None),
    ("f6", "filler text about cooking pasta", None),
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """No Temporal server: the activities are called in-process."""
    return isolated_settings(tmp_path / "data", "localhost:7233")


def indexed(settings: Settings, tmp_path: Path) -> QdrantActivities:
    path = tmp_path / "docs.jsonl"
    rows = [{"_id": d, "title": "", "text": t} | ({"groups": g} if g else {}) for d, t, g in DOCS]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    acts = QdrantActivities(settings)
    acts.index_chunks(ChunkBatchInput(collection=settings.collection, refs=[SourceRef(path=str(path))]))
    acts.optimize_store(StatsRequest(collection=settings.collection))
    return acts


def keyword(settings: Settings, acts: QdrantActivities, question: str, groups: list[str] | None = None):
    return acts.keyword_search(keyword_query(settings.collection, question, 50, groups))


def test_keyword_feedback_is_off_by_default(backend_settings: Settings, tmp_path: Path):
    result = keyword(backend_settings, indexed(backend_settings, tmp_path), "aurora", groups=[])
    assert result.expanded_from == 0
    assert {h.doc_id for h in result.hits} == {"a1", "a2"}


def test_keyword_feedback_finds_what_the_first_chunks_share(backend_settings: Settings, tmp_path: Path):
    settings = backend_settings.model_copy(update={"prf_keyword_chunks": 2, "prf_keyword_terms": 3})
    result = keyword(settings, indexed(settings, tmp_path), "aurora", groups=[])
    assert result.expanded_from == 2
    found = [h.doc_id for h in result.hits]
    assert "m3" in found  # no 'aurora' in it: reached through 'magnetosphere'
    assert found.index("m3") > max(found.index("a1"), found.index("a2"))  # the question's own terms still lead
    assert "h4" not in found and "p5" not in found  # a restricted chunk lends no term ('plankton')


def test_keyword_feedback_of_a_group_member_uses_its_chunks(backend_settings: Settings, tmp_path: Path):
    settings = backend_settings.model_copy(update={"prf_keyword_chunks": 3, "prf_keyword_terms": 3})
    found = {h.doc_id for h in keyword(settings, indexed(settings, tmp_path), "aurora", groups=["hr"]).hits}
    assert {"h4", "p5"} <= found  # the same question, for a caller who may read h4


def test_dense_vectors_are_the_stored_originals(backend_settings: Settings):
    store = open_store(backend_settings.model_copy(update={"embedding_dim": 4}), "vectors")
    ids = [chunk_id(d, "v1", 0) for d in ("x", "y")]
    store.upsert(
        [
            ChunkRecord(ids[i], d, "v1", "", d, "s", 0, Bm25Encoder().encode_document(d))
            for i, d in enumerate(("x", "y"))
        ]
    )
    store.set_dense({ids[0]: [0.6, 0.8, 0.0, 0.0]})
    got = store.dense_vectors([ids[0], ids[1], chunk_id("gone", "v1", 0)])
    assert list(got) == [ids[0]]  # y has no vector yet; 'gone' does not exist
    assert got[ids[0]] == pytest.approx([0.6, 0.8, 0.0, 0.0], abs=1e-3)  # float16 originals by default


class AlongTheFirstAxis:
    """A stand-in embedding model: every text is the unit vector of the first axis."""

    def encode(self, texts: list[str], batch_size: int = 64, **options):
        return np.array([[1.0] + [0.0] * (DIM - 1) for _ in texts])


def rocchio_store(settings: Settings) -> ChunkStore:
    """Chunks a, c, b, in that order of cosine to the first axis; b shares a's direction."""
    store = open_store(settings, "rocchio")
    vectors = {"a": [0.8, 0.6, 0.0], "c": [0.7, 0.0, 0.714], "b": [0.3, 0.954, 0.0]}
    ids = {d: chunk_id(d, "v1", 0) for d in vectors}
    store.upsert([ChunkRecord(ids[d], d, "v1", "", d, "s", 0, Bm25Encoder().encode_document(d)) for d in vectors])
    store.set_dense({ids[d]: v + [0.0] * (DIM - 3) for d, v in vectors.items()})
    return store


def test_vector_feedback_moves_the_question_toward_its_first_chunks(backend_settings: Settings):
    store = rocchio_store(backend_settings)
    question = [1.0] + [0.0] * (DIM - 1)
    first = store.search_dense(question, 3)
    assert [h.doc_id for h in first] == ["a", "c", "b"]
    s = backend_settings.model_copy(update={"prf_vector_chunks": 1, "prf_vector_weight": 2.0})
    moved = expand_vector(store, question, first, s)
    assert [h.doc_id for h in store.search_dense(moved, 3)] == ["a", "b", "c"]  # b shares a's direction
    # No usable feedback: the question itself, unit length.
    missing = [SearchHit(chunk_id=chunk_id("gone", "v1", 0), doc_id="gone", score=1.0)]
    assert expand_vector(store, question, missing, s) == pytest.approx(question)


def test_vector_search_expands_only_when_asked(backend_settings: Settings, monkeypatch: pytest.MonkeyPatch):
    rocchio_store(backend_settings)
    monkeypatch.setattr(embedding, "_embedders", {"cpu": embedding.Embedder(model=AlongTheFirstAxis())})
    q = ParsedQuery(
        question="q", top_k=3, depth=3, terms=["q"], collection="rocchio", routing=build_routing(backend_settings)
    )
    plain = EmbeddingActivities(backend_settings).vector_search(q)
    assert [h.doc_id for h in plain.hits] == ["a", "c", "b"] and plain.expanded_from == 0
    on = backend_settings.model_copy(update={"prf_vector_chunks": 1, "prf_vector_weight": 2.0})
    expanded = EmbeddingActivities(on).vector_search(q)
    assert [h.doc_id for h in expanded.hits] == ["a", "b", "c"] and expanded.expanded_from == 1


def test_an_answer_cached_without_feedback_is_not_served_with_it(settings: Settings):
    from ragstate.activities.query_parsing import answer_cache_scope
    from ragstate.models import RagQuery

    on = settings.model_copy(update={"answer_cache": True})
    query = RagQuery(question="What is BM25?")
    plain = answer_cache_scope(on, query, 5, 200)
    for change in ({"prf_keyword_chunks": 10}, {"prf_vector_chunks": 5}, {"bm25_collection_avg_len": True}):
        assert answer_cache_scope(on.model_copy(update=change), query, 5, 200).key != plain.key, change
