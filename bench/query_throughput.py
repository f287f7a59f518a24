"""Query throughput: concurrent clients asking for a fixed time (offline extractive mode,
synthetic corpus), beside the five-no-op-activity workflow's throughput in the same run on the
same dev server.

The RAG worker (``python -m ragstate.workers.local``) and the floor worker each run in their own
process, as in production: the load generator here only starts workflows and waits for results
(in one process with the workers, the GIL made the client the bottleneck).

It also prints where the cores went: CPU milliseconds per completed workflow in the Temporal
server, the worker that ran it and this load generator (the other worker is idle meanwhile).

With ``--telemetry both`` the query load runs with tracing and metrics off and on (ABBA blocks
of ``--seconds`` each; the worker is restarted with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at
a local OTLP sink and ``RAGSTATE_METRICS_BIND`` set), and it reports throughput and the p50
latency under load of both.

    python bench/query_throughput.py --seconds 30 --clients 16 --chunks 10000
    python bench/query_throughput.py --seconds 15 --chunks 2000 --telemetry both
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

from _stack import cpu_seconds
from _telemetry import BLOCKS, OtlpSink, overhead_rows, telemetry_env
from query_latency import FloorFiveNoop, noop, synthetic_corpus


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


async def floor_worker(address: str) -> None:
    """The five-no-op workflow's worker, run in its own process by ``main``."""
    from temporalio.client import Client
    from temporalio.worker import Worker

    client = await Client.connect(address)
    async with Worker(client, task_queue="bench-floor", workflows=[FloorFiveNoop], activities=[noop]):
        await asyncio.Event().wait()


async def main(args) -> None:
    import subprocess
    import sys

    import temporalio
    from _stack import LocalStack
    from temporalio.client import Client

    from ragstate.client import RagClient
    from ragstate.models import IngestRequest, RagQuery
    from ragstate.observability.telemetry import shutdown_tracing
    from ragstate.settings import Settings
    from ragstate.temporal.connection import connect

    print(
        f"cores: {os.cpu_count()}  temporalio {temporalio.__version__}  clients: {args.clients}  "
        f"duration: {args.seconds:.0f} s each; workers in their own processes; telemetry: {args.telemetry}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="ragstate-bench-"))
    corpus = synthetic_corpus(tmp / "corpus.jsonl", args.chunks)
    blocks = BLOCKS[args.telemetry]
    results: dict[str, dict] = {}
    with OtlpSink() as sink, LocalStack(Settings(_env_file=None), worker_env=worker_env(blocks[0], sink)) as stack:
        clients = {"off": await stack.connect()}
        await stack.wait_ready(clients["off"])
        if "on" in blocks:
            env = telemetry_env(sink, "ragstate-bench")
            # The load generator's client traces too, as a gateway's would.
            os.environ.update({k: v for k, v in env.items() if k.startswith("OTEL_")})
            clients["on"] = await connect(
                stack.settings.model_copy(update={"metrics_bind": env["RAGSTATE_METRICS_BIND"]})
            )
        floor = subprocess.Popen(  # noqa: ASYNC220 - once, before any load
            [sys.executable, __file__, "--floor-worker", stack.settings.temporal_address],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            res = await RagClient(clients["off"], stack.settings).ingest(IngestRequest(paths=[str(corpus)]))
            print(f"ingested {res.chunks} chunks")
            rng = random.Random(9)
            texts = [json.loads(line)["text"].split() for line in corpus.read_text().splitlines()]
            plain = await Client.connect(stack.settings.temporal_address)

            async def five(i: int, n: int) -> None:
                await plain.execute_workflow(
                    FloorFiveNoop.run, False, id=f"bench-{uuid.uuid4().hex}", task_queue="bench-floor"
                )

            await drive(3, args.clients, five)  # warm up
            f_meter = CpuMeter(server=stack.server.process.pid, worker=floor.pid, loadgen=os.getpid())
            f_meter.start()
            f_done, f_err, f_samples, _ = await drive(args.seconds, args.clients, five)
            f_cpu = f_meter.stop()
            running = blocks[0]
            for mode in blocks:
                if mode != running:
                    stack.restart_worker(worker_env(mode, sink))
                    await stack.wait_ready(clients["off"])
                    running = mode
                rag = RagClient(clients[mode], stack.settings)

                async def ask(i: int, n: int, rag: RagClient = rag) -> None:
                    answer = await rag.ask(RagQuery(question=" ".join(rng.choice(texts)[:8])))
                    if not answer.citations:
                        raise RuntimeError("answer without citations")

                await drive(3, args.clients, ask)  # warm up
                meter = CpuMeter(server=stack.server.process.pid, worker=stack.worker.pid, loadgen=os.getpid())
                meter.start()
                done, err, samples, latencies = await drive(args.seconds, args.clients, ask)
                block = results.setdefault(mode, {"done": 0, "errors": 0, "samples": [], "ms": [], "cpu": {}})
                block["done"] += done
                block["errors"] += err
                block["samples"] += samples
                block["ms"] += latencies
                for name, cpu_s in meter.stop().items():
                    block["cpu"][name] = block["cpu"].get(name, 0.0) + cpu_s
        finally:
            floor.terminate()
            floor.wait(timeout=30)
            shutdown_tracing()  # the last spans reach the sink before it closes
    seconds = {mode: args.seconds * blocks.count(mode) for mode in results}
    for mode, r in results.items():
        label = f"query workflow{'' if len(results) == 1 else f' (telemetry {mode})'}"
        print(f"{label:<32} {r['done'] / seconds[mode]:6.1f} queries/s   errors {r['errors']}  {r['samples'] or ''}")
        print(f"{label:<32} {per_workflow(r['cpu'], r['done'])}")
    print(f"{'5-no-op workflow':<32} {f_done / args.seconds:6.1f} workflows/s errors {f_err}  {f_samples or ''}")
    print(f"{'5-no-op workflow':<32} {per_workflow(f_cpu, f_done)}")
    off = results.get("off") or next(iter(results.values()))
    rate = off["done"] / seconds.get("off", args.seconds * len(blocks))
    print(f"target: >= 25 queries/s, 0 errors -> {'MET' if rate >= 25 and not off['errors'] else 'NOT MET'}")
    if len(results) == 2:
        print("\n".join(overhead_rows({mode: r["ms"] for mode, r in results.items()}, "query p50 under load")))
        off_rate, on_rate = (results[m]["done"] / seconds[m] for m in ("off", "on"))
        print(
            f"telemetry throughput: {100 * (on_rate - off_rate) / off_rate:+.1f} %; "
            f"{sink.requests} OTLP exports, {sink.bytes / 1e6:.1f} MB"
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
    ap.add_argument("--floor-worker", metavar="ADDRESS", help=argparse.SUPPRESS)
    parsed = ap.parse_args()
    asyncio.run(floor_worker(parsed.floor_worker) if parsed.floor_worker else main(parsed))
