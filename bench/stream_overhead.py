"""What streaming an answer through the query workflow costs, against reading the same answer
straight from the Anthropic SDK's stream, both from one local fake Messages-API server
(:class:`ragstate.testing.FakeAnthropic`, here with a pause before each text delta, like a model producing
tokens) in one run, interleaved:

- ``raw SDK``: ``AsyncAnthropic.messages.stream`` in this process;
- ``workflow``: ``RagClient.ask_stream`` -> RagQuery workflow -> Synthesize activity (the same
  SDK call) -> token events published to the workflow stream (signals, batched) -> this
  client's long-poll subscription (updates).

Times are measured from the moment the fake server received the request (same process, same
clock), so retrieval before Synthesize is not counted: *TTFT* is request -> first token seen
by the consumer, *total* is request -> last token (raw) or -> final event (workflow). The
end-to-end time of ``ask_stream`` (start -> final) is printed too.

    python bench/stream_overhead.py                       # 10 runs, 20 deltas, 25 ms apart
    python bench/stream_overhead.py --runs 20 --delay-ms 50 --batch-ms 50 --poll-ms 20

Everything runs on this machine: the dev server (a child process), the worker, the client and
the fake server (a thread) share its cores, so figures include that contention.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/x.py` from anywhere imports this checkout
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from ragstate.testing import FakeAnthropic, ok  # noqa: E402

ANSWER = (
    "Reciprocal rank fusion scores each document by the sum of one over k plus its rank in every "
    "result list [1], so keyword and vector rankings combine without calibrating their scores [1]. "
    "A document found by both searches rises to the top, and k (usually 60) damps the head of each list."
)


def slow_fake(delay_s: float) -> FakeAnthropic:
    """The fake server, pausing ``delay_s`` before each text delta."""
    fake = FakeAnthropic()
    fake.delta_delay_s = delay_s
    return fake


def p50(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


async def raw_run(sdk, fake: FakeAnthropic, model: str, prompt: str, chunks: int) -> tuple[float, float]:
    fake.plan(ok(ANSWER, chunks=chunks))
    first = last = None
    async with sdk.messages.stream(
        model=model, max_tokens=512, messages=[{"role": "user", "content": prompt}]
    ) as stream:
        async for _ in stream.text_stream:
            now = time.monotonic()
            first = first or now
            last = now
    arrived = fake.requests[-1].at
    return (first - arrived) * 1000, (last - arrived) * 1000


async def workflow_run(rag, fake: FakeAnthropic, question: str, chunks: int) -> tuple[float, float, float, str, int]:
    from ragstate.models import StreamEventType

    fake.plan(ok(ANSWER, chunks=chunks))
    t0 = time.monotonic()
    first = final = None
    tokens = 0
    answer = None
    async for event in rag.ask_stream(question):
        now = time.monotonic()
        if event.type is StreamEventType.token:
            tokens += 1
            first = first or now
        elif event.type is StreamEventType.final:
            final, answer = now, event.answer
        elif event.type is StreamEventType.error:
            raise RuntimeError(f"query failed: {event.error_type}: {event.error}")
    assert answer is not None and answer.answer == ANSWER, answer
    arrived = fake.requests[-1].at
    return (first - arrived) * 1000, (final - arrived) * 1000, (final - t0) * 1000, answer.workflow_id, tokens


async def main(args) -> None:
    import anthropic
    import temporalio
    from pydantic import SecretStr
    from temporalio.api.enums.v1 import EventType
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    import ragstate.client.queries as client_module
    from ragstate.activities import anthropic_llm
    from ragstate.client import RagClient
    from ragstate.contracts import SEARCH_ATTRIBUTES
    from ragstate.settings import Settings
    from ragstate.temporal.devserver import temporal_cli
    from ragstate.workers.runtime import running_workers

    if args.batch_ms is not None:
        anthropic_llm.STREAM_BATCH_INTERVAL = timedelta(milliseconds=args.batch_ms)
    if args.poll_ms is not None:
        client_module.STREAM_POLL_COOLDOWN = timedelta(milliseconds=args.poll_ms)
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    load = os.getloadavg()
    print(
        f"cores: os.cpu_count()={os.cpu_count()} (usable: {affinity}), load average {load[0]:.2f}; "
        f"temporalio {temporalio.__version__}, anthropic {anthropic.__version__}"
    )
    print(
        f"answer: {args.deltas} text deltas, {args.delay_ms} ms apart (~{args.deltas * args.delay_ms} ms of "
        f"generation); publisher batch {anthropic_llm.STREAM_BATCH_INTERVAL.total_seconds() * 1000:.0f} ms, "
        f"subscriber poll cooldown {client_module.STREAM_POLL_COOLDOWN.total_seconds() * 1000:.0f} ms; "
        f"{args.runs} runs (+{args.warmup} warm-up) of each, interleaved"
    )

    tmp = Path(tempfile.mkdtemp(prefix="ragstate-bench-stream-"))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=pydantic_data_converter,
        search_attributes=list(SEARCH_ATTRIBUTES),
    )
    try:
        with slow_fake(args.delay_ms / 1000) as fake:
            tag = uuid.uuid4().hex[:6]
            settings = Settings(
                data_dir=tmp / "data",
                collection=f"bench-{tag}",
                _env_file=None,
                temporal_address=env.client.service_client.config.target_host,
                workflow_task_queue=f"wf-{tag}",
                embeddings_task_queue=f"emb-{tag}",
                llm_task_queue=f"llm-{tag}",
                anthropic_api_key=SecretStr("sk-ant-bench"),
                anthropic_base_url=fake.url,
                anthropic_stream=True,
                anthropic_model="claude-bench",
            )
            rag = RagClient(env.client, settings)
            sdk = anthropic.AsyncAnthropic(api_key="sk-ant-bench", base_url=fake.url, max_retries=0)
            question = "How does reciprocal rank fusion combine keyword and vector results?"
            async with running_workers(env.client, settings):
                await rag.ingest([str(ROOT / "examples" / "corpus")])
                raw_ttft, raw_total, wf_ttft, wf_total, wf_e2e, token_events = [], [], [], [], [], []
                workflow_id = ""
                for i in range(args.warmup + args.runs):
                    r = await raw_run(sdk, fake, settings.anthropic_model, question, args.deltas)
                    w = await workflow_run(rag, fake, question, args.deltas)
                    if i < args.warmup:
                        continue
                    raw_ttft.append(r[0])
                    raw_total.append(r[1])
                    wf_ttft.append(w[0])
                    wf_total.append(w[1])
                    wf_e2e.append(w[2])
                    workflow_id = w[3]
                    token_events.append(w[4])
                history = await env.client.get_workflow_handle(workflow_id).fetch_history()
            await sdk.close()
            await anthropic_llm.close_llm_clients()
    finally:
        await env.shutdown()

    signals = sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED for e in history.events)
    updates = sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED for e in history.events)
    print(f"{'':<22}{'TTFT p50':>10}{'total p50':>11}   (ms from the request reaching the server)")
    print(f"{'raw SDK stream':<22}{p50(raw_ttft):>10.1f}{p50(raw_total):>11.1f}")
    print(f"{'workflow stream':<22}{p50(wf_ttft):>10.1f}{p50(wf_total):>11.1f}")
    print(f"{'overhead':<22}{p50(wf_ttft) - p50(raw_ttft):>+10.1f}{p50(wf_total) - p50(raw_total):>+11.1f}")
    print(
        f"workflow end to end (ask_stream start -> final) p50 {p50(wf_e2e):.1f} ms; "
        f"token events per answer p50 {p50(token_events):.0f} (of {args.deltas} deltas)"
    )
    print(
        f"one streamed run's history: {len(history.events)} events, {signals} publish signals, "
        f"{updates} completed poll updates"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--deltas", type=int, default=20, help="text deltas per answer")
    parser.add_argument("--delay-ms", type=float, default=25.0, help="pause before each delta")
    parser.add_argument(
        "--batch-ms",
        type=float,
        default=None,
        help="publisher batch interval (default: ragstate.activities.anthropic_llm.STREAM_BATCH_INTERVAL)",
    )
    parser.add_argument(
        "--poll-ms",
        type=float,
        default=None,
        help="subscriber poll cooldown (default: ragstate.client.queries.STREAM_POLL_COOLDOWN)",
    )
    asyncio.run(main(parser.parse_args()))
