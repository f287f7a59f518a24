"""ragstate/activities/embeddings.py: VectorSearch encodes the question as configured
(``RAGSTATE_QUERY_ENCODING``) and through the shared query path; EmbedChunks' texts go to the
model in one call. The model is a stand-in (``SlowModel`` of tests/stand_in_model.py)."""

from __future__ import annotations

import pytest
from stand_in_model import SlowModel

from ragstate.activities.embeddings import EmbeddingActivities, sentence_by_sentence
from ragstate.activities.query_parsing import build_routing
from ragstate.models import Branch, ParsedQuery
from ragstate.retrieval import embedding
from ragstate.settings import QueryEncoding, Settings
from ragstate.store import close_stores


def test_query_encoding_names_the_choices():
    assert Settings(query_encoding="whole", _env_file=None).query_encoding is QueryEncoding.whole
    assert Settings(_env_file=None).query_encoding is QueryEncoding.whole
    with pytest.raises(ValueError, match="choose one of \\['auto', 'sentences', 'whole'\\]"):
        QueryEncoding("tokens")


@pytest.mark.parametrize(
    "encoding, expected_pass",
    [
        ("sentences", ["What is BM25?", "How is it tuned?"]),
        ("whole", ["What is BM25? How is it tuned?"]),
        # auto: two sentences are under query_sentences_min (4), so the question goes whole.
        ("auto", ["What is BM25? How is it tuned?"]),
    ],
)
def test_vector_search_encodes_the_question_as_configured(tmp_path, monkeypatch, encoding, expected_pass):
    settings = Settings(data_dir=tmp_path / "data", collection="encoding", query_encoding=encoding, _env_file=None)
    model = SlowModel(pass_s=0.0)
    monkeypatch.setattr(embedding, "_embedders", {settings.embedding_device: embedding.Embedder(model=model)})
    question = "What is BM25? How is it tuned?"
    query = ParsedQuery(
        question=question, top_k=3, depth=5, terms=["bm25"], collection="encoding", routing=build_routing(settings)
    )
    try:
        EmbeddingActivities(settings).vector_search(query)
    finally:
        close_stores()
    assert model.passes == [expected_pass]


def test_auto_encoding_splits_questions_of_several_sentences():
    s = Settings(query_encoding="auto", query_sentences_min=2, _env_file=None)
    assert sentence_by_sentence("What is BM25? How is it tuned?", s)
    assert not sentence_by_sentence("What is BM25?", s)
    assert not sentence_by_sentence("What is BM25? How is it tuned?", Settings(query_encoding="auto", _env_file=None))
    assert not sentence_by_sentence("One. Two. Three. Four?", Settings(_env_file=None))  # whole by default
    assert sentence_by_sentence("What is BM25?", Settings(query_encoding="sentences", _env_file=None))


def test_vector_search_encodes_through_the_query_path(tmp_path, monkeypatch):
    settings = Settings(data_dir=tmp_path / "data", collection="batched", _env_file=None)
    model = SlowModel(pass_s=0.0)
    embedder = embedding.Embedder(model=model)
    monkeypatch.setattr(embedding, "_embedders", {settings.embedding_device: embedder})
    acts = EmbeddingActivities(settings)
    query = ParsedQuery(
        question="what is bm25?",
        top_k=3,
        depth=5,
        terms=["bm25"],
        collection="batched",
        routing=build_routing(settings),
    )
    try:
        result = acts.vector_search(query)
    finally:
        close_stores()
    assert result.branch is Branch.vector and result.hits == []
    assert model.passes == [["what is bm25?"]] and list(embedder.query_batch_sizes) == [1]
    # Several texts (EmbedChunks) go to the model in one call.
    assert len(acts.embedder.encode(["a", "b"], batch_size=2)) == 2 and model.passes[-1] == ["a", "b"]
