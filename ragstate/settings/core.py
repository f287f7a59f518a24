"""One settings object for every process: CLI, client, workers and activities.

Every field can be set from the environment with the ``RAGSTATE_`` prefix, e.g.
``RAGSTATE_TEMPORAL_ADDRESS=my-ns.tmprl.cloud:7233`` or
``RAGSTATE_STORE_BACKEND=qdrant``.

Usage::

    from ragstate.settings import Settings
    settings = Settings(data_dir="/tmp/rag")          # explicit values win over env
    settings.anthropic_key()                            # None -> offline extractive mode
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ragstate.models.names import CollectionName
from ragstate.models.tenancy import TenantName
from ragstate.settings.choices import (
    LAMBDA_ROLES,
    FusionMethod,
    FusionUnit,
    LlmFallback,
    LogFormat,
    QueryEncoding,
    StoreBackend,
    StoreOriginals,
    StoreQuantization,
    WorkflowVersioning,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAGSTATE_", env_file=".env", extra="ignore")

    # --- local data ---------------------------------------------------------
    data_dir: Path = Field(default=Path(".ragstate"), description="Temporal SQLite DB, embedded store")

    # --- Temporal -------------------------------------------------------------
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_tls: bool = False
    temporal_api_key: SecretStr | None = None
    temporal_profile: str | None = Field(
        default=None,
        description="profile name in temporal.toml (TEMPORAL_CONFIG_FILE); overrides address/namespace/TLS",
    )
    temporal_ui_url: str = "http://localhost:8233"
    server_outage_s: float = Field(
        default=60.0,
        ge=0,
        description="how long a client following a run (ask, ingest, a stream) keeps reconnecting to a "
        "restarting Temporal server before it gives up",
    )
    # Task queue names live here and nowhere else.
    workflow_task_queue: str = "ragstate"
    embeddings_task_queue: str = "ragstate-embeddings"
    llm_task_queue: str = "ragstate-llm"
    gpu_embeddings_task_queue: str = "ragstate-embeddings-gpu"
    gpu_embeddings: bool = Field(
        default=False, description="send ingest embedding batches to the GPU queue first (falls back to CPU)"
    )
    gpu_fallback_after_s: float = Field(
        default=30.0, gt=0, description="schedule-to-start on the GPU queue before a batch goes to the CPU queue"
    )
    # Worker behaviour
    worker_shutdown_grace_s: float = Field(default=30.0, ge=0, description="SIGTERM drains in-flight tasks this long")
    llm_max_concurrent: int = Field(default=8, ge=1, description="LLM calls in flight per worker")
    llm_queue_rate_per_s: float | None = Field(
        default=None, gt=0, description="server-side cap on Synthesize starts per second across all LLM workers"
    )
    # A queue nobody polls must not hang a query for the workflow's whole timeout.
    step_schedule_to_start_s: float = Field(
        default=5.0,
        gt=0,
        description="a query step on a remote queue (VectorSearch, Synthesize) that no worker starts in this "
        "time fails: a search branch degrades the answer, Synthesize takes the LLM fallback",
    )
    # ... but a queue with workers polling is busy, not empty: its steps wait this much longer.
    step_backlog_wait_s: float = Field(
        default=120.0,
        gt=0,
        description="a query step on a queue whose workers are all busy waits this long past "
        "step_schedule_to_start_s before it degrades (an empty queue degrades at once)",
    )
    llm_fallback: LlmFallback = LlmFallback.extractive
    llm_cache_dir: Path | None = Field(
        default=None,
        description="completed LLM answers, so that a retry never pays for one twice (unset: data_dir/llm-cache); "
        "LLM workers on several hosts need one shared directory",
    )
    llm_cache_ttl_s: float = Field(default=86_400.0, gt=0, description="cached LLM answers are removed after this")

    # --- AWS Lambda worker (workers/aws_lambda.py) --------------------------------
    # NoDecode: the environment gives a comma-separated list (``workflows,llm``), not JSON.
    lambda_roles: Annotated[tuple[str, ...], NoDecode] = Field(
        default=LAMBDA_ROLES, description="roles of the Lambda worker, comma-separated: workflows, llm or both"
    )
    deployment_name: str = Field(default="ragstate", min_length=1, description="worker deployment name")
    build_id: str | None = Field(
        default=None,
        description="build id of this code, one per release (unset: the Lambda function version, "
        "then the package version)",
    )
    versioning_behavior: WorkflowVersioning = Field(
        default=WorkflowVersioning.auto_upgrade, description="default versioning behavior of the workflows"
    )
    lambda_timeout_s: float | None = Field(
        default=None, gt=0, description="the Lambda function's timeout, checked against the timing rule at cold start"
    )
    lambda_otel: bool = Field(
        default=False,
        description="Lambda worker metrics and traces through the ADOT layer (needs temporalio[lambda-worker-otel])",
    )

    # --- conversations (workflows/session.py) ------------------------------------
    session_idle_timeout_s: float = Field(
        default=86400.0, ge=1, le=30 * 86400, description="a session with no message for this long ends"
    )
    session_turns_per_run: int = Field(
        default=100, ge=2, le=10_000, description="a session continues as new after this many turns"
    )
    condense_with_llm: bool = Field(
        default=True, description="with an Anthropic key, the LLM rewrites a follow-up (else the offline rewrite)"
    )
    synthesis_history_tokens: int = Field(
        default=1000, ge=0, le=50_000, description="a follow-up's prompt carries the earlier turns up to about this"
    )

    # --- store ----------------------------------------------------------------
    store_backend: StoreBackend = StoreBackend.edge
    collection: CollectionName = "ragstate"
    tenant: TenantName | None = Field(
        default=None,
        description="the CLI acts for this tenant: its collections' namespace and its own runs only "
        "(RagClient.for_tenant); unset: the operator, who sees everything",
    )
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    qdrant_path: Path | None = Field(default=None, description="qdrant-client local mode directory (tests)")
    # A new collection's layout (ragstate.store.layout); an existing one keeps its own until
    # `ragstate reindex` rebuilds it. int8 in RAM, float16 originals and payloads mapped and
    # read ahead, sparse index on disk: 1M chunks in 3.9 GiB at the recall of float32 search,
    # dense p50 2.8 ms for fresh questions after an idle minute; with the originals read on
    # first use it was 34 ms (docs/performance.md, "A million chunks").
    store_quantization: StoreQuantization = Field(
        default=StoreQuantization.int8,
        description="a new collection keeps quantized dense vectors in RAM for search: int8, binary or none",
    )
    store_on_disk: bool = Field(
        default=True,
        description="a new collection keeps its original vectors, payloads and sparse index in files the OS "
        "pages in, not in RAM",
    )
    store_originals: StoreOriginals = Field(
        default=StoreOriginals.warm16,
        description="with store_on_disk, where the originals that rescore a quantized search live: disk (read on "
        "first use), warm (mapped and read ahead) or warm16 (the same as float16, half the memory)",
    )
    store_oversampling: float = Field(
        default=1.0,
        ge=1.0,
        le=16.0,
        description="a quantized dense search rescores this many times its limit with the original vectors",
    )

    # --- embeddings -----------------------------------------------------------
    embedding_device: str = "cpu"
    embedding_batch_size: int = Field(default=64, ge=1, le=4096)
    embedding_dim: int = 384

    # --- chunking and BM25 ------------------------------------------------------
    # Wordpieces of the embedding model, the title included: it reads 254 plus [CLS] and [SEP],
    # so a larger size only makes chunks whose tail the vector branch never sees. 254, all it
    # reads: 200 wordpieces (shorter than the 200 words and marks counted before) cost med 0.020
    # of hybrid nDCG@10, 254 costs cisi/med/npl 0.001/0.002/0 (docs/performance.md).
    chunk_tokens: int = Field(
        default=254, ge=16, le=2048, description="chunk size in the embedding model's wordpieces, title included"
    )
    chunk_overlap: int = Field(default=40, ge=0, le=1024)
    max_document_bytes: int = Field(default=20_000_000, ge=1)
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    bm25_avg_len: float = Field(
        default=100.0,
        gt=0,
        description="average chunk length (analyzed terms) for BM25 length normalisation: a collection's first "
        "chunks, and every chunk when bm25_collection_avg_len is false",
    )
    # The real average analysed chunk length is 67 on cisi, 70 on med, 25 on npl. With it the
    # keyword branch comes closer to exact BM25 (cisi +0.006, npl +0.0025, above exact on npl),
    # but the hybrid at the fusion defaults loses (mean 0.5986 -> 0.5889, npl -0.023, med -0.008;
    # bench/keyword_bm25.py, bench/loco_retrieval.py --bm25-avg-len, docs/performance.md): off
    # until the fusion is chosen again with it.
    bm25_collection_avg_len: bool = Field(
        default=False,
        description="BM25 normalises by the collection's own average analysed length, measured at the end of "
        "each ingest and delete (chunks encoded with an average off by more than 2 % re-encoded); false: the "
        "fixed bm25_avg_len",
    )
    # Large enough that EmbedChunks sorts a few model batches by length (less padding) and the
    # per-batch orchestration cost stays small, even on a GPU.
    ingest_batch_docs: int = Field(default=256, ge=1, le=10_000)
    ingest_concurrency: int = Field(default=4, ge=1, le=64)

    # --- query ------------------------------------------------------------------
    max_query_chars: int = Field(default=4000, ge=10)
    max_payload_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        le=2 * 1024 * 1024,
        description="the largest workflow input a client sends (as JSON), under Temporal's 2 MB blob limit; "
        "256 KiB is Temporal's advice per payload",
    )
    default_top_k: int = Field(default=8, ge=1)
    max_top_k: int = Field(default=50, ge=1)
    # Chosen by leave-one-collection-out on cisi, med and npl (bench/loco_retrieval.py,
    # docs/performance.md, "Retrieval"): document-level fusion of each branch's 200 best chunks,
    # each branch's scores as a share of its best score, added, the keyword branch weighing 0.5
    # and scoring a document half by its best chunk, half with its other chunks added at 0.25.
    # RRF (k 20), fitted to CISI alone, fell below the anchor on med; min-max with a keyword
    # weight of 0.7 passed on all three but was chosen with med in view: without med, the other
    # two picked a weight that lost on it.
    search_depth: int = Field(default=200, ge=1, description="candidates (chunks) taken from each branch before fusion")
    fusion_unit: FusionUnit = FusionUnit.document
    # A question of several sentences asks for several things; one embedding of the whole
    # question blurs them, the mean of its sentences' embeddings keeps each. Chosen on the
    # three collections together, whole questions scored best; sentences helped only CISI.
    query_encoding: QueryEncoding = QueryEncoding.whole
    query_sentences_min: int = Field(
        default=4,
        ge=2,
        description="query_encoding=auto: from this many sentences a question is embedded sentence by sentence",
    )
    fusion_method: FusionMethod = FusionMethod.max
    rrf_k: int = Field(default=20, ge=1, description="RRF constant (fusion_method=rrf): score = weight / (k + rank)")
    vector_weight: float = Field(default=1.0, ge=0)
    keyword_weight: float = Field(default=0.5, ge=0)
    # A document that matches the question's terms in several chunks is better evidence than
    # its best chunk alone says (the anchor's whole-document BM25 sees all of it). With the
    # weight of the best chunk alone the fused ranking swung with the keyword weight on med,
    # whose abstracts often span two chunks; half of each keeps it steady (unit=document only).
    keyword_other_chunks: float = Field(
        default=0.25,
        ge=0,
        description="fusion_unit=document: the keyword branch scores a document half by its best chunk, half by "
        "its best chunk plus this share of its other candidate chunks' scores; 0: the best chunk alone",
    )
    # Pseudo-relevance feedback (ragstate.retrieval.feedback, docs/performance.md): each branch
    # searches again with its query moved toward its own first chunks. Off: chosen
    # leave-one-collection-out it held every fold above the anchor but gained less than no
    # feedback (+0.0137 against +0.0211 held out); the parameters below are its best mean setting.
    prf_keyword_chunks: int = Field(
        default=0,
        ge=0,
        le=100,
        description="RM3: the keyword branch expands its query with the terms of its first N chunks and "
        "searches again; 0: off",
    )
    prf_keyword_terms: int = Field(default=20, ge=1, le=200, description="RM3: expansion terms taken")
    prf_keyword_weight: float = Field(
        default=0.3, ge=0.0, le=1.0, description="RM3: the expansion terms' share of the expanded query"
    )
    prf_vector_chunks: int = Field(
        default=0,
        ge=0,
        le=100,
        description="Rocchio: the vector branch adds the mean vector of its first N chunks to the question's "
        "and searches again; 0: off",
    )
    prf_vector_weight: float = Field(
        default=0.5, ge=0.0, le=4.0, description="Rocchio: the weight of the feedback chunks' mean vector"
    )
    context_token_budget: int = Field(default=3000, ge=100)
    # Calibrated on cisi, med and npl, each one's questions asked of the others as the
    # out-of-domain ones (bench/abstention.py): the highest threshold answering 96 % of each
    # collection's own questions; every pair >= 95 % answered and >= 93 % abstained, and so
    # in each leave-one-collection-out fold.
    abstain_min_similarity: float = Field(
        default=0.525,
        ge=0.0,
        le=1.0,
        description="the answer abstains (no_answer, no LLM call) when the vector branch's best cosine "
        "similarity is below this and no source holds the question's terms; 0 never abstains",
    )
    # The semantic answer cache (docs/answer-cache.md): off by default. The threshold was chosen
    # on bench/answer_cache/pairs.jsonl (bench/answer_cache.py): with the lexical guard no near
    # miss hits from 0.82; 0.85 keeps a margin and serves 85 % of the paraphrases.
    answer_cache: bool = Field(
        default=False,
        description="serve a question close enough to an answered one (same tenant, collection version, "
        "settings and access groups) that answer, with no LLM call",
    )
    answer_cache_threshold: float = Field(
        default=0.85,
        ge=0.5,
        le=1.0,
        description="cosine similarity of the two questions' embeddings from which the answer cache may serve "
        "(the lexical guard must agree too)",
    )
    answer_cache_max_entries: int = Field(
        default=10_000, ge=1, description="answers kept per collection version; the oldest go first"
    )
    # A follow-up's context from the earlier turns (CondenseQuestion offline,
    # ragstate.conversations.condense): chosen leave-one-collection-out on hand-written
    # conversations over cisi, med and npl (bench/loco_conversations.py, docs/conversations.md).
    followup_keyword_weight: float = Field(
        default=0.5,
        ge=0.0,
        description="KeywordSearch scores a follow-up's context terms (from earlier turns) at this weight, "
        "its own terms at 1; 0 leaves them out",
    )
    # Embedding the earlier turns and the follow-up as one text beat adding the earlier turns'
    # vector at any weight (0.5 to 3) on every fold: the model reads the ellipsis in context.
    followup_embed_context: bool = Field(
        default=True,
        description="VectorSearch embeds a follow-up's earlier turns and the follow-up as one text; False: the "
        "follow-up alone",
    )
    local_activities: bool = Field(
        default=True,
        description="run cheap steps (keyword search, merge, and in a one-process worker vector "
        "search and offline synthesis) as local activities: one server round trip less each",
    )

    # --- Anthropic --------------------------------------------------------------
    anthropic_api_key: SecretStr | None = None
    anthropic_api_key_file: Path | None = None
    anthropic_base_url: str | None = None
    # A current model the installed SDK does not list as deprecated (tests check this).
    anthropic_model: str = "claude-sonnet-5-5"
    anthropic_max_tokens: int = Field(default=1024, ge=1)
    anthropic_timeout_s: float = Field(default=100.0, gt=0)
    anthropic_stream: bool = True
    # --- document summaries (ingest --summarize; workflows/summarize.py) ---------------
    summary_batch_min: int = Field(
        default=20, ge=1, description="a summarize run of more documents than this uses the Message Batches API"
    )
    summary_poll_s: float = Field(default=30.0, gt=0, description="first wait between two polls of a batch")
    summary_poll_max_s: float = Field(default=300.0, gt=0, description="the wait between polls grows to this")
    summary_max_tokens: int = Field(default=300, ge=16, description="the longest LLM summary")
    summary_input_chars: int = Field(default=24_000, ge=500, description="of each document, the LLM reads this much")
    summary_page_docs: int = Field(default=1000, ge=1, le=10_000, description="documents per page (and per batch)")
    sqs_summarize: bool = Field(default=False, description="the SQS handler's ingests of S3 events summarize")
    llm_prices: str | None = Field(
        default=None,
        description="JSON overriding the list prices (USD per million tokens) of ragstate.answers.pricing, e.g. "
        '{"my-model": {"input": 1.0, "output": 5.0}}',
    )

    # --- logs (ragstate.observability.logs) --------------------------------------------------
    log_format: LogFormat = LogFormat.text
    log_level: str = Field(default="INFO", pattern=r"(?i)^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    metrics_bind: str | None = Field(default=None, description="host:port of a worker's Prometheus /metrics")

    # --- payload encryption (ragstate.security.codec) ------------------------------------
    payload_keys: SecretStr | None = Field(
        default=None,
        description="ID:BASE64KEY[,ID:BASE64KEY...] (32-byte keys): the first encrypts every "
        "payload, all of them decrypt; unset: payloads are plain JSON",
    )
    payload_keys_file: Path | None = Field(default=None, description="the same, from a file (a mounted secret)")

    @field_validator("lambda_roles", mode="before")
    @classmethod
    def _split_roles(cls, value: object) -> object:
        if isinstance(value, str):  # "workflows,llm", or a JSON array as pydantic-settings writes lists
            value = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
        if not isinstance(value, (list, tuple)):
            return value
        roles = tuple(dict.fromkeys(str(r).strip() for r in value if str(r).strip()))
        if not roles or set(roles) - set(LAMBDA_ROLES):
            raise ValueError(
                f"lambda_roles={','.join(roles)!r}: a Lambda worker serves one or both of "
                f"{list(LAMBDA_ROLES)} (the embedding model needs a long-lived worker)"
            )
        return roles

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError("chunk_overlap must be smaller than chunk_tokens")
        if self.default_top_k > self.max_top_k:
            raise ValueError("default_top_k must not exceed max_top_k")
        if self.store_backend is StoreBackend.qdrant and not (self.qdrant_url or self.qdrant_path):
            raise ValueError("store_backend=qdrant needs RAGSTATE_QDRANT_URL (or qdrant_path for local mode)")
        return self

    def anthropic_key(self) -> str | None:
        """The API key from the environment or from ``anthropic_api_key_file``; None means offline mode."""
        if self.anthropic_api_key is not None and self.anthropic_api_key.get_secret_value():
            return self.anthropic_api_key.get_secret_value()
        if self.anthropic_api_key_file is not None:
            key = self.anthropic_api_key_file.read_text(encoding="utf-8").strip()
            return key or None
        return None

    def payload_key_spec(self) -> str | None:
        """``payload_keys`` or the contents of ``payload_keys_file``; None: no encryption."""
        if self.payload_keys is not None and self.payload_keys.get_secret_value().strip():
            return self.payload_keys.get_secret_value()
        if self.payload_keys_file is not None:
            return self.payload_keys_file.read_text(encoding="utf-8").strip() or None
        return None

    @property
    def edge_path(self) -> Path:
        return self.data_dir / "qdrant-edge" / self.collection

    @property
    def llm_cache_path(self) -> Path:
        return self.llm_cache_dir or self.data_dir / "llm-cache"

    @property
    def task_queues(self) -> tuple[str, str, str]:
        return (self.workflow_task_queue, self.embeddings_task_queue, self.llm_task_queue)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
