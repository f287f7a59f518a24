"""Models of the query side: the question, each step's input and output, and the answer.

They travel through workflow history: ids, scores and short texts, never vectors."""

from __future__ import annotations

import enum

from pydantic import Field

from ragstate.models.base import _Model
from ragstate.models.condense import Condensed
from ragstate.models.costs import Cost, Usage
from ragstate.models.names import CollectionName
from ragstate.models.tenancy import AccessGroup, TenantName

#: Earlier turns a session hands one question (ragstate/workflows/session.py): enough for the
#: follow-up's rewrite and the synthesis prompt, small enough for history.
MAX_PRIOR_TURNS = 8
MAX_PRIOR_ANSWER_CHARS = 2000


class PriorTurn(_Model):
    """An earlier turn of a conversation, as the next question's query carries it."""

    question: str = Field(max_length=20_000, description="what the user asked then, as asked")
    standalone: str = Field("", max_length=20_000, description="the standalone question it became, if rewritten")
    answer: str = Field("", max_length=MAX_PRIOR_ANSWER_CHARS, description="the answer's text, shortened")


class RagQuery(_Model):
    """A question for :class:`ragstate.workflows.query.RagQueryWorkflow`.

    Example::

        await client.execute_workflow(
            RagQueryWorkflow.run, RagQuery(question="What is BM25?", top_k=5),
            id="rag-query-demo", task_queue="ragstate")
    """

    question: str
    top_k: int | None = Field(default=None, description="sources to cite; settings.default_top_k when unset")
    sources: list[str] | None = Field(default=None, description="only chunks whose source is one of these")
    doc_ids: list[str] | None = Field(default=None, description="only chunks of these documents")
    collection: CollectionName | None = Field(default=None, description="settings.collection when unset")
    synthesize: bool = Field(default=True, description="False stops after retrieval (evaluation)")
    depth: int | None = Field(
        default=None, ge=1, le=1000, description="candidates per branch before fusion; settings.search_depth when unset"
    )
    stream_tokens: bool = Field(
        default=False,
        description="publish the LLM's tokens to the run's stream as they come (streaming clients set it); "
        "a plain ask leaves them out of the history",
    )
    ranked_documents: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="retrieval only: the ranking keeps the best chunk of each of its first N documents, and no "
        "branch rankings (the re-index gate, whose history holds every answer, needs only its top 10)",
    )
    history: list[PriorTurn] = Field(
        default_factory=list,
        max_length=MAX_PRIOR_TURNS,
        description="earlier turns of the conversation, oldest first: the question is a follow-up to rewrite "
        "(CondenseQuestion) before retrieval, and the synthesis prompt carries them",
    )
    condensed: Condensed | None = Field(
        default=None,
        description="set by the query workflow after CondenseQuestion (a question with history): what "
        "ParseQuery hands both search branches; callers leave it unset",
    )
    tenant: TenantName | None = Field(
        default=None,
        description="the tenant the question is asked for (set by a tenant's client from its key; recorded "
        "as the run's RagTenant and memo, and charged to the tenant's budget); None: the operator",
    )
    access_groups: list[AccessGroup] | None = Field(
        default=None,
        max_length=256,
        description="the caller's access groups: only documents without groups or sharing one of these are "
        "searched; None (the operator) searches every document",
    )
    budget: str | None = Field(
        default=None,
        max_length=200,
        description="the tenant's RagBudget workflow id, set by the client when the run was admitted: the run "
        "settles its LLM cost there when it ends, whether or not anyone still waits for it",
    )


