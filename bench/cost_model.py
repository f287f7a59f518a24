"""What 1k queries and an ingest of 10k documents cost on AWS Lambda, Google Cloud Run and one
always-on container: the step times measured in docs/performance.md times the providers' list
prices. Prints the tables of docs/cost.md, each with its arithmetic, so a reader can redo them
with their own figures (every input is a named constant below, with where it came from).

    python bench/cost_model.py
    python bench/cost_model.py --queries 50000 --input-tokens 2500 --output-tokens 400 --llm-seconds 4

Two figures per platform: the *marginal* cost of the workload (what the work itself bills, on
capacity that is busy while it runs) and the *floor* (what the always-on parts cost a month
whatever the traffic). Free tiers, taxes, data transfer, load balancers, NAT and the Qdrant
server that the serverless shapes need are left out (see docs/cost.md).
"""

from __future__ import annotations

import argparse
import math

from ragstate.answers.pricing import DEFAULT_PRICES, PRICES_TAKEN
from ragstate.settings import Settings

# --- measured (docs/performance.md; 2 cores, x86, dev server + worker on the same machine) ----
QUERY_P50_S = 0.048  # query workflow end to end, 10k chunks, offline ("Query workflow latency")
QUERY_RATE_2CORES = 28.6  # queries/s, 16 clients, one all-roles worker ("Query throughput")
QUERY_CPU_SERVER_S = 0.0209  # Temporal dev server CPU per query (same run)
QUERY_CPU_WORKER_S = 0.0330  # worker CPU per query (same run)
VECTOR_SEARCH_S = 0.0203  # VectorSearch step p50: the question's forward pass on the CPU
INGEST_RATE_2CORES = 37.9  # chunks/s through the ingest workflow ("Ingestion throughput")
ENCODE_CPU_PER_CHUNK_S = 0.0452  # raw SentenceTransformer.encode CPU per chunk (same section)
INGEST_CPU_PER_CHUNK_S = 0.0500  # worker + server CPU per chunk through the workflow
# Derived: what a light worker (no model) and the server spend, the rest being the model's.
QUERY_CPU_LIGHT_S = QUERY_CPU_WORKER_S - VECTOR_SEARCH_S  # 12.7 ms: parse, BM25, merge, tasks
INGEST_CPU_LIGHT_PER_CHUNK_S = INGEST_CPU_PER_CHUNK_S - ENCODE_CPU_PER_CHUNK_S  # 4.8 ms

# --- assumed (not measurable here: no API key, no network) ----------------------------------
LLM_SECONDS = 6.0  # one Synthesize call, first token to last (~300 tokens streamed)
PREFIX_TOKENS = 1750  # system prompt + 8 packed CISI chunks as search results (docs/cost.md)
QUESTION_TOKENS = 50  # "Question: ..." after the cache breakpoint
OUTPUT_TOKENS = 300  # a cited answer of a paragraph or two (max: anthropic_max_tokens)
CHUNKS_PER_DOC = 1.0  # the synthetic bench documents; CISI has 1,727 chunks for 1,460 docs
HISTORY_KB_PER_QUERY = 30  # tests/histories/query-local-steps.json is 28 KB
HISTORY_KB_PER_DOC = 0.4  # an ingest batch's inputs and results carry its documents' ids
RETENTION_DAYS = 30  # Temporal Cloud namespace retention

# --- list prices, USD (read 2026-12-02; see docs/cost.md for each URL) -------------------------
LAMBDA_GB_S = {"x86": 0.0000166667, "arm": 0.0000133334}  # first 6 / 7.5 billion GB-s a month
LAMBDA_PER_REQUEST = 0.20 / 1e6
RUN_REQUEST_BASED = {"vcpu_s": 0.000024, "gib_s": 0.0000025, "request": 0.40 / 1e6}  # Tier 1
RUN_INSTANCE_BASED = {"vcpu_s": 0.000018, "gib_s": 0.0000020, "request": 0.0}  # Tier 1, pools
FARGATE = {"x86": (0.04048, 0.004445), "arm": (0.03238, 0.00356)}  # per vCPU-hour, per GB-hour
TEMPORAL_PER_ACTION = 50.0 / 1e6  # first 5M actions a month (Developer plan: every volume)
TEMPORAL_PLAN_SHARE = 0.10  # Developer plan: no base fee, 10 % of usage (Business: >= $500/mo)
TEMPORAL_RETAINED_GBH = 0.00105
CACHE_WRITE, CACHE_READ = 1.25, 0.10  # x the input price (5-minute cache)
HOURS_A_MONTH = 730

