"""Query workflow latency on the local dev server (offline extractive mode, synthetic corpus),
beside two floors measured in the same run on the same server and worker:

- ``floor-empty``: a workflow with no activity;
- ``floor-5-noop``: five no-op activities in the RAG graph's shape
  (one, two in parallel, one, one) as regular activities, and the same as local activities.

For the query workflow it reports end-to-end p50/p99 (client start to result) and the
orchestration overhead: end-to-end minus the time the activities themselves ran (measured by a
worker interceptor).

The floors run under the same sandbox choice as the query workflow: by default the workers'
own (the workflow sandbox, ragstate's shared modules passed through), with ``--no-sandbox``
none for all of them (bench/query_throughput.py --sandbox both compares the two in one run).

With ``--telemetry both`` the queries alternate between workers with tracing and metrics off and
workers with them on (the same process, server and corpus, their own task queues; "on": spans
exported over OTLP/HTTP to a local sink, the SDK runtime's Prometheus endpoint, ragstate's
metrics), and it reports the overhead at p50.

    python bench/query_latency.py --chunks 10000 --runs 200
    python bench/query_latency.py --chunks 2000 --runs 100 --telemetry both
    python bench/query_latency.py --chunks 2000 --runs 100 --no-sandbox
    python bench/query_latency.py --server-args=--dynamic-config-value=system.enableActivityEagerExecution=true
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
from collections import defaultdict
from pathlib import Path

from _floors import FloorEmpty, FloorFiveNoop, noop
from _telemetry import MODES, OtlpSink, overhead_rows, telemetry_settings
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowRunner,
)

__all__ = ["FloorEmpty", "FloorFiveNoop", "noop", "synthetic_corpus", "workflow_runner"]

WORDS = None


def synthetic_corpus(path: Path, chunks: int, seed: int = 3) -> Path:
    """BEIR-style docs of one chunk each, English-like text from a Zipf vocabulary."""
    rng = random.Random(seed)
    syllables = ["ra", "to", "me", "li", "qua", "ne", "ste", "dor", "vin", "pal", "cre", "mo", "sa", "ti", "ber"]
    vocab = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(20000)})
    weights = [1 / (i + 1) for i in range(len(vocab))]
    with path.open("w") as f:
        for i in range(chunks):
            words = rng.choices(vocab, weights, k=rng.randint(60, 110))
            text = ". ".join(" ".join(words[j : j + 12]).capitalize() for j in range(0, len(words), 12)) + "."
            f.write(
                json.dumps({"_id": f"d{i}", "title": " ".join(rng.choices(vocab, weights, k=4)), "text": text}) + "\n"
            )
    return path


# --- the sandbox choice -------------------------------------------------------------------------


def workflow_runner(sandbox: bool) -> WorkflowRunner:
    """What the ragstate workers run workflows with (the sandbox, ragstate's shared modules
    passed through), or no sandbox: the floors' workers take the same as the query's."""
    from ragstate.workers import registry

    return registry.workflow_runner() if sandbox else UnsandboxedWorkflowRunner()


def choose_sandbox(sandbox: bool) -> None:
    """The ragstate workers this process builds from now on run workflows with the sandbox or
    without it (the registry's runner swapped: the benchmark's variant, not a setting)."""
    from ragstate.workers import registry

    if not sandbox:
        registry.workflow_runner = UnsandboxedWorkflowRunner  # type: ignore[assignment]


class ActivityClock(Interceptor):
    """Adds up, per workflow id, how long activities ran inside the worker."""

    def __init__(self) -> None:
        self.busy: dict[str, float] = defaultdict(float)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        clock = self

        class Timed(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput):
                t = time.perf_counter()
                try:
                    return await super().execute_activity(input)
                finally:
                    clock.busy[activity.info().workflow_id] += time.perf_counter() - t

        return Timed(next)


async def print_breakdown(client, workflow_id: str) -> None:
    """Where the time goes: every history event of one run, in ms from the first."""
    from temporalio.api.enums.v1 import EventType

    history = await client.get_workflow_handle(workflow_id).fetch_history()
    t0 = history.events[0].event_time.ToDatetime()
    prev = t0
    print(f"history of {workflow_id}:")
    for e in history.events:
        t = e.event_time.ToDatetime()
        name = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
        detail = ""
        if e.HasField("activity_task_scheduled_event_attributes"):
            a = e.activity_task_scheduled_event_attributes
            detail = f"{a.activity_type.name} on {a.task_queue.name}"
        elif e.HasField("marker_recorded_event_attributes"):
            detail = e.marker_recorded_event_attributes.marker_name
        print(
            f"  {(t - t0).total_seconds() * 1000:7.1f} ms (+{(t - prev).total_seconds() * 1000:5.1f})  {name} {detail}"
        )
        prev = t


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def row(name: str, ms: list[float], extra: str = "") -> str:
    return f"{name:<34} p50 {statistics.median(ms):7.1f} ms   p99 {pct(ms, 99):7.1f} ms   n={len(ms)} {extra}"


async def main(args) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import temporalio

    from ragstate.client import RagClient
    from ragstate.models import IngestRequest, RagQuery
    from ragstate.observability.telemetry import shutdown_tracing
    from ragstate.settings import Settings
    from ragstate.temporal.connection import connect
    from ragstate.temporal.devserver import DevServer, free_port
    from ragstate.workers.runtime import build_workers

    print(
        f"cores: {os.cpu_count()}  temporalio {temporalio.__version__}  server args: {args.server_args or 'none'}"
        f"  steps: {'all regular activities' if args.all_regular else 'cheap steps as local activities'}"
        f"  workflows (floors and query): {'in the sandbox' if args.sandbox else 'without the sandbox'}"
    )
    choose_sandbox(args.sandbox)
    tmp = Path(tempfile.mkdtemp(prefix="ragstate-bench-"))
    corpus = synthetic_corpus(tmp / "corpus.jsonl", args.chunks)
    server = DevServer(tmp / "data", port=free_port(), ui_port=free_port(), extra_args=args.server_args)
    with server:
        settings = Settings(
            data_dir=tmp / "data",
            temporal_address=server.address,
            _env_file=None,
            local_activities=not args.all_regular,
        )
        client = await connect(settings)
        rag = RagClient(client, settings)
        clock = ActivityClock()
        from ragstate.retrieval.embedding import get_embedder

        get_embedder(settings.embedding_device)
        workers = build_workers(client, settings, interceptors=[clock])
        floor_worker = Worker(
            client,
            task_queue="bench-floor",
            workflows=[FloorEmpty, FloorFiveNoop],
            activities=[noop],
            workflow_runner=workflow_runner(args.sandbox),  # the query workflow's choice
        )
        async with floor_worker:
            for w in workers:
                await w.__aenter__()
            try:
                t = time.perf_counter()
                res = await rag.ingest(IngestRequest(paths=[str(corpus)]))
                print(f"ingested {res.chunks} chunks in {time.perf_counter() - t:.1f} s")

                async def timed(coro_factory, n):
                    out = []
                    for _ in range(args.warmup):
                        await coro_factory()
                    for _ in range(n):
                        t = time.perf_counter()
                        await coro_factory()
                        out.append((time.perf_counter() - t) * 1000)
                    return out

                async def floor(wf, arg):
                    return await client.execute_workflow(
                        wf, arg, id=f"bench-{uuid.uuid4().hex}", task_queue="bench-floor", request_eager_start=True
                    )

                empty = await timed(lambda: floor(FloorEmpty.run, ""), args.runs)
                five = await timed(lambda: floor(FloorFiveNoop.run, False), args.runs)
                five_local = await timed(lambda: floor(FloorFiveNoop.run, True), args.runs)

            finally:
                for w in workers:
                    await w.__aexit__(None, None, None)

            rng = random.Random(5)
            modes = MODES[args.telemetry]
            questions = [
                " ".join(json.loads(line)["text"].split()[:8])
                for line in rng.sample(
                    corpus.read_text().splitlines(), min(args.runs * len(modes) + args.warmup, args.chunks)
                )
            ]
            overhead, e2e, steps = [], [], defaultdict(list)
            by_mode: dict[str, list[float]] = defaultdict(list)
            with OtlpSink() as sink:
                rags, workers = {}, []
                for mode in modes:
                    mode_settings = settings if mode == "off" else telemetry_settings(settings, sink)
                    mode_client = client if mode == "off" else await connect(mode_settings)
                    rags[mode] = RagClient(mode_client, mode_settings)
                    workers += build_workers(mode_client, mode_settings, interceptors=[clock])
                for w in workers:
                    await w.__aenter__()
                try:
                    # Queries alternate between the modes, so load from elsewhere on the machine
                    # and any drift over the run weigh on both alike.
                    for i, q in enumerate(questions):
                        mode = modes[i % len(modes)]
                        t = time.perf_counter()
                        ans = await rags[mode].ask(RagQuery(question=q))
                        ms = (time.perf_counter() - t) * 1000
                        if i < args.warmup:
                            continue
                        by_mode[mode].append(ms)
                        if mode != modes[0]:
                            continue  # the rows of steps and floors are of the first mode
                        e2e.append(ms)
                        overhead.append(ms - clock.busy.pop(ans.workflow_id, 0.0) * 1000)
                        for s in ans.timings:
                            steps[s.step].append(s.duration_ms)
                finally:
                    for w in workers:
                        await w.__aexit__(None, None, None)
                if args.breakdown:
                    await print_breakdown(client, ans.workflow_id)
                    five_id = f"bench-{uuid.uuid4().hex}"
                    await client.execute_workflow(FloorFiveNoop.run, False, id=five_id, task_queue="bench-floor")
                    await print_breakdown(client, five_id)
                shutdown_tracing()  # the last spans reach the sink before it closes
            telemetry_sent = f"{sink.requests} OTLP exports, {sink.bytes / 1e6:.1f} MB" if "on" in modes else ""
    print(row("floor: workflow, no activity", empty))
    print(row("floor: 5 no-op activities", five))
    print(row("floor: 5 no-op local activities", five_local))
    print(row("query workflow end to end", e2e))
    print(row("  orchestration overhead", overhead, "(end to end - activity run time)"))
    for step, ms in steps.items():
        print(row(f"  step {step} (workflow view)", ms))
    target = statistics.median(empty) + 100
    print(
        f"target: query p50 <= floor + 100 ms = {target:.1f} ms -> "
        f"{'MET' if statistics.median(e2e) <= target else 'NOT MET'} ({statistics.median(e2e):.1f} ms)"
    )
    if args.telemetry != "off":
        print("\n".join(overhead_rows(by_mode)), telemetry_sent)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--all-regular", action="store_true", help="every step a regular activity (no local ones)")
    ap.add_argument("--breakdown", action="store_true", help="print one run's history with event times")
    ap.add_argument(
        "--no-sandbox",
        dest="sandbox",
        action="store_false",
        help="run the floors and the query workflow without the workflow sandbox (default: with it, as workers do)",
    )
    ap.add_argument(
        "--telemetry",
        choices=sorted(MODES),
        default="off",
        help="tracing (OTLP to a local sink) and metrics off, on, or both (alternating) to compare",
    )
    ap.add_argument(
        "--server-args",
        action="append",
        default=[],
        help="extra `temporal server start-dev` arguments, e.g. --dynamic-config-value=K=V",
    )
    asyncio.run(main(ap.parse_args()))
