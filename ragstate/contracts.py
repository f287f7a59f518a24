"""The names every part of ragstate agrees on: workflow and activity types, queries, the stream
topic, error types and search-attribute keys.

Workflows, activities, workers and clients import these instead of writing the strings, so a
rename happens in one place. Imports only the standard library and ``temporalio.common``:
workflows may import it.

Example::

    from ragstate.contracts import ErrorType, Workflow

    await client.start_workflow(Workflow.QUERY, query, id=..., task_queue=..., result_type=RagAnswer)
    raise ApplicationError("invalid query: empty", type=ErrorType.INVALID_QUERY, non_retryable=True)
"""

from __future__ import annotations

from typing import Final

from temporalio.common import SearchAttributeKey

__all__ = [
    "RAG_KIND",
    "RAG_STATUS",
    "SEARCH_ATTRIBUTES",
    "STREAM_TOPIC",
    "Activity",
    "ErrorType",
    "Query",
    "Update",
    "Workflow",
]


class Workflow:
    """Workflow type names (what the UI lists as the workflow type)."""

    QUERY: Final = "RagQuery"
    INGEST: Final = "Ingest"
    STATS: Final = "StoreStats"
    LIST_DOCUMENTS: Final = "ListDocuments"
    DELETE_DOCUMENTS: Final = "DeleteDocuments"
    LIST_COLLECTIONS: Final = "ListCollections"
    DROP_COLLECTION: Final = "DropCollection"
    REINDEX: Final = "Reindex"
    SUMMARIZE_DOCUMENTS: Final = "SummarizeDocuments"
    #: A rating of an answer, stored next to the store (id ``<query id>-feedback-<hex>``).
    FEEDBACK: Final = "RagFeedback"
    LIST_FEEDBACK: Final = "ListFeedback"
    #: One per conversation (workflows/session.py); a turn is an Update, its query a child run.
    SESSION: Final = "RagSession"
    #: A session's transcript, read from outside history by a worker.
    SESSION_TRANSCRIPT: Final = "SessionTranscript"
    #: The tenants' API keys (hashes) and policies: one entity per deployment, id ``rag-keys-<queue>``.
    KEYS: Final = "RagKeys"
    #: One per tenant with a policy (id ``rag-budget-<queue>-<tenant>``): requests per minute and the
    #: day's LLM spend, reserved before a run and settled after it, for every process alike.
    BUDGET: Final = "RagBudget"


class Activity:
    """Activity type names: the states of the query and ingest graphs."""

    #: A follow-up made standalone before ParseQuery (only for a question with history).
    CONDENSE_QUESTION: Final = "CondenseQuestion"
    PARSE_QUERY: Final = "ParseQuery"
    VECTOR_SEARCH: Final = "VectorSearch"
    KEYWORD_SEARCH: Final = "KeywordSearch"
    #: A finished LLM answer kept in the answer cache (docs/answer-cache.md), on the embeddings queue.
    STORE_CACHED_ANSWER: Final = "StoreCachedAnswer"
    MERGE: Final = "Merge"
    SYNTHESIZE: Final = "Synthesize"
    #: The extractive answer when Synthesize fails for good: a local activity of the workflow worker.
    EXTRACTIVE_ANSWER: Final = "ExtractiveAnswer"
    DISCOVER_DOCUMENTS: Final = "DiscoverDocuments"
    INDEX_CHUNKS: Final = "IndexChunks"
    EMBED_CHUNKS: Final = "EmbedChunks"
    COMMIT_DOCUMENTS: Final = "CommitDocuments"
    OPTIMIZE_STORE: Final = "OptimizeStore"
    STORE_STATS: Final = "StoreStats"
    PRUNE_DOCUMENTS: Final = "PruneDocuments"
    LIST_DOCUMENTS: Final = "ListDocuments"
    DELETE_DOCUMENTS: Final = "DeleteDocuments"
    LIST_COLLECTIONS: Final = "ListCollections"
    DROP_COLLECTION: Final = "DropCollection"
    PLAN_REINDEX: Final = "PlanReindex"
    SWITCH_COLLECTION: Final = "SwitchCollection"
    DROP_COLLECTION_VERSION: Final = "DropCollectionVersion"
    LOAD_GATE: Final = "LoadGate"
    # Feedback on answers (workflows/feedback.py)
    RECORD_FEEDBACK: Final = "RecordFeedback"
    LIST_FEEDBACK: Final = "ListFeedback"
    #: How many workers poll a task queue: a step that no worker started is told a busy queue
    #: from an empty one (workflows/query_steps.py).
    QUEUE_POLLERS: Final = "QueuePollers"
    # Session transcripts (workflows/session.py), beside the store
    APPEND_TURN: Final = "AppendTurn"
    READ_TRANSCRIPT: Final = "ReadTranscript"
    ERASE_TRANSCRIPT: Final = "EraseTranscript"
    # The summarize stage (workflows/summarize.py)
    PLAN_SUMMARIES: Final = "PlanSummaries"
    EXTRACTIVE_SUMMARIES: Final = "ExtractiveSummaries"
    COPY_SUMMARIES: Final = "CopySummaries"
    SUMMARIZE_DOCUMENT: Final = "SummarizeDocument"
    CREATE_SUMMARY_BATCH: Final = "CreateSummaryBatch"
    POLL_SUMMARY_BATCH: Final = "PollSummaryBatch"
    COLLECT_SUMMARY_BATCH: Final = "CollectSummaryBatch"


