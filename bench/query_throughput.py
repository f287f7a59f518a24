"""Query throughput: concurrent clients asking for a fixed time (offline extractive mode,
synthetic corpus), beside the five-no-op-activity workflow's throughput in the same run on the
same dev server.

The RAG worker (``python -m ragstate.workers.local``) and the floor worker each run in their own
process, as in production: the load generator here only starts workflows and waits for results
(in one process with the workers, the GIL made the client the bottleneck).

It also prints where the cores went: CPU milliseconds per completed workflow in the Temporal
server, the worker that ran it and this load generator (the other worker is idle meanwhile).

Both workers run workflows under the same sandbox choice: by default the workers' own (the
workflow sandbox, ragstate's shared modules passed through; each run imports the workflow
modules afresh), with ``--sandbox off`` none. ``--sandbox both`` measures what the sandbox
costs: ABBA blocks of ``--seconds`` each with it on and off, both workers restarted between,
the floor and the query load in every block.

With ``--telemetry both`` the query load runs with tracing and metrics off and on (ABBA blocks
of ``--seconds`` each; the worker is restarted with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at
a local OTLP sink and ``RAGSTATE_METRICS_BIND`` set), and it reports throughput and the p50
latency under load of both.

    python bench/query_throughput.py --seconds 30 --clients 16 --chunks 10000
    python bench/query_throughput.py --seconds 15 --chunks 2000 --telemetry both
    python bench/query_throughput.py --seconds 10 --chunks 2000 --sandbox both
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from _floors import FloorFiveNoop, noop
from _stack import LocalStack, cpu_seconds
from _telemetry import BLOCKS, OtlpSink, overhead_rows, telemetry_env
from query_latency import choose_sandbox, synthetic_corpus, workflow_runner

#: The sandbox's blocks, as telemetry's: one mode, or ABBA.
SANDBOX_BLOCKS = {"on": ["on"], "off": ["off"], "both": ["on", "off", "off", "on"]}


class CpuMeter:
    """CPU seconds used by named processes between ``start()`` and ``stop()``."""

    def __init__(self, **pids: int):
        self.pids = pids

    def start(self) -> None:
        self.t0 = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) - self.t0[name] for name, pid in self.pids.items()}


def per_workflow(cpu: dict[str, float], done: int) -> str:
    total = sum(cpu.values())
    return (
        "  ".join(f"{name} {1000 * s / max(done, 1):5.1f}" for name, s in cpu.items())
        + f"  total {1000 * total / max(done, 1):5.1f} ms CPU/workflow"
    )


async def drive(seconds: float, clients: int, call) -> tuple[int, int, list[str], list[float]]:
    """``clients`` loops calling ``call`` until ``seconds`` pass: completed calls, errors, a few
    error samples, and each completed call's latency in ms."""
    done = errors = 0
    samples: list[str] = []
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client_loop(i: int) -> None:
        nonlocal done, errors
        n = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await call(i, n)
                done += 1
                latencies.append((time.perf_counter() - started) * 1000)
            except Exception as e:
                errors += 1
                if len(samples) < 3:
                    samples.append(repr(e)[:200])
            n += 1

    await asyncio.gather(*(client_loop(i) for i in range(clients)))
    return done, errors, samples, latencies


async def floor_worker(address: str, sandbox: str) -> None:
    """The five-no-op workflow's worker, run in its own process by ``main``, its workflows run
    as the RAG worker runs them (``sandbox``: on or off)."""
    from temporalio.client import Client
    from temporalio.worker import Worker

    client = await Client.connect(address)
    runner = workflow_runner(sandbox == "on")
    async with Worker(
        client, task_queue="bench-floor", workflows=[FloorFiveNoop], activities=[noop], workflow_runner=runner
    ):
        await asyncio.Event().wait()


def rag_worker(sandbox: str) -> None:
    """``python -m ragstate.workers.local`` (every role), its workflows in the sandbox or not."""
    from ragstate.workers import local

    choose_sandbox(sandbox == "on")
    local.cli(["--roles", "workflows,embeddings,llm"])


class SandboxStack(LocalStack):
    """The local stack whose worker runs workflows with the sandbox ``on`` or ``off`` (set
    ``sandbox`` before ``restart_worker``)."""

    def __init__(self, settings, block: tuple[str, str], sink: OtlpSink):
        super().__init__(settings, worker_env=worker_env(block[0], sink))
        self.sandbox = block[1]

    def worker_args(self) -> list[str]:
        return [str(Path(__file__).resolve()), "--rag-worker", self.sandbox]


