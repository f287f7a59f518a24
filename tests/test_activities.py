"""Activities one by one in temporalio's ActivityEnvironment, on both store backends."""

from __future__ import annotations

import pytest
from paths import EXAMPLES_CORPUS
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from ragstate.activities.embeddings import EmbeddingActivities
from ragstate.activities.files import PAGE_BYTES, FileActivities
from ragstate.activities.qdrant import QdrantActivities
from ragstate.activities.query_parsing import QueryParsingActivities
from ragstate.models import (
    Branch,
    ChunkBatchInput,
    CommitInput,
    DiscoverInput,
    EmbedInput,
    MergeInput,
    RagQuery,
    SourceRef,
    StatsRequest,
)
from ragstate.settings import Settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    """No server here: the activities run in an ActivityEnvironment (``backend_settings`` of
    conftest.py puts these on each store backend)."""
    return Settings(data_dir=tmp_path / "data", collection="acts", _env_file=None)


def run(fn, arg):
    return ActivityEnvironment().run(fn, arg)


async def test_parse_query_normalises_and_routes(backend_settings):
    parsed = await ActivityEnvironment().run(
        QueryParsingActivities(backend_settings).parse_query,
        RagQuery(question="  Running   the BM25 ranking? ", top_k=3),
    )
    assert parsed.question == "Running the BM25 ranking?"
    assert parsed.terms == ["run", "bm25", "rank"]
    assert (parsed.top_k, parsed.collection) == (3, "acts")
    assert parsed.routing.embeddings_task_queue == backend_settings.embeddings_task_queue


async def test_parse_query_rejects_bad_input_as_non_retryable(backend_settings):
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(QueryParsingActivities(backend_settings).parse_query, RagQuery(question=" "))
    assert info.value.non_retryable and info.value.type == "InvalidQuery"
    assert "empty" in info.value.message


def test_index_embed_search_merge_commit(backend_settings):
    s = backend_settings
    store_acts, emb_acts = QdrantActivities(s), EmbeddingActivities(s)
    refs = [SourceRef(path=str(p)) for p in sorted(EXAMPLES_CORPUS.glob("*.md"))]
    indexed = run(store_acts.index_chunks, ChunkBatchInput(collection="acts", refs=refs))
    assert len(indexed.documents) == len(refs) and not indexed.failures
    chunks = sum(d.chunks for d in indexed.documents)

    embedded = run(emb_acts.embed_chunks, EmbedInput(collection="acts", documents=indexed.documents))
    assert embedded.embedded == chunks
    # A retry after everything was embedded has nothing left to do.
    assert run(emb_acts.embed_chunks, EmbedInput(collection="acts", documents=indexed.documents)).embedded == 0
    # Re-indexing unchanged documents is a no-op reported as such.
    again = run(store_acts.index_chunks, ChunkBatchInput(collection="acts", refs=refs))
    assert (again.documents, len(again.unchanged)) == ([], len(refs))
    assert (
        run(
            store_acts.commit_documents, CommitInput(collection="acts", documents=indexed.documents)
        ).stale_chunks_removed
        == 0
    )

    import asyncio

    parsed = asyncio.run(
        ActivityEnvironment().run(
            QueryParsingActivities(s).parse_query, RagQuery(question="What do k1 and b control in BM25?", top_k=2)
        )
    )
    keyword = run(store_acts.keyword_search, parsed)
    vector = run(emb_acts.vector_search, parsed)
    assert keyword.branch is Branch.keyword and vector.branch is Branch.vector
    assert keyword.hits[0].doc_id.endswith("bm25.md") and vector.hits[0].doc_id.endswith("bm25.md")

    merged = run(store_acts.merge, MergeInput(query=parsed, vector=vector, keyword=keyword))
    assert [src.number for src in merged.sources] == [1, 2]
    assert merged.sources[0].title == "BM25 keyword ranking" and "k1" in merged.sources[0].text
    assert merged.candidates == len({h.chunk_id for h in keyword.hits + vector.hits})
    assert merged.ranking == []  # an answering query carries no ranking through the history
    retrieval_only = parsed.model_copy(update={"synthesize": False})
    ranked = run(store_acts.merge, MergeInput(query=retrieval_only, vector=vector, keyword=keyword))
    assert ranked.sources == [] and ranked.ranking[0].doc_id == merged.sources[0].doc_id
    assert len({h.doc_id for h in ranked.ranking}) == len(ranked.ranking)  # one place per document
    # One branch missing (degraded): merge uses the other alone.
    assert run(store_acts.merge, MergeInput(query=parsed, keyword=keyword)).sources[0].doc_id.endswith("bm25.md")

    stats = run(store_acts.optimize_store, StatsRequest(collection="acts"))
    assert (stats.documents, stats.chunks, stats.backend) == (len(refs), chunks, s.store_backend.value)


def test_discover_pages_stay_small(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    name = "a-rather-long-file-name-" * 8
    for i in range(3000):
        (folder / f"{name}{i:05d}.txt").write_text("x")
    acts = FileActivities(Settings(data_dir=tmp_path, _env_file=None))
    seen, cursor, pages = 0, 0, 0
    while cursor is not None:
        page = run(acts.discover_documents, DiscoverInput(paths=[str(folder)], cursor=cursor, batch_docs=10))
        assert len(page.model_dump_json()) < PAGE_BYTES * 1.2
        seen += sum(len(b) for b in page.batches)
        cursor, pages = page.next_cursor, pages + 1
    assert seen == 3000 and pages > 1