class Query:
    """Workflow query names."""

    INGEST_PROGRESS: Final = "progress"
    QUERY_TIMINGS: Final = "timings"
    REINDEX_STATE: Final = "reindex_state"
    SESSION_STATE: Final = "session_state"
    KEY_TABLE: Final = "key_table"
    BUDGET_STATE: Final = "budget_state"


class Update:
    """Workflow update names."""

    #: A person's decision on a re-index started with ``approve=True`` (``ragstate reindex approve|reject``).
    APPROVE_REINDEX: Final = "approve"
    REJECT_REINDEX: Final = "reject"
    #: A user message to a session (update-with-start: the first one starts it).
    SESSION_MESSAGE: Final = "message"
    #: End a session (and erase its transcript, when asked).
    END_SESSION: Final = "end"
    #: Add a key, revoke one, set a tenant's policy (``ragstate keys ...``, ``ragstate tenants set``).
    CREATE_KEY: Final = "create_key"
    REVOKE_KEY: Final = "revoke_key"
    SET_TENANT: Final = "set_tenant"
    #: Admit one request to a tenant's budget (reserving its LLM cost) or refuse it.
    ADMIT: Final = "admit"


class Signal:
    """Workflow signal names."""

    #: Keys a gateway process saw used (``keys list`` shows when each was last used).
    KEYS_USED: Final = "keys_used"
    #: A run's real LLM cost, replacing its reservation in the tenant's budget.
    SETTLE: Final = "settle"


class ErrorType:
    """``ApplicationError.type`` of ragstate's failures (also ``error_type`` of stream events and
    statuses, and ``error.type`` of the gateway's error bodies)."""

    #: The question or its options were refused (empty, too long, control characters, top_k).
    INVALID_QUERY: Final = "InvalidQuery"
    #: Both search branches failed, each after its retries.
    RETRIEVAL_FAILED: Final = "RetrievalFailed"
    #: The Anthropic API refused the request (key, permission, model, request): never retried.
    LLM_REQUEST_REJECTED: Final = "LLMRequestRejected"
    #: The Anthropic API was unreachable, overloaded or failing (5xx, 529, timeouts): retried.
    LLM_UNAVAILABLE: Final = "LLMUnavailable"
    #: The Anthropic API answered 429: retried after the delay it asked for.
    LLM_RATE_LIMITED: Final = "LLMRateLimited"

    #: Every type above: the failures a client turns into its own exception classes.
    ALL: Final = (INVALID_QUERY, RETRIEVAL_FAILED, LLM_REQUEST_REJECTED, LLM_UNAVAILABLE, LLM_RATE_LIMITED)

    #: An index-lifecycle request was refused (a collection name no backend can have): never retried.
    INVALID_REQUEST: Final = "InvalidRequest"
    #: A step routed as a local activity reached a workflow worker without it (a mixed pool):
    #: the query runs it as a regular activity on its own queue instead.
    STEP_NOT_HERE: Final = "StepNotOnThisWorker"


#: The one topic of a query's workflow stream (StreamEvent values): steps, tokens, final/error.
STREAM_TOPIC: Final = "events"

#: "query", "ingest" or "feedback": lets the UI list each kind (``RagKind = "query"``).
RAG_KIND = SearchAttributeKey.for_keyword("RagKind")
#: running / completed / degraded / failed (``RagStatus = "degraded"``).
RAG_STATUS = SearchAttributeKey.for_keyword("RagStatus")
#: The tenant a run acts for (``RagTenant = "acme"``); the memo's ``tenant`` is what ownership checks read.
RAG_TENANT = SearchAttributeKey.for_keyword("RagTenant")
SEARCH_ATTRIBUTES = (RAG_KIND, RAG_STATUS, RAG_TENANT)
#: The memo key of a run's tenant (always written for a tenant's run, registered attributes or not).
TENANT_MEMO = "tenant"