# --- platform shapes (this repo's deploy manifests) -------------------------------------------
LAMBDA_MEMORY_GB = 1.0  # deploy/aws/template.yaml WorkerMemory 1024
LAMBDA_TIMEOUT_S = 600  # WorkerTimeout; an invocation polls until its deadline (deploy-aws.md)
LAMBDA_GRACE_S = 75  # WorkerShutdownGrace (>= AnthropicTimeout 60)
LAMBDA_MIN_TIMEOUT_S = LAMBDA_GRACE_S + 2 + max(2 * LAMBDA_GRACE_S, 60)  # the timing rule: 227
LAMBDA_BATCH_DOCS = 16  # IngestBatchDocs in the template
EMBED_TASK = (2, 4)  # Fargate vCPU, GB: the long-lived embedding worker beside Lambda
RUN_LIGHT = (1, 1.0)  # deploy/cloudrun/worker-pool.yaml: vCPU, GiB
RUN_EMBED = (4, 4.0)  # deploy/cloudrun/worker-pool-embeddings.yaml
RUN_GATEWAY = (1, 0.5)  # deploy/cloudrun/gateway-service.yaml (request-based, minScale 0)
CONTAINER = (2, 8)  # one Fargate task running everything (ragstate up: dev server, edge store)

_S = Settings.model_fields  # defaults, not this shell's environment
BATCH_DOCS = _S["ingest_batch_docs"].default
MODEL = _S["anthropic_model"].default
MAX_TOKENS = _S["anthropic_max_tokens"].default
BUDGET = _S["context_token_budget"].default


def fargate_hour(shape: tuple[float, float], arch: str = "x86") -> float:
    vcpu, gb = FARGATE[arch]
    return shape[0] * vcpu + shape[1] * gb


def run_second(shape: tuple[float, float], rates: dict[str, float]) -> float:
    return shape[0] * rates["vcpu_s"] + shape[1] * rates["gib_s"]


