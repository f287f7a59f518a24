"""A long conversation on the embedded stack: does a session stay flat over 1,000 turns, and what
does a turn cost over a plain ask?

One private stack (bench/_stack.py: a dev server on free ports, one worker subprocess with every
role and the embedded store), examples/corpus ingested, offline mode (no Anthropic key:
extractive answers, so the figures are the orchestration's, not a model's). Two parts:

- **overhead**: ``--compare`` plain ``rag.ask(question)`` calls and as many session turns
  (``chat.ask``) of the same questions, alternating (the order flips every pair, so drift
  and load elsewhere weigh on both alike); p50/p95 of each, client side.
- **long session**: ``--turns`` messages to one session (``chat.send``, each timed client side,
  send to reply); then every run of its continue-as-new chain is described for its history
  size (bytes and events); the largest is the figure that must stay bounded. p50 over turns
  1-20 (around turn 10) and over the last 20 (around turn ``--turns``), and per block of 100.

    python bench/session_turns.py                         # 1,000 turns, 100 per run, 50 + 50 asks
    python bench/session_turns.py --turns 300 --turns-per-run 50 --compare 20
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from itertools import cycle

from _stack import ROOT, LocalStack, machine_header
from query_latency import pct

#: About examples/corpus, follow-ups included (CondenseQuestion rewrites those).
QUESTIONS = [
    "What do the BM25 parameters k1 and b control?",
    "How are they usually tuned?",
    "What does reciprocal rank fusion do?",
    "Why is k set to 60 there?",
    "How does dense retrieval embed a query?",
    "What are its weaknesses compared with keyword search?",
    "How large should a chunk be?",
    "And how much should chunks overlap?",
    "What does Temporal's durable execution guarantee?",
    "What happens to it when a worker crashes?",
]


def ms_since(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def stats_row(name: str, ms: list[float]) -> str:
    return f"| {name} | {len(ms)} | {statistics.median(ms):.1f} | {pct(ms, 95):.1f} |"


async def overhead(rag, n: int, warmup: int) -> list[str]:
    """Plain asks, the same questions with the earlier turns as history (what a session's child
    query does: CondenseQuestion, the context in both branches) and session turns, in rotation;
    the table's lines. The middle row tells the follow-up's retrieval from the session's own cost."""
    from ragstate.models import PriorTurn, RagQuery

    chat = rag.session("bench-overhead")
    plain: list[float] = []
    followed: list[float] = []
    turns: list[float] = []
    prior: list[PriorTurn] = []
    questions = cycle(QUESTIONS)

    async def with_history(q: str) -> None:
        answer = await rag.ask(RagQuery(question=q, history=prior[-8:]))
        prior.append(PriorTurn(question=q, answer=answer.answer[:2000]))

    for i in range(warmup + n):
        q = next(questions)
        calls = [
            (plain, lambda q=q: rag.ask(q)),
            (followed, lambda q=q: with_history(q)),
            (turns, lambda q=q: chat.ask(q)),
        ]
        for out, call in calls[i % 3 :] + calls[: i % 3]:
            t0 = time.perf_counter()
            await call()
            if i >= warmup:
                out.append(ms_since(t0))
    await chat.end()
    return [
        "| call | n | p50 ms | p95 ms |",
        "|---|---|---|---|",
        stats_row("plain `rag.ask(question)`", plain),
        stats_row("`rag.ask(RagQuery(question, history=last turns))`: a follow-up, no session", followed),
        stats_row("session turn `chat.ask(question)`", turns),
        f"| a turn over a plain ask | | {statistics.median(turns) - statistics.median(plain):+.1f} "
        f"| {pct(turns, 95) - pct(plain, 95):+.1f} |",
        f"| a turn over the same follow-up without a session | | "
        f"{statistics.median(turns) - statistics.median(followed):+.1f} | {pct(turns, 95) - pct(followed, 95):+.1f} |",
    ]


