"""Fairness between tenants: tenant B's question latency while tenant A ingests in bulk, on one
local stack with the embedded defaults (issue 23).

    .venv/bin/python bench/tenant_fairness.py                         # 10,000 documents, both modes
    .venv/bin/python bench/tenant_fairness.py --docs 500 --questions 20 --fairness off

One run per mode (``--fairness on``, ``off`` or ``both``, in that order: the same corpus, the
same questions, the same machine, each on a fresh stack):

- a private Temporal dev server (free ports, temporary SQLite) and one worker subprocess
  (``ragstate.workers.local``, every role: the production shape on one machine, so both
  tenants share the one embedding model and its cores). ``on`` is ragstate as it ships: the
  server's matching honours task priority and fairness keys (``DevServer(fairness=True)``;
  the workflows give questions' steps priority 2 and ingest batches 4, fairness key the
  tenant: ragstate/temporal/priorities.py) and the embedder's encode thread runs questions before
  bulk passes of at most 16 chunks (``EncodeThread``). ``off`` is the same code with both
  undone: the server's default matching (no priority, no fairness) and a FIFO encode thread
  taking a bulk batch of 64 chunks in one pass, as before;
- tenant B (``RagClient.for_tenant("tenant-b")``) ingests examples/corpus into its ``docs``,
  asks a few warm-up questions, then ``--questions`` questions one at a time: the idle figures;
- tenant A starts an ingest of ``--docs`` documents (the first documents of
  ``--corpus``, by default the NPL collection's short abstracts, cycled with new ids past its
  end; synthetic English-like documents when it is absent) into its own ``docs``, and while it
  runs B asks questions one at a time, without pause, until the ingest ends: only questions
  that started and finished during the ingest count;
- printed per mode: B's p50/p95/max end-to-end latency (``ask`` start to answer, ms) idle and
  during A's ingest, how many questions each, and A's ingest throughput (documents and chunks
  per second, from its start to its result).

Questions run in extractive mode (no Anthropic key: no LLM call), so the figure is retrieval,
orchestration and the CPU they share with A's embedding.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import ROOT, LocalStack, SyntheticCorpus, cpu_seconds, machine_header

from ragstate.settings import Settings

TENANT_A, TENANT_B = "tenant-a", "tenant-b"
COLLECTION = "docs"

#: Tenant B's questions, about its own small collection (examples/corpus), asked in turn.
QUESTIONS = [
    "How does BM25 score a document?",
    "What is reciprocal rank fusion?",
    "Why are documents split into chunks?",
    "How large is a chunk and how much do chunks overlap?",
    "What does dense retrieval embed?",
    "Which language model writes the answers?",
    "Where are vectors stored?",
    "What happens when one search branch fails?",
    "What is durable execution in Temporal?",
    "How are the keyword and vector rankings combined?",
    "What does the k constant in reciprocal rank fusion do?",
    "How does a workflow survive a worker crash?",
]


def fifo_encoder() -> None:
    """This process's embedder as before questions went first: one FIFO encode thread, a bulk
    encode in one pass of up to ``embedding_batch_size`` texts (the ``off`` mode's worker)."""
    from ragstate.retrieval import embedding

    submit = embedding.EncodeThread.submit

    def fifo_submit(self, fn, *args, urgent=False):
        return submit(self, fn, *args, urgent=False)

    def whole_batch(self, texts, batch_size=64):
        return self._thread.submit(self._encode, texts, batch_size).result() if texts else []

    embedding.EncodeThread.submit = fifo_submit
    embedding.Embedder.encode = whole_batch


class FairnessStack(LocalStack):
    """The local stack; its worker is ``ragstate.workers.local`` run through this file, with the
    FIFO embedder when fairness is off."""

    def __init__(self, settings: Settings, fairness: bool, keep: bool):
        super().__init__(settings, keep=keep, server_options={"fairness": fairness})
        self.fairness = fairness

    def worker_args(self) -> list[str]:
        return [__file__, "--as-worker", "questions-first" if self.fairness else "fifo", "--roles", self.roles]


def write_corpus(src: Path | None, dst: Path, n_docs: int) -> str:
    """``n_docs`` documents for tenant A at ``dst``: the lines of ``src`` in order, cycled with
    new ids past its end; synthetic documents when ``src`` is missing. Returns a description."""
    if src is None or not src.is_file():
        SyntheticCorpus(seed=29, min_tokens=40, max_tokens=120).write(dst, n_docs)
        return f"synthetic, {n_docs} documents of 40-120 tokens"
    records = [json.loads(line) for line in src.open(encoding="utf-8") if line.strip()]
    with dst.open("w", encoding="utf-8") as f:
        for i, rec in zip(range(n_docs), itertools.cycle(records), strict=False):
            rnd = i // len(records)
            doc = {**rec, "_id": f"{rec['_id']}" if rnd == 0 else f"{rec['_id']}-r{rnd}"}
            f.write(json.dumps(doc) + "\n")
    return f"{src} ({len(records)} documents; first {n_docs}{', cycled' if n_docs > len(records) else ''})"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def summary(ms: list[float]) -> str:
    if not ms:
        return "no questions"
    return f"p50 {statistics.median(ms):7.1f} ms  p95 {pct(ms, 95):7.1f} ms  max {max(ms):7.1f} ms  n={len(ms)}"


async def ask_timed(b, question: str, ids: list[str] | None = None) -> float:
    from ragstate.models import RagQuery

    workflow_id = f"fairness-q-{uuid.uuid4().hex[:12]}"
    t = time.perf_counter()
    await b.ask(RagQuery(question=question, collection=COLLECTION), workflow_id=workflow_id)
    ms = (time.perf_counter() - t) * 1000
    if ids is not None:
        ids.append(workflow_id)
    return ms


async def where_time_went(client, workflow_ids: list[str], e2e_ms: list[float]) -> dict[str, float]:
    """Medians over the questions' histories (ms): workflow tasks waiting in the task queue
    (scheduled -> started: matching, where priority and fairness act), workflow tasks running
    in the worker (their local activities included: CPU, GIL), and the rest of the end-to-end
    time (the start and the result travelling between client and server)."""
    from temporalio.api.enums.v1 import EventType as E

    queued, running, rest = [], [], []
    for workflow_id, ms in zip(workflow_ids, e2e_ms, strict=True):
        scheduled: dict[int, float] = {}
        started: dict[int, float] = {}
        q = r = 0.0
        first = last = None
        async for ev in client.get_workflow_handle(workflow_id).fetch_history_events():
            ts = ev.event_time.seconds + ev.event_time.nanos / 1e9
            first = ts if first is None else first
            last = ts
            if ev.event_type == E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                scheduled[ev.event_id] = ts
            elif ev.event_type == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                a = ev.workflow_task_started_event_attributes
                started[ev.event_id] = ts
                q += ts - scheduled.get(a.scheduled_event_id, ts)
            elif ev.event_type in (
                E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
                E.EVENT_TYPE_WORKFLOW_TASK_FAILED,
                E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
            ):
                a = (
                    ev.workflow_task_completed_event_attributes
                    if ev.event_type == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
                    else ev.workflow_task_failed_event_attributes
                    if ev.event_type == E.EVENT_TYPE_WORKFLOW_TASK_FAILED
                    else ev.workflow_task_timed_out_event_attributes
                )
                r += ts - started.get(a.started_event_id, ts)
        queued.append(q * 1000)
        running.append(r * 1000)
        rest.append(ms - ((last or 0) - (first or 0)) * 1000)
    med = statistics.median
    return {"queued": med(queued), "running": med(running), "rest": med(rest)} if queued else {}


def time_went(d: dict[str, float]) -> str:
    if not d:
        return ""
    return (
        f"workflow tasks queued {d['queued']:.0f} ms, running in the worker {d['running']:.0f} ms, "
        f"the rest (start and result between client and server, timers) {d['rest']:.0f} ms (medians)"
    )


async def run_mode(fairness: bool, args, corpus_a: Path) -> dict:
    from ragstate.client import RagClient
    from ragstate.models import IngestRequest

    settings = Settings()
    with FairnessStack(settings, fairness, args.keep) as stack:
        client = await stack.connect()
        ready_s = await stack.wait_ready(client)
        rag = RagClient(client, stack.settings)
        a, b = rag.for_tenant(TENANT_A), rag.for_tenant(TENANT_B)
        print(
            f"[fairness {'on' if fairness else 'off'}] stack {stack.server.address}, data {stack.data_dir}; "
            f"worker ready in {ready_s:.1f}s",
            flush=True,
        )
        res_b = await b.ingest(IngestRequest(paths=[str(ROOT / "examples" / "corpus")], collection=COLLECTION))
        print(f"  tenant B ingested {res_b.documents} documents, {res_b.chunks} chunks", flush=True)

        questions = itertools.cycle(QUESTIONS)
        for _ in range(args.warmup):
            await ask_timed(b, next(questions))
        idle_ids: list[str] = []
        idle = [await ask_timed(b, next(questions), idle_ids) for _ in range(args.questions)]
        print(f"  B idle:   {summary(idle)}", flush=True)

        cpu0 = cpu_seconds(stack.worker.pid)
        t0 = time.perf_counter()
        handle = await a.start_ingest(
            IngestRequest(paths=[str(corpus_a)], collection=COLLECTION, batch_docs=args.batch_docs)
        )
        result = asyncio.ensure_future(handle.result())
        during: list[float] = []
        during_ids: list[str] = []
        asked = 0
        last_print = time.monotonic()
        while not result.done():
            started = time.perf_counter()
            ids: list[str] = []
            ms = await ask_timed(b, next(questions), ids)
            asked += 1
            if not result.done():  # started and finished while A's ingest ran
                during.append(ms)
                during_ids += ids
            if time.monotonic() - last_print > 15:
                last_print = time.monotonic()
                print(
                    f"  [{started - t0:5.0f}s] {len(during)} questions during A's ingest, "
                    f"last {ms:.0f} ms, p50 so far {statistics.median(during) if during else 0:.0f} ms",
                    file=sys.stderr,
                    flush=True,
                )
            if stack.worker.poll() is not None:
                raise RuntimeError(f"the worker exited with {stack.worker.returncode}:\n{stack.log_tail()}")
        res_a = await result
        wall_a = time.perf_counter() - t0
        worker_cpu = cpu_seconds(stack.worker.pid) - cpu0
        print(f"  B during: {summary(during)}", flush=True)
        print(
            f"  A ingest: {res_a.documents} documents, {res_a.chunks} chunks, {res_a.failed} failed in "
            f"{wall_a:.1f}s: {res_a.documents / wall_a:.1f} docs/s, {res_a.chunks / wall_a:.1f} chunks/s "
            f"(worker CPU {worker_cpu:.0f} s = {worker_cpu / wall_a:.2f} cores)",
            flush=True,
        )
        went = {
            "idle": await where_time_went(client, idle_ids, idle),
            "during": await where_time_went(client, during_ids, during),
        }
        print(f"  B idle, where the time went:   {time_went(went['idle'])}", flush=True)
        print(f"  B during, where the time went: {time_went(went['during'])}", flush=True)
        if len(during) < args.questions:
            print(
                f"  note: only {len(during)} questions fell inside A's ingest (fewer than --questions "
                f"{args.questions}): use more --docs",
                flush=True,
            )
        return {
            "fairness": fairness,
            "idle_ms": idle,
            "during_ms": during,
            "where": went,
            "ingest": {
                "documents": res_a.documents,
                "chunks": res_a.chunks,
                "failed": res_a.failed,
                "wall_s": wall_a,
                "worker_cpu_s": worker_cpu,
            },
        }


def main() -> None:
    if sys.argv[1:2] == ["--as-worker"]:  # the stack's worker subprocess
        from ragstate.workers import local

        if sys.argv[2] == "fifo":
            fifo_encoder()
        local.cli(sys.argv[3:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=10_000, help="documents tenant A ingests (default 10,000)")
    ap.add_argument(
        "--questions", type=int, default=60, help="tenant B's idle questions (and the least expected during)"
    )
    ap.add_argument("--fairness", choices=("on", "off", "both"), default="both")
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "datasets" / "npl" / "corpus.jsonl")
    ap.add_argument("--batch-docs", type=int, default=None, help="tenant A's ingest batch size (default: settings)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed questions before the idle ones")
    ap.add_argument("--keep", action="store_true", help="keep the data directories (logs, store, SQLite)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()

    for line in machine_header("ragstate fairness between tenants: B's questions while A ingests"):
        print(line)
    tmp = Path(tempfile.mkdtemp(prefix="ragstate-bench-fairness-"))
    try:
        corpus_a = tmp / "tenant-a.jsonl"
        print(f"tenant A's corpus: {write_corpus(args.corpus, corpus_a, args.docs)}")
        modes = {"on": [True], "off": [False], "both": [True, False]}[args.fairness]
        runs = [asyncio.run(run_mode(m, args, corpus_a)) for m in modes]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(
        f"{'fairness':<9} {'B idle p50':>10} {'p95':>8} {'B during p50':>13} {'p95':>8} {'n':>5} {'A docs/s':>9} {'A chunks/s':>11}"
    )
    for r in runs:
        i, d, g = r["idle_ms"], r["during_ms"], r["ingest"]
        print(
            f"{'on' if r['fairness'] else 'off':<9} {statistics.median(i):>10.1f} {pct(i, 95):>8.1f} "
            f"{statistics.median(d) if d else float('nan'):>13.1f} {pct(d, 95) if d else float('nan'):>8.1f} "
            f"{len(d):>5} {g['documents'] / g['wall_s']:>9.1f} {g['chunks'] / g['wall_s']:>11.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
