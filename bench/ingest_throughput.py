"""Ingestion throughput: chunks per second through the full ingestion workflow, against raw
``SentenceTransformer.encode`` of the same chunks, in the same run on the same machine.

    .venv/bin/python bench/ingest_throughput.py                       # 5000 synthetic chunks
    .venv/bin/python bench/ingest_throughput.py --chunks 2000 --corpus ../shared/datasets/cisi/corpus.jsonl
    .venv/bin/python bench/ingest_throughput.py --batch-docs 128 --concurrency 2 --rounds 2 --json out.json

What it measures (target: workflow >= 85% of raw):

- corpus: a seeded synthetic BEIR-style corpus.jsonl (English-like text drawn from the
  model's own vocabulary, each document 120-180 tokens, so exactly one chunk with the default
  chunk size), or the first documents of a real ``--corpus`` holding ``--chunks`` chunks.
- raw: the packaged model loaded through ``ragstate.retrieval.embedding.get_embedder`` in this process,
  one warm-up call, then one timed ``SentenceTransformer.encode`` over exactly the texts
  EmbedChunks embeds (documents loaded as IndexChunks loads them, ``chunk_text`` with the
  settings' chunk parameters, ``indexed_text(title, text)``), ``batch_size`` =
  ``settings.embedding_batch_size``, normalised, to numpy. ``--sliced`` also times the same
  texts encoded the way EmbedChunks calls the model (one call per ``embedding_batch_size``
  chunks of each batch), which isolates the cost of the engine's call pattern.
- workflow: a private Temporal dev server (free ports, temporary SQLite) and ONE worker
  subprocess (``python -m ragstate.workers.local``, every role, configured by RAGSTATE_* env: the
  production shape; its model is loaded before timing starts, it is warmed with a small
  ingest into another collection, then the timed ingest goes into a fresh collection). Time
  from ``RagClient.start_ingest`` to the result: discovery, IndexChunks (load, chunk, BM25,
  upsert), EmbedChunks, CommitDocuments and the final OptimizeStore (index build) included.
- threads: both sides use torch's default intra-op threads (all cores) unless
  OMP_NUM_THREADS / MKL_NUM_THREADS are set, which the worker inherits. Raw runs first, then
  the workflow, never both at once (with ``--rounds N`` they alternate).

Besides the table it prints where the workflow's time went, from its history: per activity
type the count, summed execution time, busy time (union of intervals) and queue wait, the
wall time before the first / after the last EmbedChunks, and the CPU seconds the worker and
the Temporal server used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import (
    LocalStack,
    MiB,
    RssSampler,
    SyntheticCorpus,
    await_ingest,
    corpus_prefix,
    cpu_seconds,
    embed_timeline,
    engine_batches,
    format_breakdown,
    history_breakdown,
    machine_header,
    proc_status,
)

from ragstate.settings import Settings


def encode_raw(model, texts: list[str], batch_size: int) -> float:
    t0 = time.perf_counter()
    model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return time.perf_counter() - t0


def encode_sliced(model, batches: list[list[str]], batch_size: int) -> float:
    """As EmbedChunks: per workflow batch, one encode call per ``batch_size`` chunks."""
    t0 = time.perf_counter()
    for batch in batches:
        for i in range(0, len(batch), batch_size):
            model.encode(
                batch[i : i + batch_size],
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            ).tolist()
    return time.perf_counter() - t0


async def run_workflows(stack: LocalStack, corpus: Path, warmup_corpus: Path, args, rounds_raw) -> list[dict]:
    from ragstate.client import RagClient
    from ragstate.models import IngestRequest

    client = await stack.connect()
    ready_s = await stack.wait_ready(client)
    ready_rss = stack_rss(stack)
    print(
        f"worker pid {stack.worker.pid} polling after {ready_s:.1f}s (model loaded); RSS {ready_rss / MiB:.0f} MiB",
        flush=True,
    )
    rag = RagClient(client, stack.settings)
    request = dict(batch_docs=args.batch_docs, concurrency=args.concurrency)
    if not args.no_warmup:
        t0 = time.perf_counter()
        h = await rag.start_ingest(IngestRequest(paths=[str(warmup_corpus)], collection="bench-warmup", **request))
        await await_ingest(rag, h, stack, label="warm-up")
        print(f"warm-up ingest (other collection) took {time.perf_counter() - t0:.1f}s", flush=True)

    runs = []
    for r in range(args.rounds):
        if r and rounds_raw is not None:
            rounds_raw(r)  # alternate: raw again between workflow rounds
        collection = f"bench-{r}"
        cpu_w0, cpu_s0 = cpu_seconds(stack.worker.pid), cpu_seconds(stack.server.process.pid)
        with RssSampler(stack.worker.pid) as rss:
            t0 = time.perf_counter()
            handle = await rag.start_ingest(IngestRequest(paths=[str(corpus)], collection=collection, **request))
            result = await await_ingest(rag, handle, stack, label=f"round {r + 1}")
            wall = time.perf_counter() - t0
        cpu_w, cpu_s = cpu_seconds(stack.worker.pid) - cpu_w0, cpu_seconds(stack.server.process.pid) - cpu_s0
        stats, span = await history_breakdown(client, handle.id, handle.result_run_id)
        runs.append(
            {
                "round": r + 1,
                "wall_s": wall,
                "result": result,
                "stats": stats,
                "span": span,
                "worker_cpu_s": cpu_w,
                "server_cpu_s": cpu_s,
                "worker_peak_rss": rss.peak(),
                "ready_rss": ready_rss,
                "timeline": embed_timeline(stats, span),
            }
        )
    return runs


def stack_rss(stack: LocalStack) -> int:
    return proc_status(stack.worker.pid).get("VmRSS", 0)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--chunks", type=int, default=5000, help="chunks to ingest (0 with --corpus: all of it)")
    ap.add_argument(
        "--corpus", type=Path, help="a real BEIR corpus.jsonl (its first documents holding --chunks chunks)"
    )
    ap.add_argument(
        "--batch-docs", type=int, default=None, help="IngestRequest.batch_docs (default: settings.ingest_batch_docs)"
    )
    ap.add_argument(
        "--concurrency", type=int, default=None, help="IngestRequest.concurrency (default: settings.ingest_concurrency)"
    )
    ap.add_argument(
        "--rounds", type=int, default=1, help="raw/workflow pairs, alternating (each into a fresh collection)"
    )
    ap.add_argument("--sliced", action="store_true", help="also time raw encode called the way EmbedChunks calls it")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--no-warmup", action="store_true", help="skip the small warm-up ingest before timing")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data directory (logs, store, SQLite)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()

    settings = Settings()
    args.batch_docs = args.batch_docs or settings.ingest_batch_docs
    args.concurrency = args.concurrency or settings.ingest_concurrency

    for line in machine_header("ragstate ingestion throughput: workflow vs raw SentenceTransformer.encode"):
        print(line)
    tmp = Path(tempfile.mkdtemp(prefix="ragstate-bench-corpus-"))
    try:
        bench(args, settings, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench(args, settings: Settings, tmp: Path) -> None:
    bs = settings.embedding_batch_size
    corpus = tmp / "corpus.jsonl"
    if args.corpus:
        corpus, n_docs, _ = corpus_prefix(args.corpus, corpus, args.chunks, settings)
        source = f"{args.corpus} (first {n_docs} documents)"
    else:
        SyntheticCorpus(seed=args.seed).write(corpus, args.chunks)
        source = f"synthetic, seed {args.seed}"
    warmup = tmp / "warmup.jsonl"
    SyntheticCorpus(seed=args.seed + 1000).write(warmup, min(2 * args.batch_docs, 256))

    batches = engine_batches(corpus, settings, args.batch_docs)
    texts = [t for b in batches for t in b]
    n = len(texts)

    from ragstate.retrieval.embedding import get_embedder

    t0 = time.perf_counter()
    embedder = get_embedder(settings.embedding_device)
    model = embedder.model
    load_s = time.perf_counter() - t0
    lengths = [len(ids) for ids in model.tokenizer(texts, add_special_tokens=True)["input_ids"]]
    max_len = model.max_seq_length
    print(
        f"corpus: {source}; {sum(1 for _ in corpus.open())} documents -> {n} chunks in {len(batches)} batches "
        f"of {args.batch_docs} documents; model tokens per chunk mean {statistics.mean(lengths):.0f}, "
        f"max {max(lengths)} ({sum(x > max_len for x in lengths)} over max_seq_length {max_len}, truncated)"
    )
    print(
        f"settings: chunk_tokens {settings.chunk_tokens}, overlap {settings.chunk_overlap}, embedding_batch_size "
        f"{bs}, device {embedder.device}, concurrency {args.concurrency}; model loaded in {load_s:.1f}s"
    )

    model.encode(texts[: 2 * bs], batch_size=bs, show_progress_bar=False)  # warm-up
    raw_runs: list[float] = []
    raw_cpus: list[float] = []
    sliced_runs: list[float] = []

    def raw_round(r: int) -> None:
        cpu0 = time.process_time()
        raw_runs.append(encode_raw(model, texts, bs))
        raw_cpus.append(time.process_time() - cpu0)
        print(
            f"raw encode round {r + 1}: {raw_runs[-1]:.1f}s, {n / raw_runs[-1]:.1f} chunks/s, {raw_cpus[-1]:.1f} CPU s",
            flush=True,
        )
        if args.sliced:
            sliced_runs.append(encode_sliced(model, batches, bs))
            print(f"raw encode, EmbedChunks call pattern, round {r + 1}: {sliced_runs[-1]:.1f}s", flush=True)

    raw_round(0)
    raw_hwm = proc_status(os.getpid()).get("VmHWM", 0)

    with LocalStack(settings, keep=args.keep) as stack:
        print(
            f"stack: Temporal dev server {stack.server.address}, data {stack.data_dir}, worker subprocess "
            f"`python -m ragstate.workers.local` (every role)",
            flush=True,
        )
        runs = asyncio.run(run_workflows(stack, corpus, warmup, args, raw_round))
        if args.keep:
            print(f"kept: {stack.data_dir} (worker.log, temporal-server.log, qdrant-edge/)")

    raw_s = statistics.median(raw_runs)
    wf_s = statistics.median(r["wall_s"] for r in runs)
    raw_rate, wf_rate = n / raw_s, n / wf_s
    ratio = wf_rate / raw_rate
    print()
    print(f"{'':<42} {'chunks':>7} {'seconds':>8} {'chunks/s':>9} {'vs raw':>7}")
    print(f"{'raw SentenceTransformer.encode (one call)':<42} {n:>7} {raw_s:>8.1f} {raw_rate:>9.1f} {'100.0%':>7}")
    if sliced_runs:
        sl = statistics.median(sliced_runs)
        print(
            f"{'raw encode, EmbedChunks call pattern':<42} {n:>7} {sl:>8.1f} {n / sl:>9.1f} {100 * raw_s / sl:>6.1f}%"
        )
    for r in runs:
        res = r["result"]
        print(
            f"{'ingest workflow, round ' + str(r['round']):<42} {res.chunks:>7} {r['wall_s']:>8.1f} "
            f"{res.chunks / r['wall_s']:>9.1f} {100 * (res.chunks / r['wall_s']) / raw_rate:>6.1f}%"
        )
    bad = [r for r in runs if r["result"].chunks != n or r["result"].failed]
    if len(raw_runs) > 1:
        best = (n / min(r["wall_s"] for r in runs)) / (n / min(raw_runs))
        print(
            f"(medians over {len(raw_runs)} rounds: raw {raw_s:.1f}s, workflow {wf_s:.1f}s; best of each: raw "
            f"{min(raw_runs):.1f}s, workflow {min(r['wall_s'] for r in runs):.1f}s = {100 * best:.1f}%)"
        )
    print(
        f"workflow / raw = {100 * ratio:.1f}%  (target >= 85%: {'MET' if ratio >= 0.85 else 'NOT MET'})"
        + (
            f"  WARNING: chunk counts differ or failures: {[(r['result'].chunks, r['result'].failed) for r in bad]}"
            if bad
            else ""
        )
    )

    last = runs[-1]
    print(
        f"\nwhere the workflow's {last['wall_s']:.1f}s went (round {last['round']}, from its history; "
        f"{last['span']['events']} events in {last['span']['runs']} run(s)):"
    )
    for row in format_breakdown(last["stats"], last["wall_s"]):
        print("  " + row)
    tl = last["timeline"]
    if tl:
        print(
            f"  model timeline: {tl['before_first_embed_s']:.2f}s before the first EmbedChunks, "
            f"{tl['embed_busy_s']:.2f}s with >= 1 EmbedChunks running, {tl['embed_idle_gaps_s']:.2f}s of gaps "
            f"between them, {tl['after_last_embed_s']:.2f}s after the last one "
            f"(raw encode of the same chunks: {raw_s:.2f}s)"
        )
    wf_cpu = last["worker_cpu_s"] + last["server_cpu_s"]
    raw_cpu = statistics.median(raw_cpus)
    print(
        f"  CPU seconds (robust to other jobs on the machine): raw encode {raw_cpu:.1f} in {raw_s:.1f}s wall "
        f"= {1000 * raw_cpu / n:.1f} ms/chunk; timed ingest: worker {last['worker_cpu_s']:.1f} + Temporal server "
        f"{last['server_cpu_s']:.1f} in {last['wall_s']:.1f}s wall = {1000 * wf_cpu / n:.1f} ms/chunk "
        f"(raw/workflow CPU per chunk = {100 * raw_cpu / wf_cpu:.1f}%)"
    )
    print(
        f"  memory: worker peak RSS during the ingest {last['worker_peak_rss'] / MiB:.0f} MiB "
        f"(after model load {runs[0]['ready_rss'] / MiB:.0f} MiB); this process (raw) VmHWM {raw_hwm / MiB:.0f} MiB"
    )

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "cpu_count": os.cpu_count(),
                    "chunks": n,
                    "source": source,
                    "batch_docs": args.batch_docs,
                    "concurrency": args.concurrency,
                    "embedding_batch_size": bs,
                    "raw_s": raw_runs,
                    "sliced_s": sliced_runs,
                    "workflow_s": [r["wall_s"] for r in runs],
                    "raw_chunks_per_s": raw_rate,
                    "workflow_chunks_per_s": wf_rate,
                    "ratio": ratio,
                    "raw_cpu_s": raw_cpu,
                    "worker_cpu_s": last["worker_cpu_s"],
                    "server_cpu_s": last["server_cpu_s"],
                    "timeline": tl,
                    "activities": {
                        k: {"count": v.count, "exec_s": v.exec_s, "busy_s": v.busy_s(), "wait_s": v.wait_s}
                        for k, v in last["stats"].items()
                    },
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
