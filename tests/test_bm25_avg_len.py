"""The keyword branch normalises by the collection's real average analysed length, kept as
documents arrive and go (issue 24), on both store backends, through the activities: ingest in
two rounds of different lengths, then KeywordSearch's scores compared with exact BM25 (the
repo's rank-bm25 equal, ``ragstate.evaluation.reference.Bm25Okapi``) over the union."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from search_queries import keyword_query

from ragstate.activities.lifecycle import LifecycleActivities
from ragstate.activities.qdrant import QdrantActivities
from ragstate.evaluation.reference import Bm25Okapi
from ragstate.models import ChunkBatchInput, DeleteDocumentsRequest, SourceRef, StatsRequest
from ragstate.retrieval.analyzer import analyze
from ragstate.settings import Settings
from ragstate.store import open_store
from ragstate.testing import isolated_settings

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")
K1, B = 1.2, 0.75
FILLER = ["ocean", "mountain", "river", "forest", "desert", "valley", "island", "glacier"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return isolated_settings(tmp_path / "data", "localhost:7233", bm25_collection_avg_len=True)


def corpus(path: Path, prefix: str, words: int, n: int) -> tuple[Path, dict[str, str]]:
    """``n`` one-chunk documents of about ``words`` words; 'zebra' in two of five (once or
    twice), 'lion' in one of three: rare enough for a positive IDF in both formulas."""
    docs = {}
    for i in range(n):
        filler = [FILLER[(i + j) % len(FILLER)] + ("" if j % 3 else "s") for j in range(words + i % 4)]
        docs[f"{prefix}{i}"] = " ".join(
            ["zebra"] * (i % 5 if i % 5 < 3 else 0) + (["lion"] if i % 3 == 1 else []) + filler
        )
    path.write_text("".join(json.dumps({"_id": d, "title": "", "text": t}) + "\n" for d, t in docs.items()))
    return path, docs


def keyword(acts: QdrantActivities, settings: Settings, question: str) -> dict[str, float]:
    return {h.doc_id: h.score for h in acts.keyword_search(keyword_query(settings.collection, question, 100)).hits}


def ingest(acts: QdrantActivities, settings: Settings, path: Path) -> None:
    acts.index_chunks(ChunkBatchInput(collection=settings.collection, refs=[SourceRef(path=str(path))]))
    acts.optimize_store(StatsRequest(collection=settings.collection))


def assert_exact(acts: QdrantActivities, settings: Settings, docs: dict[str, str]) -> None:
    """Per query term, the engine's score over the exact score is one constant (the two IDF
    formulas differ by a factor per term; the length normalisation must not): the same ranking
    as exact BM25, and the same score ratios between documents."""
    ids = list(docs)
    exact = Bm25Okapi([analyze(docs[d]) for d in ids], k1=K1, b=B)
    for term in ("zebra", "lion"):
        engine = keyword(acts, settings, term)
        expected = dict(zip(ids, exact.get_scores(analyze(term))))
        matching = [d for d in ids if expected[d] > 0]
        assert sorted(engine) == sorted(matching)
        ratios = [engine[d] / expected[d] for d in matching]
        assert max(ratios) / min(ratios) == pytest.approx(1.0, abs=1e-5), term


def test_keyword_branch_matches_exact_bm25_across_two_rounds(backend_settings: Settings, tmp_path: Path):
    settings = backend_settings
    acts = QdrantActivities(settings)
    short, short_docs = corpus(tmp_path / "short.jsonl", "s", 4, 12)
    long_, long_docs = corpus(tmp_path / "long.jsonl", "l", 60, 12)
    ingest(acts, settings, short)
    assert_exact(acts, settings, short_docs)
    ingest(acts, settings, long_)  # the average more than doubles: round one's chunks re-encoded
    assert_exact(acts, settings, short_docs | long_docs)
    store = open_store(settings, settings.collection)
    union = [len(analyze(t)) for t in (short_docs | long_docs).values()]
    assert store.bm25_avg_len(0.0) == pytest.approx(sum(union) / len(union))

    # Deleting the long documents brings the average back down, and the scores with it.
    LifecycleActivities(settings).delete_documents(
        DeleteDocumentsRequest(collection=settings.collection, doc_ids=list(long_docs))
    )
    assert_exact(acts, settings, short_docs)


def test_fixed_average_when_switched_off(settings: Settings, tmp_path: Path):
    settings = settings.model_copy(update={"bm25_collection_avg_len": False})
    acts = QdrantActivities(settings)
    path, docs = corpus(tmp_path / "short.jsonl", "s", 4, 12)
    ingest(acts, settings, path)
    assert open_store(settings, settings.collection).bm25_avg_len(100.0) == 100.0
    with pytest.raises(AssertionError):
        assert_exact(acts, settings, docs)