class Routing(_Model):
    """Task queues for the steps that run elsewhere, resolved from the worker's settings by the
    first activity and so recorded in history: workflows never read the environment."""

    embeddings_task_queue: str
    llm_task_queue: str
    local_steps: bool = Field(default=False, description="KeywordSearch and Merge as local activities")
    vector_search_local: bool = Field(
        default=False, description="the workflow worker has the model: run VectorSearch as a local activity"
    )
    synthesize_local: bool = Field(
        default=False, description="offline extractive synthesis in the workflow worker: a local activity"
    )
    gpu_embeddings_task_queue: str | None = Field(
        default=None, description="ingest embeds here first when set, falling back to embeddings_task_queue"
    )
    gpu_fallback_after_s: float = 30.0
    schedule_to_start_s: float | None = Field(
        default=None,
        description="a step on a remote queue that no worker starts in this time fails (its branch "
        "degrades the answer); None (runs from before the setting): no bound",
    )
    backlog_wait_s: float | None = Field(
        default=None,
        description="a step whose queue has workers polling, but none free, waits this much longer before its "
        "branch degrades; None (runs from before the setting): no longer wait",
    )
    llm_fallback_extractive: bool = Field(
        default=False,
        description="a Synthesize that fails for good (or no LLM worker takes) gives the extractive "
        "answer, flagged degraded, instead of failing the query",
    )
    abstain_min_similarity: float = Field(
        default=0.0, description="settings.abstain_min_similarity (0, runs from before it: never abstain)"
    )


class ParsedQuery(_Model):
    """Output of ParseQuery: validated, normalised and ready for both search branches."""

    question: str
    top_k: int
    depth: int = Field(description="candidates each branch returns before fusion")
    terms: list[str] = Field(description="analyzed keyword terms (lowercased, stemmed, no stop words)")
    sources: list[str] | None = None
    doc_ids: list[str] | None = None
    collection: str
    synthesize: bool = True
    routing: Routing
    attempt: int = Field(default=1, description="the ParseQuery attempt that produced it")
    # A follow-up's condensed form (CondenseQuestion); all empty for a one-off question.
    standalone: str = Field("", description="the standalone question retrieval searched, when it was condensed")
    context_terms: list[str] = Field(
        default_factory=list, description="earlier turns' terms, scored by KeywordSearch at a lower weight"
    )
    context_text: str = Field("", description="earlier turns' text, embedded by VectorSearch before the question")
    access_groups: list[str] | None = Field(
        default=None,
        description="RagQuery.access_groups: both branches search only chunks without groups or sharing one "
        "of these; None (the operator, and runs from before groups): every chunk",
    )
    answer_cache: AnswerCacheScope | None = Field(
        default=None,
        description="set by ParseQuery when the answer cache is on (RAGSTATE_ANSWER_CACHE) and the question "
        "may use it (an answer asked for, no history): VectorSearch looks for an answered question there",
    )


class AnswerCacheScope(_Model):
    """Where a question's cached answers live (docs/answer-cache.md): ``key`` hashes everything but
    the collection's generation that an answer depends on (tenant, collection, access groups,
    filters, top_k, the settings that change retrieval or synthesis)."""

    key: str
    threshold: float = Field(description="cosine similarity a cached question needs (and the lexical guard)")


class CachedAnswer(_Model):
    """An answered question close enough to this one: its answer, served instead of a new one."""

    answer: RagAnswer
    question: str = Field(description="the question the answer was made for")
    similarity: float
    workflow_id: str = Field(description="the run that paid for the answer")
    run_id: str = ""


class CacheProbe(_Model):
    """What VectorSearch found in the answer cache: the collection version and generation it
    looked in (a write-back must find them unchanged) and the hit, if any."""

    collection: str = Field(description="the physical collection (version) searched")
    generation: str = Field(description="its generation token: every write to the collection changes it")
    hit: CachedAnswer | None = None


class Branch(str, enum.Enum):
    vector = "vector"
    keyword = "keyword"


class SearchHit(_Model):
    chunk_id: str
    doc_id: str
    score: float


class BranchResult(_Model):
    branch: Branch
    hits: list[SearchHit]
    attempt: int = Field(default=1, description="the activity attempt that produced it (the run's details show it)")
    cache: CacheProbe | None = Field(
        default=None, description="VectorSearch with the answer cache on: what it found there (None: not looked)"
    )
    expanded_from: int = Field(
        default=0,
        description="pseudo-relevance feedback: the first search's chunks the query was expanded from before "
        "the search these hits come from (0: one search, no expansion)",
    )


class MergeInput(_Model):
    query: ParsedQuery
    vector: BranchResult | None = None
    keyword: BranchResult | None = None


