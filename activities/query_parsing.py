"""ParseQuery: validate and normalise a question; bad input fails the workflow at once."""

from __future__ import annotations

import hashlib
import json

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from ragstate.activities.attempts import current_attempt
from ragstate.contracts import Activity, ErrorType
from ragstate.models import AnswerCacheScope, ParsedQuery, RagQuery, Routing
from ragstate.models.validation import InvalidQuery, validate
from ragstate.retrieval.analyzer import analyze
from ragstate.settings import LlmFallback, Settings


def build_routing(s: Settings, in_process_roles: frozenset[str] = frozenset()) -> Routing:
    """Where a workflow sends its steps, from the settings of the worker that runs it."""
    local = s.local_activities
    return Routing(
        embeddings_task_queue=s.embeddings_task_queue,
        llm_task_queue=s.llm_task_queue,
        local_steps=local,
        vector_search_local=local and "embeddings" in in_process_roles,
        # Only offline extractive synthesis is cheap; an LLM call stays a regular activity on
        # its own (rate-limited) queue.
        synthesize_local=local and "llm" in in_process_roles and s.anthropic_key() is None,
        gpu_embeddings_task_queue=s.gpu_embeddings_task_queue if s.gpu_embeddings else None,
        gpu_fallback_after_s=s.gpu_fallback_after_s,
        schedule_to_start_s=s.step_schedule_to_start_s,
        backlog_wait_s=s.step_backlog_wait_s,
        llm_fallback_extractive=s.llm_fallback is LlmFallback.extractive,
        abstain_min_similarity=s.abstain_min_similarity,
    )


#: The settings an answer depends on (retrieval, packing, abstention, the LLM): answers cached
#: under other values of any of them are never served.
ANSWER_SETTINGS = (
    "search_depth",
    "fusion_unit",
    "fusion_method",
    "rrf_k",
    "vector_weight",
    "keyword_weight",
    "keyword_other_chunks",
    "query_encoding",
    "query_sentences_min",
    "bm25_k1",
    "bm25_b",
    "bm25_avg_len",
    "bm25_collection_avg_len",
    "prf_keyword_chunks",
    "prf_keyword_terms",
    "prf_keyword_weight",
    "prf_vector_chunks",
    "prf_vector_weight",
    "context_token_budget",
    "abstain_min_similarity",
    "anthropic_model",
    "anthropic_max_tokens",
    "llm_fallback",
)


def answer_cache_scope(s: Settings, query: RagQuery, top_k: int, depth: int) -> AnswerCacheScope | None:
    """Where this question's cached answers live, or None when it may not use the cache (off, a
    retrieval-only query, a follow-up whose answer depends on the conversation)."""
    if not s.answer_cache or not query.synthesize or query.history or query.condensed is not None:
        return None
    from ragstate import __version__

    scope = {
        "tenant": query.tenant,
        "collection": query.collection or s.collection,
        "access_groups": None if query.access_groups is None else sorted(set(query.access_groups)),
        "sources": sorted(query.sources) if query.sources is not None else None,
        "doc_ids": sorted(query.doc_ids) if query.doc_ids is not None else None,
        "top_k": top_k,
        "depth": depth,
        "settings": {name: str(getattr(s, name)) for name in ANSWER_SETTINGS},
        "version": __version__,  # prompts and answer assembly change with the code
    }
    key = hashlib.sha256(json.dumps(scope, sort_keys=True).encode()).hexdigest()[:32]
    return AnswerCacheScope(key=key, threshold=s.answer_cache_threshold)


class QueryParsingActivities:
    def __init__(self, settings: Settings, in_process_roles: frozenset[str] = frozenset()):
        """``in_process_roles``: the other worker roles this process serves, whose steps the
        workflow may then run as local activities."""
        self.settings = settings
        self.in_process_roles = in_process_roles

    @activity.defn(name=Activity.PARSE_QUERY)
    async def parse_query(self, query: RagQuery) -> ParsedQuery:
        s = self.settings
        try:
            question, top_k = validate(query, s)
        except InvalidQuery as e:
            # Bad input is expected: one log line, no traceback (BENIGN), the reason to the caller.
            activity.logger.info("question rejected: %s", e)
            raise ApplicationError(
                str(e), type=ErrorType.INVALID_QUERY, non_retryable=True, category=ApplicationErrorCategory.BENIGN
            ) from None
        depth = query.depth or s.search_depth
        if query.synthesize:  # at least top_k candidates to cite; retrieval-only takes the depth asked
            depth = max(depth, top_k)
        # A follow-up (CondenseQuestion ran): retrieval searches its standalone form, with the
        # earlier turns' context; the answer keeps the question as asked.
        c = query.condensed
        standalone = c.standalone.strip() if c is not None and c.standalone.strip() else ""
        return ParsedQuery(
            question=question,
            top_k=top_k,
            depth=depth,
            terms=analyze(standalone or question),
            standalone=standalone,
            context_terms=c.context_terms if c is not None else [],
            context_text=c.context_text if c is not None else "",
            sources=query.sources,
            doc_ids=query.doc_ids,
            # Each branch filters by them in the store: a restricted chunk is never a hit.
            access_groups=None if query.access_groups is None else sorted(set(query.access_groups)),
            collection=query.collection or s.collection,
            synthesize=query.synthesize,
            routing=build_routing(s, self.in_process_roles),
            answer_cache=answer_cache_scope(s, query, top_k, depth),
            attempt=current_attempt(),
        )
