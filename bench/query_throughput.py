"""Query throughput: concurrent clients asking for a fixed time (offline extractive mode,
synthetic corpus), beside the five-no-op-activity workflow's throughput in the same run on the
same dev server.

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

from query_latency import FloorFiveNoop, noop, synthetic_corpus


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


async def main(args) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import temporalio
    from temporalio.worker import Worker

    from ragstate.client import RagClient
    from ragstate.devserver import DevServer, free_port
    from ragstate.models import IngestRequest, RagQuery
    from ragstate.settings import Settings
    from ragstate.temporal import connect
    from workers.runtime import running_workers

    print(f"cores: {os.cpu_count()}  temporalio {temporalio.__version__}  clients: {args.clients}  "
          f"duration: {args.seconds:.0f} s each")
    tmp = Path(tempfile.mkdtemp(prefix="ragstate-bench-"))
    corpus = synthetic_corpus(tmp / "corpus.jsonl", args.chunks)
    with DevServer(tmp / "data", port=free_port(), ui_port=free_port()) as server:
        settings = Settings(data_dir=tmp / "data", temporal_address=server.address, _env_file=None)
        client = await connect(settings)
        rag = RagClient(client, settings)
        async with running_workers(client, settings), Worker(
                client, task_queue="bench-floor", workflows=[FloorFiveNoop], activities=[noop],
                max_concurrent_workflow_tasks=args.clients):
            res = await rag.ingest(IngestRequest(paths=[str(corpus)]))
            print(f"ingested {res.chunks} chunks")
            rng = random.Random(9)
            texts = [json.loads(l)["text"].split() for l in corpus.read_text().splitlines()]

            async def ask(i: int, n: int) -> None:
                words = rng.choice(texts)
                answer = await rag.ask(RagQuery(question=" ".join(words[:8])))
                if not answer.citations:
                    raise RuntimeError("answer without citations")

            async def five(i: int, n: int) -> None:
                await client.execute_workflow(FloorFiveNoop.run, False, id=f"bench-{uuid.uuid4().hex}",
                                              task_queue="bench-floor", request_eager_start=True)

            await drive(3, args.clients, ask)  # warm up
            q_done, q_err, q_samples = await drive(args.seconds, args.clients, ask)
            f_done, f_err, f_samples = await drive(args.seconds, args.clients, five)
    print(f"query workflow        {q_done / args.seconds:6.1f} queries/s   errors {q_err}  {q_samples or ''}")
    print(f"5-no-op workflow      {f_done / args.seconds:6.1f} workflows/s errors {f_err}  {f_samples or ''}")
    print(f"target: >= 25 queries/s, 0 errors -> {'MET' if q_done / args.seconds >= 25 and not q_err else 'NOT MET'}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--chunks", type=int, default=10000)
    asyncio.run(main(ap.parse_args()))