class Source(_Model):
    """One numbered passage given to the LLM; ``[number]`` in the answer cites it."""

    number: int
    chunk_id: str
    doc_id: str
    title: str
    source: str
    text: str
    score: float


class MergeResult(_Model):
    sources: list[Source]
    ranking: list[SearchHit] = Field(
        default_factory=list,
        description="the fused ranking (ids and scores) of a retrieval-only query, for evaluation; empty otherwise",
    )
    candidates: int
    attempt: int = Field(default=1, description="the activity attempt that produced it")


class SynthesisInput(_Model):
    question: str
    sources: list[Source]
    best_score: float | None = Field(
        default=None, description="the vector branch's best cosine similarity (None: the branch did not answer)"
    )
    abstain_below: float = Field(
        default=0.0, description="no answer (no LLM call) when best_score is below this (ragstate.answers.abstention)"
    )
    stream_tokens: bool = Field(
        default=False, description="publish the answer's tokens to the run's stream (a client subscribed)"
    )
    history: list[PriorTurn] = Field(
        default_factory=list, description="a follow-up's earlier turns: the prompt carries them before the sources"
    )


class AnswerMode(str, enum.Enum):
    llm = "llm"
    offline_extractive = "offline-extractive"
    retrieval_only = "retrieval-only"


class SynthesisResult(_Model):
    answer: str
    mode: AnswerMode
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)
    truncated: bool = Field(default=False, description="the LLM stopped at max_tokens: the answer may be cut short")
    cost: Cost | None = Field(default=None, description="the LLM call's cost; None when no call was made")
    attempt: int = Field(default=1, description="the activity attempt that produced it")
    citations: list[Citation] | None = Field(
        default=None, description="the cited spans (native API citations, extractive quotes); None: parse [n] markers"
    )
    no_answer: bool = Field(default=False, description="the sources do not contain the answer: abstained")
    best_score: float | None = Field(default=None, description="the abstention signal (SynthesisInput.best_score)")


class Citation(_Model):
    number: int
    chunk_id: str
    doc_id: str
    title: str
    source: str
    snippet: str
    score: float
    cited_text: list[str] = Field(default_factory=list, description="the spans of the source the answer cites")


class StepTiming(_Model):
    step: str
    duration_ms: float
    status: str = "ok"


class RagAnswer(_Model):
    """What a question returns: the answer, its numbered citations and how it was produced."""

    question: str
    answer: str
    citations: list[Citation]
    mode: AnswerMode
    model: str | None = None
    degraded: bool = False
    degraded_reasons: list[str] = Field(default_factory=list)
    truncated: bool = Field(default=False, description="the LLM stopped at max_tokens: the answer may be cut short")
    usage: Usage = Field(default_factory=Usage)
    cost: Cost = Field(default_factory=Cost, description="what the answer cost (0 with the reason without an LLM call)")
    no_answer: bool = Field(default=False, description="nothing retrieved supports an answer: the answer says so")
    best_score: float | None = Field(
        default=None, description="the vector branch's best cosine similarity, the abstention signal"
    )
    timings: list[StepTiming] = Field(default_factory=list)
    ranking: list[SearchHit] = Field(default_factory=list, description="fused ranking (retrieval-only mode)")
    branch_rankings: dict[Branch, list[SearchHit]] = Field(
        default_factory=dict, description="each branch's own ranking (retrieval-only mode)"
    )
    standalone_question: str = Field(
        "", description="a follow-up's standalone question (CondenseQuestion), what retrieval searched; empty otherwise"
    )
    cached: bool = Field(
        default=False, description="served from the answer cache (docs/answer-cache.md): no LLM call, cost 0"
    )
    cached_from: str = Field(default="", description="cached: the workflow id of the run that made the answer")
    cached_similarity: float | None = Field(
        default=None, description="cached: the cosine similarity of this question to the one answered"
    )
    workflow_id: str = ""
    run_id: str = ""


class CacheWrite(_Model):
    """StoreCachedAnswer's input: a finished LLM answer to keep for the questions like it."""

    query: ParsedQuery
    probe: CacheProbe
    answer: RagAnswer