async def long_session(rag, turns: int) -> list[float]:
    """One session of ``turns`` messages; each turn's client-side latency in ms."""
    from ragstate.models.session import SessionMessage

    chat = rag.session("bench-long")
    latencies: list[float] = []
    questions = cycle(QUESTIONS)
    t_all = time.perf_counter()
    for i in range(1, turns + 1):
        t0 = time.perf_counter()
        reply = await chat.send(SessionMessage(message_id=f"t{i}", question=next(questions)))
        latencies.append(ms_since(t0))
        if reply.turn != i:
            raise RuntimeError(f"message {i} was answered as turn {reply.turn}")
        if i % 100 == 0:
            print(
                f"  [{time.perf_counter() - t_all:6.0f} s] turn {i}, p50 of the last 100 "
                f"{statistics.median(latencies[-100:]):.1f} ms",
                file=sys.stderr,
                flush=True,
            )
    return latencies


async def chain_histories(client, workflow_id: str) -> list[tuple[str, int, int]]:
    """(run id, history bytes, history events) of every run of the chain, oldest first."""
    runs = [wf async for wf in client.list_workflows(f'WorkflowId = "{workflow_id}"')]
    out = []
    for wf in sorted(runs, key=lambda wf: wf.start_time):
        desc = await client.get_workflow_handle(workflow_id, run_id=wf.run_id).describe()
        info = desc.raw_description.workflow_execution_info
        out.append((wf.run_id, info.history_size_bytes, info.history_length))
    return out


def long_session_lines(latencies: list[float], runs: list[tuple[str, int, int]], per_run: int) -> list[str]:
    lines = [f"runs in the chain: {len(runs)} ({per_run} turns per run)"]
    for i, (run_id, size, events) in enumerate(runs, 1):
        lines.append(f"  run {i:3d} {run_id}  history {size / 1024:8.1f} KiB  {events:6d} events")
    big = max(runs, key=lambda r: r[1])
    lines.append(
        f"largest history of any run: {big[1]:,} bytes ({big[1] / 1024 / 1024:.2f} MiB), "
        f"most events: {max(r[2] for r in runs):,}"
    )
    n = len(latencies)
    for start in range(0, n, 100):
        block = latencies[start : start + 100]
        lines.append(f"  turns {start + 1:5d}-{start + len(block):5d}: p50 {statistics.median(block):7.1f} ms")
    lines.append(f"p50 turn latency, turns 1-20 (around turn 10): {statistics.median(latencies[:20]):.1f} ms")
    lines.append(f"p50 turn latency, turns {n - 19}-{n} (around turn {n}): {statistics.median(latencies[-20:]):.1f} ms")
    return lines


async def main(args) -> None:
    from ragstate.client import RagClient
    from ragstate.settings import Settings
    from ragstate.temporal.conventions import session_workflow_id

    settings = Settings(_env_file=None, anthropic_api_key=None, anthropic_api_key_file=None)
    if args.turns_per_run:
        settings = settings.model_copy(update={"session_turns_per_run": args.turns_per_run})
    print("\n".join(machine_header("session turns: a long conversation and the cost of a turn")))
    with LocalStack(settings, keep=args.keep) as stack:
        client = await stack.connect()
        print(f"worker ready in {await stack.wait_ready(client):.1f} s", flush=True)
        rag = RagClient(client, stack.settings)
        res = await rag.ingest([str(ROOT / "examples" / "corpus")])
        print(f"ingested examples/corpus: {res.documents} documents, {res.chunks} chunks; offline mode")
        table = await overhead(rag, args.compare, args.warmup)
        print(f"\noverhead of a session turn over a plain ask ({args.compare} each, alternating):")
        print("\n".join(table))
        t0 = time.perf_counter()
        latencies = await long_session(rag, args.turns)
        took = time.perf_counter() - t0
        runs = await chain_histories(client, session_workflow_id("bench-long"))
        print(f"\n{args.turns} turns in one session in {took:.0f} s:")
        print("\n".join(long_session_lines(latencies, runs, stack.settings.session_turns_per_run)))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=1000, help="messages in the long session")
    ap.add_argument("--turns-per-run", type=int, default=None, help="continue as new after this many (the setting)")
    ap.add_argument("--compare", type=int, default=50, help="plain asks and session turns each, for the overhead")
    ap.add_argument("--warmup", type=int, default=5, help="untimed pairs before the comparison")
    ap.add_argument("--keep", action="store_true", help="keep the data directory (server database, worker log)")
    asyncio.run(main(ap.parse_args()))
