"""The same text under two paths is cited once per answer: ragstate.answers.dedupe, then an answer
through the real ingest and search on the dev server."""

from __future__ import annotations

import shutil

import pytest
from paths import EXAMPLES_CORPUS
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from ragstate.activities.qdrant import QdrantActivities
from ragstate.activities.query_parsing import build_routing
from ragstate.answers.dedupe import content_hash, distinct_texts
from ragstate.client import RagClient
from ragstate.models import Branch, BranchResult, MergeInput, ParsedQuery, RagQuery
from ragstate.settings import Settings
from ragstate.workers.runtime import running_workers


def test_distinct_texts_keeps_the_first_of_each_text_whitespace_aside():
    items = [("a", "Fusion adds ranks."), ("b", "Other text."), ("c", "Fusion  adds\nranks. "), ("d", "other text.")]
    assert distinct_texts(items, text=lambda i: i[1]) == [items[0], items[1], items[3]]
    assert content_hash("x  y") == content_hash(" x\ny\n") != content_hash("x y z")


@pytest.mark.timeout(240)
async def test_a_file_copied_under_two_paths_is_given_to_the_llm_once(client: Client, settings: Settings, tmp_path):
    """Before: the same file under copy-a/ and copy-b/ was packed as two numbered sources, so an
    LLM answer could cite the same words as [1] and [2]. The Merge step over the real rankings."""
    for name in ("copy-a", "copy-b"):
        (tmp_path / name).mkdir()
        shutil.copy(EXAMPLES_CORPUS / "bm25.md", tmp_path / name / "bm25.md")
    shutil.copy(EXAMPLES_CORPUS / "chunking.md", tmp_path / "copy-a")
    question = "How does BM25 saturate term frequency with k1?"
    rag = RagClient(client, settings)
    async with running_workers(client, settings):
        result = await rag.ingest([str(tmp_path / "copy-a"), str(tmp_path / "copy-b")])
        assert result.documents == 3, result.failures
        rankings = (await rag.ask(RagQuery(question=question, synthesize=False))).branch_rankings
        ranked = {h.doc_id.rsplit("/", 2)[-2] for h in rankings[Branch.keyword] if h.doc_id.endswith("bm25.md")}
        assert ranked == {"copy-a", "copy-b"}  # both copies are found ...
        query = ParsedQuery(
            question=question,
            top_k=5,
            depth=50,
            terms=["bm25"],
            collection=settings.collection,
            routing=build_routing(settings),
        )
        merged = ActivityEnvironment().run(
            QdrantActivities(settings).merge,
            MergeInput(
                query=query,
                keyword=BranchResult(branch=Branch.keyword, hits=rankings[Branch.keyword]),
                vector=BranchResult(branch=Branch.vector, hits=rankings[Branch.vector]),
            ),
        )
    # ... but the LLM is given its text once, and every source it gets is a different text.
    assert len([s for s in merged.sources if s.source.endswith("bm25.md")]) == 1, merged.sources
    texts = [content_hash(s.text) for s in merged.sources]
    assert len(texts) == len(set(texts)) and len(merged.sources) >= 2
