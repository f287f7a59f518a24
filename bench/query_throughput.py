"""Query throughput: concurrent clients asking for a fixed time (offline extractive mode,
synthetic corpus), beside the five-no-op-activity workflow's throughput in the same run on the
same dev server.

The RAG worker (``python -m ragstate.workers.local``) and the floor worker each run in their own
process, as in production: the load generator here only starts workflows and waits for results
(in one process with the workers, the GIL made the client the bottleneck).

It also prints where the cores went: CPU milliseconds per completed workflow in the Temporal
server, the worker that ran it and this load generator (the other worker is idle meanwhile).

    python bench/query_throughput.py --seconds 30 --clients 16 --chunks 10000
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
    return "  ".join(f"{name} {1000 * s / max(done, 1):5.1f}" for name, s in cpu.items()) + \
        f"  total {1000 * total / max(done, 1):5.1f} ms CPU/workflow"


async def drive(seconds: float, clients: int, call) -> tuple[int, int, list[str]]:
    done = errors = 0
    samples: list[str] = []
    deadline = time.perf_counter() + seconds

    async def client_loop(i: int) -> None:
        nonlocal done, errors
        n = 0
        while time.perf_counter() < deadline:
            try:
                await call(i, n)
                done += 1
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors += 1
                if len(samples) < 3:
                    samples.append(repr(e)[:200])
            n += 1

    await asyncio.gather(*(client_loop(i) for i in range(clients)))
    return done, errors, samples


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
    from temporalio.client import Client

    from _stack import LocalStack
    from ragstate.client import RagClient
    from ragstate.models import IngestRequest, RagQuery
    from ragstate.settings import Settings

    print(f"cores: {os.cpu_count()}  temporalio {temporalio.__version__}  clients: {args.clients}  "
          f"duration: {args.seconds:.0f} s each; workers in their own processes")
    tmp = Path(tempfile.mkdtemp(prefix="ragstate-bench-"))
    corpus = synthetic_corpus(tmp / "corpus.jsonl", args.chunks)
    with LocalStack(Settings(_env_file=None)) as stack:
        client = await stack.connect()
        await stack.wait_ready(client)
        floor = subprocess.Popen([sys.executable, __file__, "--floor-worker", stack.settings.temporal_address],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            rag = RagClient(client, stack.settings)
            res = await rag.ingest(IngestRequest(paths=[str(corpus)]))
            print(f"ingested {res.chunks} chunks")
            rng = random.Random(9)
            texts = [json.loads(line)["text"].split() for line in corpus.read_text().splitlines()]
            plain = await Client.connect(stack.settings.temporal_address)

            async def ask(i: int, n: int) -> None:
                answer = await rag.ask(RagQuery(question=" ".join(rng.choice(texts)[:8])))
                if not answer.citations:
                    raise RuntimeError("answer without citations")

            async def five(i: int, n: int) -> None:
                await plain.execute_workflow(FloorFiveNoop.run, False, id=f"bench-{uuid.uuid4().hex}",
                                             task_queue="bench-floor")

            await drive(3, args.clients, ask)  # warm up
            await drive(3, args.clients, five)
            q_meter = CpuMeter(server=stack.server.process.pid, worker=stack.worker.pid, loadgen=os.getpid())
            f_meter = CpuMeter(server=stack.server.process.pid, worker=floor.pid, loadgen=os.getpid())
            q_meter.start()
            q_done, q_err, q_samples = await drive(args.seconds, args.clients, ask)
            q_cpu = q_meter.stop()
            f_meter.start()
            f_done, f_err, f_samples = await drive(args.seconds, args.clients, five)
            f_cpu = f_meter.stop()
        finally:
            floor.terminate()
            floor.wait(timeout=30)
    print(f"query workflow        {q_done / args.seconds:6.1f} queries/s   errors {q_err}  {q_samples or ''}")
    print(f"5-no-op workflow      {f_done / args.seconds:6.1f} workflows/s errors {f_err}  {f_samples or ''}")
    print(f"query workflow        {per_workflow(q_cpu, q_done)}")
    print(f"5-no-op workflow      {per_workflow(f_cpu, f_done)}")
    print(f"target: >= 25 queries/s, 0 errors -> {'MET' if q_done / args.seconds >= 25 and not q_err else 'NOT MET'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--chunks", type=int, default=10000)
    ap.add_argument("--floor-worker", metavar="ADDRESS", help=argparse.SUPPRESS)
    parsed = ap.parse_args()
    asyncio.run(floor_worker(parsed.floor_worker) if parsed.floor_worker else main(parsed))