def start_floor_worker(address: str, sandbox: str):
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--floor-worker", address, "--sandbox", sandbox],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def plan_blocks(telemetry: str, sandbox: str) -> list[tuple[str, str]]:
    """The blocks of query load, each a (telemetry, sandbox) pair: ABBA over whichever is both."""
    if telemetry == "both" and sandbox == "both":
        raise SystemExit("compare one thing at a time: --telemetry both or --sandbox both")
    if sandbox == "both":
        return [(telemetry, mode) for mode in SANDBOX_BLOCKS[sandbox]]
    return [(mode, sandbox) for mode in BLOCKS[telemetry]]


async def main(args) -> None:
    import temporalio
    from temporalio.client import Client

    from ragstate.client import RagClient
    from ragstate.models import IngestRequest, RagQuery
    from ragstate.observability.telemetry import shutdown_tracing
    from ragstate.settings import Settings
    from ragstate.temporal.connection import connect

    blocks = plan_blocks(args.telemetry, args.sandbox)
    compared = 1 if args.sandbox == "both" else 0  # which half of a block names its results
    print(
        f"cores: {os.cpu_count()}  temporalio {temporalio.__version__}  clients: {args.clients}  "
        f"duration: {args.seconds:.0f} s each; workers in their own processes; telemetry: {args.telemetry}; "
        f"workflow sandbox: {args.sandbox}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="ragstate-bench-"))
    corpus = synthetic_corpus(tmp / "corpus.jsonl", args.chunks)
    results: dict[str, dict] = {}
    floors: dict[str, dict] = {}
    with OtlpSink() as sink, SandboxStack(Settings(_env_file=None), blocks[0], sink) as stack:
        clients = {"off": await stack.connect()}
        await stack.wait_ready(clients["off"])
        if any(t == "on" for t, _ in blocks):
            env = telemetry_env(sink, "ragstate-bench")
            # The load generator's client traces too, as a gateway's would.
            os.environ.update({k: v for k, v in env.items() if k.startswith("OTEL_")})
            clients["on"] = await connect(
                stack.settings.model_copy(update={"metrics_bind": env["RAGSTATE_METRICS_BIND"]})
            )
        address = stack.settings.temporal_address
        floor = start_floor_worker(address, blocks[0][1])
        try:
            res = await RagClient(clients["off"], stack.settings).ingest(IngestRequest(paths=[str(corpus)]))
            print(f"ingested {res.chunks} chunks")
            rng = random.Random(9)
            texts = [json.loads(line)["text"].split() for line in corpus.read_text().splitlines()]
            plain = await Client.connect(address)

            async def five(i: int, n: int) -> None:
                await plain.execute_workflow(
                    FloorFiveNoop.run, False, id=f"bench-{uuid.uuid4().hex}", task_queue="bench-floor"
                )

            running = blocks[0]
            for i, block in enumerate(blocks):
                telemetry, sandbox = block
                if block != running:
                    stack.sandbox = sandbox
                    stack.restart_worker(worker_env(telemetry, sink))
                    if sandbox != running[1]:
                        floor.terminate()
                        floor.wait(timeout=30)
                        floor = start_floor_worker(address, sandbox)
                    await stack.wait_ready(clients["off"])
                    running = block
                # The floor in every block of a sandbox comparison, else once.
                if args.sandbox == "both" or i == 0:
                    await drive(3, args.clients, five)  # warm up
                    meter = CpuMeter(server=stack.server.process.pid, worker=floor.pid, loadgen=os.getpid())
                    meter.start()
                    done, err, samples, _ = await drive(args.seconds, args.clients, five)
                    add_block(floors.setdefault(sandbox, new_block()), done, err, samples, [], meter.stop())
                rag = RagClient(clients[telemetry], stack.settings)

                async def ask(i: int, n: int, rag: RagClient = rag) -> None:
                    answer = await rag.ask(RagQuery(question=" ".join(rng.choice(texts)[:8])))
                    if not answer.citations:
                        raise RuntimeError("answer without citations")

                await drive(3, args.clients, ask)  # warm up
                meter = CpuMeter(server=stack.server.process.pid, worker=stack.worker.pid, loadgen=os.getpid())
                meter.start()
                done, err, samples, latencies = await drive(args.seconds, args.clients, ask)
                add_block(results.setdefault(block[compared], new_block()), done, err, samples, latencies, meter.stop())
        finally:
            floor.terminate()
            floor.wait(timeout=30)
            shutdown_tracing()  # the last spans reach the sink before it closes
    report(args, results, floors, sink)


def new_block() -> dict:
    return {"done": 0, "errors": 0, "samples": [], "ms": [], "cpu": {}, "blocks": 0}


def add_block(r: dict, done: int, errors: int, samples: list[str], ms: list[float], cpu: dict[str, float]) -> None:
    r["done"] += done
    r["errors"] += errors
    r["samples"] += samples
    r["ms"] += ms
    r["blocks"] += 1
    for name, cpu_s in cpu.items():
        r["cpu"][name] = r["cpu"].get(name, 0.0) + cpu_s


def report(args, results: dict[str, dict], floors: dict[str, dict], sink: OtlpSink) -> None:
    what = "sandbox" if args.sandbox == "both" else "telemetry"
    for mode, r in results.items():
        rate = r["done"] / (args.seconds * r["blocks"])
        label = f"query workflow{'' if len(results) == 1 else f' ({what} {mode})'}"
        print(f"{label:<32} {rate:6.1f} queries/s   errors {r['errors']}  {r['samples'] or ''}")
        print(f"{label:<32} {per_workflow(r['cpu'], r['done'])}")
    for mode, f in floors.items():
        label = f"5-no-op workflow{'' if len(floors) == 1 else f' (sandbox {mode})'}"
        print(
            f"{label:<32} {f['done'] / (args.seconds * f['blocks']):6.1f} workflows/s errors {f['errors']}  {f['samples'] or ''}"
        )
        print(f"{label:<32} {per_workflow(f['cpu'], f['done'])}")
    first = results.get("off" if what == "telemetry" else "on") or next(iter(results.values()))
    rate = first["done"] / (args.seconds * first["blocks"])
    print(f"target: >= 25 queries/s, 0 errors -> {'MET' if rate >= 25 and not first['errors'] else 'NOT MET'}")
    if len(results) != 2:
        return
    a, b = ("off", "on")
    if what == "telemetry":
        print("\n".join(overhead_rows({mode: r["ms"] for mode, r in results.items()}, "query p50 under load")))
    else:
        for mode, r in results.items():
            print(f"sandbox {mode:<3} query p50 under load {statistics.median(r['ms']):7.1f} ms  n={len(r['ms'])}")
    off_rate, on_rate = (results[m]["done"] / (args.seconds * results[m]["blocks"]) for m in (a, b))
    print(f"{what} throughput: {100 * (on_rate - off_rate) / off_rate:+.1f} % (on against off)")
    if what == "telemetry":
        print(f"{sink.requests} OTLP exports, {sink.bytes / 1e6:.1f} MB")
        return
    worker_ms = {m: 1000 * results[m]["cpu"]["worker"] / max(results[m]["done"], 1) for m in (a, b)}
    floor_ms = {m: 1000 * floors[m]["cpu"]["worker"] / max(floors[m]["done"], 1) for m in (a, b) if m in floors}
    print(
        f"sandbox cost, worker CPU per query workflow: {worker_ms['on'] - worker_ms['off']:+.1f} ms "
        f"({worker_ms['off']:.1f} -> {worker_ms['on']:.1f})"
        + (
            f"; per 5-no-op workflow: {floor_ms['on'] - floor_ms['off']:+.1f} ms "
            f"({floor_ms['off']:.1f} -> {floor_ms['on']:.1f})"
            if len(floor_ms) == 2
            else ""
        )
    )


def worker_env(mode: str, sink: OtlpSink) -> dict[str, str]:
    """The worker subprocess's extra environment for a telemetry mode."""
    if mode == "on":
        return telemetry_env(sink, "ragstate-worker")
    # Blank, not absent: the worker inherits this process's environment, where tracing is on.
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "RAGSTATE_METRICS_BIND": ""}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--chunks", type=int, default=10000)
    ap.add_argument(
        "--telemetry",
        choices=sorted(BLOCKS),
        default="off",
        help="tracing (OTLP to a local sink) and metrics off, on, or both (ABBA) to compare",
    )
    ap.add_argument(
        "--sandbox",
        choices=sorted(SANDBOX_BLOCKS),
        default="on",
        help="workflows (floor and query) in the workflow sandbox as workers run them, without it, "
        "or both (ABBA) to measure its cost",
    )
    ap.add_argument("--floor-worker", metavar="ADDRESS", help=argparse.SUPPRESS)
    ap.add_argument("--rag-worker", choices=["on", "off"], help=argparse.SUPPRESS)
    parsed = ap.parse_args()
    if parsed.rag_worker:
        rag_worker(parsed.rag_worker)
    else:
        asyncio.run(floor_worker(parsed.floor_worker, parsed.sandbox) if parsed.floor_worker else main(parsed))
