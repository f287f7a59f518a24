"""The ParsedQuery a search activity gets, built for tests that call the activities in-process."""

from __future__ import annotations

from ragstate.models import ParsedQuery, Routing
from ragstate.retrieval.analyzer import analyze


def keyword_query(collection: str, question: str, depth: int, groups: list[str] | None = None) -> ParsedQuery:
    """``question`` as ParseQuery would hand it to KeywordSearch: its analysed terms, ``depth``
    candidates, the caller's access ``groups`` (None: the operator, every chunk)."""
    return ParsedQuery(
        question=question,
        top_k=5,
        depth=depth,
        terms=analyze(question),
        collection=collection,
        access_groups=groups,
        routing=Routing(embeddings_task_queue="e", llm_task_queue="l"),
    )