def heartbeats(seconds: float, every: float = 2.0, timeout: float = 10.0) -> int:
    """Heartbeats that reach the server: the first after ``every``, then one per 80 % of the
    heartbeat timeout (the SDK's throttle); only those are Temporal Cloud actions."""
    return 0 if seconds < every else 1 + int((seconds - every) // (0.8 * timeout))


def query_actions(llm: bool, split: bool, llm_seconds: float = LLM_SECONDS) -> dict[str, int]:
    """Temporal Cloud actions of one query, from workflows/query.py: the local activities of one
    workflow task count as one action; RagKind set at start and TemporalChangeVersion are free."""
    a = {"workflow started": 1, "RagStatus upsert": 1}
    if split:  # VectorSearch on the embedding queue: Parse+Keyword in task 1, Merge(+offline answer) in 2
        a["VectorSearch activity"] = 1
        a["local-activity workflow tasks"] = 2
    else:  # one worker holds every role: all local steps in one workflow task
        a["local-activity workflow tasks"] = 1
    if llm:  # Synthesize is always a regular activity on the LLM queue
        a["Synthesize activity"] = 1
        a["Synthesize heartbeats"] = heartbeats(llm_seconds)
    return a


def ingest_actions(documents: int, batch_docs: int, embed_seconds: float) -> dict[str, int]:
    """From workflows/ingest.py: per batch IndexChunks, EmbedChunks, CommitDocuments (+ their
    heartbeats); discovery pages of 50 batches; continue-as-new every 200 batches."""
    batches = math.ceil(documents / batch_docs)
    runs = math.ceil(batches / 200)
    return {
        "workflow started (incl. continue-as-new)": runs,
        "DiscoverDocuments pages": math.ceil(batches / 50),
        "batch activities (3 per batch)": 3 * batches,
        "EmbedChunks heartbeats": batches * heartbeats(embed_seconds),
        "OptimizeStore + stats": 1,
        "RagStatus upserts": 2,
    }


def temporal_cloud(actions: int, history_gb: float) -> tuple[float, str]:
    usd_actions = actions * TEMPORAL_PER_ACTION * (1 + TEMPORAL_PLAN_SHARE)
    usd_storage = history_gb * RETENTION_DAYS * 24 * TEMPORAL_RETAINED_GBH
    how = (
        f"{actions:,} actions x $50/M x 1.1 = ${usd_actions:.4f}; "
        f"{history_gb * 1e3:.1f} MB x {RETENTION_DAYS * 24} h x $0.00105/GBh = ${usd_storage:.4f}"
    )
    return usd_actions + usd_storage, how


def llm_answer_usd(model: str, prefix: int, question: int, output: int) -> float:
    """One answer with a fresh question: system + sources written to the prompt cache (1.25x),
    the question at the input price, the answer at the output price."""
    p = DEFAULT_PRICES[model]
    return (prefix * CACHE_WRITE * p["input"] + question * p["input"] + output * p["output"]) / 1e6


def usd_rate(x: float) -> str:
    return f"${x:.10f}".rstrip("0")


class Workload:
    """One workload's lines (platform, part, USD, arithmetic) and each platform's total."""

    def __init__(self, title: str):
        self.title = title
        self.lines: list[tuple[str, str, float, str]] = []
        self.totals: dict[str, float] = {}
        self.actions: object = None  # the Temporal Cloud action counts behind the figures

    def add(self, platforms: tuple[str, ...], part: str, usd: float, how: str) -> None:
        self.lines.append((_label(platforms), part, usd, how))
        for name in platforms:
            self.totals[name] = self.totals.get(name, 0.0) + usd

    def print(self) -> None:
        print(f"\n### {self.title}\n\n| platform | part | USD | arithmetic |\n|---|---|---|---|")
        for platform, part, usd, how in self.lines:
            print(f"| {platform} | {part} | {usd:.4f} | {how} |")


CONT, LX, LA, LXS, LAS, RUN = (
    "container",
    "Lambda x86",
    "Lambda arm",
    "Lambda x86 sparse",
    "Lambda arm sparse",
    "Cloud Run",
)
ALL = (CONT, LX, LA, LXS, LAS, RUN)
SPLIT = (LX, LA, LXS, LAS, RUN)


def _label(platforms: tuple[str, ...]) -> str:
    """A short name for the platforms a line applies to."""
    shown = {ALL: "every platform", SPLIT: "Lambda (all), Cloud Run", (LX, LA, LXS, LAS): "Lambda (all)"}
    return shown.get(platforms, " / ".join(platforms))


def lambda_light(w: Workload, invocations: int, sparse_invocations: int | None, part: str) -> None:
    """The light worker's invocations: each polls until its deadline, and Lambda bills that."""
    for arch, burst_name, sparse_name in (("x86", LX, LXS), ("arm", LA, LAS)):
        rate = LAMBDA_GB_S[arch]
        usd = invocations * (LAMBDA_TIMEOUT_S * LAMBDA_MEMORY_GB * rate + LAMBDA_PER_REQUEST)
        names = (burst_name,) if sparse_invocations is not None else (burst_name, sparse_name)
        how = f"{invocations:,} inv x {LAMBDA_TIMEOUT_S} s x {LAMBDA_MEMORY_GB:g} GB x {usd_rate(rate)}/GB-s"
        w.add(names, part + (", burst" if sparse_invocations is not None else ""), usd, how)
        if sparse_invocations is not None:
            t = LAMBDA_MIN_TIMEOUT_S
            usd = sparse_invocations * (t * LAMBDA_MEMORY_GB * rate + LAMBDA_PER_REQUEST)
            how = f"{sparse_invocations:,} inv x {t} s (the shortest timeout allowed) x {LAMBDA_MEMORY_GB:g} GB x {usd_rate(rate)}/GB-s"
            w.add((sparse_name,), part + ", one invocation per query", usd, how)


def queries(q: int, llm: bool, answer: float, llm_seconds: float) -> Workload:
    w = Workload(f"{q:,} queries, " + ("with the LLM" if llm else "offline (extractive answers)"))
    cont_h, embed_h = fargate_hour(CONTAINER), fargate_hour(EMBED_TASK)
    wall = q / QUERY_RATE_2CORES
    w.add(
        (CONT,),
        "compute, Temporal and store inside",
        wall / 3600 * cont_h,
        f"{q:,} / {QUERY_RATE_2CORES} q/s = {wall:.0f} s x ${cont_h:.5f}/h",
    )
    embed_busy = q * VECTOR_SEARCH_S / EMBED_TASK[0]
    busy = embed_busy + (q * llm_seconds / _S["llm_max_concurrent"].default if llm else 0.0)
    lambda_light(w, max(1, math.ceil(busy / (LAMBDA_TIMEOUT_S - LAMBDA_GRACE_S - 2))), q, "light worker")
    w.add(
        (LX, LA, LXS, LAS),
        "embedding task (Fargate)",
        embed_busy / 3600 * embed_h,
        f"{q:,} x {VECTOR_SEARCH_S * 1e3:.1f} ms / {EMBED_TASK[0]} vCPU x ${embed_h:.5f}/h",
    )
    light_s, embed_s = run_second(RUN_LIGHT, RUN_INSTANCE_BASED), run_second(RUN_EMBED, RUN_INSTANCE_BASED)
    w.add(
        (RUN,),
        "light pool (instance-based)",
        q * QUERY_CPU_LIGHT_S / RUN_LIGHT[0] * light_s,
        f"{q:,} x {QUERY_CPU_LIGHT_S * 1e3:.1f} ms x {usd_rate(light_s)}/s (1 vCPU, 1 GiB)",
    )
    w.add(
        (RUN,),
        "embedding pool (instance-based)",
        q * VECTOR_SEARCH_S / RUN_EMBED[0] * embed_s,
        f"{q:,} x {VECTOR_SEARCH_S * 1e3:.1f} ms / 4 vCPU x {usd_rate(embed_s)}/s (4 vCPU, 4 GiB)",
    )
    gw_s, active = run_second(RUN_GATEWAY, RUN_REQUEST_BASED), QUERY_P50_S + (llm_seconds if llm else 0.0)
    w.add(
        (RUN,),
        "gateway (request-based)",
        q * (active * gw_s + RUN_REQUEST_BASED["request"]),
        f"{q:,} x ({active:.3f} s x {usd_rate(gw_s)}/s + $0.40/M), one request at a time",
    )
    acts = query_actions(llm, True, llm_seconds)
    usd, how = temporal_cloud(sum(acts.values()) * q, q * HISTORY_KB_PER_QUERY / 1e6)
    w.add(SPLIT, f"Temporal Cloud, {sum(acts.values())} actions/query", usd, how)
    one = query_actions(llm, False, llm_seconds)
    usd, how = temporal_cloud(sum(one.values()) * q, q * HISTORY_KB_PER_QUERY / 1e6)
    w.lines.append(("(container on Temporal Cloud instead)", f"{sum(one.values())} actions/query", usd, how))
    w.add(
        ALL,
        "LLM tokens",
        answer * q if llm else 0.0,
        f"{q:,} x ${answer:.5f}" if llm else "0: Cost(reason='offline extractive mode: no LLM call ...')",
    )
    w.actions = (acts, one)
    return w


def ingest(docs: int) -> Workload:
    w = Workload(f"Ingest of {docs:,} documents ({docs * CHUNKS_PER_DOC:,.0f} chunks)")
    chunks = docs * CHUNKS_PER_DOC
    cont_h, embed_h = fargate_hour(CONTAINER), fargate_hour(EMBED_TASK)
    wall = chunks / INGEST_RATE_2CORES
    w.add(
        (CONT,),
        "compute, Temporal and store inside",
        wall / 3600 * cont_h,
        f"{chunks:,.0f} chunks / {INGEST_RATE_2CORES}/s = {wall:.0f} s x ${cont_h:.5f}/h",
    )
    embed_wall = chunks * ENCODE_CPU_PER_CHUNK_S / EMBED_TASK[0]
    lambda_light(w, max(1, math.ceil(embed_wall / (LAMBDA_TIMEOUT_S - LAMBDA_GRACE_S - 2))), None, "light activities")
    w.add(
        (LX, LA, LXS, LAS),
        "embedding task (Fargate)",
        embed_wall / 3600 * embed_h,
        f"{chunks:,.0f} x {ENCODE_CPU_PER_CHUNK_S * 1e3:.1f} ms / {EMBED_TASK[0]} vCPU = {embed_wall:.0f} s x ${embed_h:.5f}/h",
    )
    light_s, embed_s = run_second(RUN_LIGHT, RUN_INSTANCE_BASED), run_second(RUN_EMBED, RUN_INSTANCE_BASED)
    w.add(
        (RUN,),
        "embedding pool",
        chunks * ENCODE_CPU_PER_CHUNK_S / RUN_EMBED[0] * embed_s,
        f"{chunks:,.0f} x {ENCODE_CPU_PER_CHUNK_S * 1e3:.1f} ms / 4 vCPU x {usd_rate(embed_s)}/s",
    )
    w.add(
        (RUN,),
        "light pool",
        chunks * INGEST_CPU_LIGHT_PER_CHUNK_S * light_s,
        f"{chunks:,.0f} x {INGEST_CPU_LIGHT_PER_CHUNK_S * 1e3:.1f} ms x {usd_rate(light_s)}/s",
    )
    # EmbedChunks of a batch waits its turn on the one encode thread behind the other batches in flight.
    concurrency = _S["ingest_concurrency"].default
    counts: dict[int, dict[str, int]] = {}
    w.actions = counts
    for names, batch in (((RUN,), BATCH_DOCS), ((LX, LA, LXS, LAS), LAMBDA_BATCH_DOCS)):
        seconds = batch * CHUNKS_PER_DOC * ENCODE_CPU_PER_CHUNK_S / EMBED_TASK[0] * concurrency
        acts = ingest_actions(docs, batch, seconds)
        usd, how = temporal_cloud(sum(acts.values()), docs * HISTORY_KB_PER_DOC / 1e6)
        w.add(names, f"Temporal Cloud, {batch}-document batches", usd, how)
        counts[batch] = acts
    w.add(ALL, "LLM tokens", 0.0, "ingest makes no LLM call")
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--documents", type=int, default=10_000)
    ap.add_argument("--input-tokens", type=int, default=PREFIX_TOKENS + QUESTION_TOKENS, help="per answer, all of it")
    ap.add_argument("--output-tokens", type=int, default=OUTPUT_TOKENS)
    ap.add_argument("--llm-seconds", type=float, default=LLM_SECONDS, help="one Synthesize call")
    ap.add_argument("--model", default=MODEL, choices=sorted(DEFAULT_PRICES))
    args = ap.parse_args()
    q, prefix = args.queries, max(args.input_tokens - QUESTION_TOKENS, 0)
    print(f"{q:,} queries, {args.documents:,} documents; {args.model}; LLM prices of {PRICES_TAKEN}")

    print(
        f"\n### LLM tokens per answer (offline mode: $0)\n\n| model | typical answer | x {q:,} | budget-full answer | typical, per MTok |\n|---|---|---|---|---|"
    )
    full_prefix = round(BUDGET * 1.42) + 300  # the whole 3,000-token budget, 1.42 Claude tokens each
    for model, pm in DEFAULT_PRICES.items():
        typ = llm_answer_usd(model, prefix, QUESTION_TOKENS, args.output_tokens)
        full = llm_answer_usd(model, full_prefix, QUESTION_TOKENS, MAX_TOKENS)
        how = f"({prefix} x 1.25 + {QUESTION_TOKENS}) x ${pm['input']:g} + {args.output_tokens} x ${pm['output']:g}"
        print(f"| {model} | ${typ:.5f} | ${typ * q:.2f} | ${full:.5f} | {how} |")

    answer = llm_answer_usd(args.model, prefix, QUESTION_TOKENS, args.output_tokens)
    workloads = [queries(q, False, answer, args.llm_seconds), queries(q, True, answer, args.llm_seconds)]
    workloads.append(ingest(args.documents))
    for w in workloads:
        w.print()
        print(f"\nActions: {w.actions}")

    month_s = HOURS_A_MONTH * 3600
    floors = {
        CONT: fargate_hour(CONTAINER) * HOURS_A_MONTH,
        LX: fargate_hour(EMBED_TASK) * HOURS_A_MONTH,
        RUN: (run_second(RUN_LIGHT, RUN_INSTANCE_BASED) + run_second(RUN_EMBED, RUN_INSTANCE_BASED)) * month_s,
    }
    floors[LA] = floors[LXS] = floors[LAS] = floors[LX]
    print("\n### Totals (marginal cost of the workload) and the always-on floor\n")
    print("| platform | " + " | ".join(w.title for w in workloads) + " | floor, USD/month |")
    print("|---|" + "---|" * (len(workloads) + 1))
    for name in ALL:
        cells = " | ".join(f"{w.totals.get(name, 0.0):.4f}" for w in workloads)
        print(f"| {name} | {cells} | {floors[name]:.2f} |")
    print(
        f"\nFloors: container = Fargate {CONTAINER[0]} vCPU/{CONTAINER[1]} GB x86 x 730 h; Lambda = the embedding "
        f"task, Fargate {EMBED_TASK[0]} vCPU/{EMBED_TASK[1]} GB x 730 h; Cloud Run = one light and one embedding "
        "pool instance for the month (instance-based); gateway at minScale 0 and Temporal Cloud's Developer "
        "plan add nothing (Business: $500/month minimum). Not in any figure: Qdrant server, free tiers, network."
    )


if __name__ == "__main__":
    main()
