"""Questions through the query workflow against a collection bench/store_latency.py built:
end-to-end p50/p99 (client start to answer) and each step's time as the workflow saw it.

store_latency.py runs this as its own child after the store measurements, on the same
collection, when given ``--workflow-questions N`` (edge backend only): the issue's "hybrid end
to end in the query workflow" at 100k and at 1M, in one invocation on one machine::

    python bench/store_latency.py --sizes 100000,1000000 --backends edge --layouts default \\
        --optimize-every 100000 --workflow-questions 100

By hand, on a kept collection (``DATA_DIR/qdrant-edge/bench``)::

    python bench/store_workflow.py DATA_DIR --questions 100

Stack: a dev server of its own and the workers of ``ragstate up`` in this process (offline
extractive mode, the embedded store at the default settings). The questions are 3-6 words of
the synthetic vocabulary, so the keyword branch finds chunks; the vector branch embeds them with
the real model, and the synthetic vectors around random centroids are as far from them as
from anything: the dense search costs what it costs, its hits mean nothing. Each question is
asked once (a fresh vector and fresh pages, as real traffic).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from store_latency import Corpus, _stats  # noqa: E402

COLLECTION = "bench"


async def ask_all(data_dir: Path, questions: list[str], warmup: int) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ragstate.client import RagClient
    from ragstate.models import RagQuery
    from ragstate.retrieval.embedding import get_embedder
    from ragstate.settings import Settings
    from ragstate.temporal.connection import connect
    from ragstate.temporal.devserver import DevServer, free_port
    from ragstate.workers.runtime import build_workers

    with DevServer(data_dir.parent / "temporal", port=free_port(), ui_port=free_port()) as server:
        settings = Settings(data_dir=data_dir, temporal_address=server.address, collection=COLLECTION, _env_file=None)
        client = await connect(settings)
        rag = RagClient(client, settings)
        get_embedder(settings.embedding_device)  # the model's load is not a question's time
        workers = build_workers(client, settings)
        for w in workers:
            await w.__aenter__()
        e2e: list[float] = []
        steps: dict[str, list[float]] = defaultdict(list)
        modes: dict[str, int] = defaultdict(int)
        try:
            for i, q in enumerate(questions):
                t = time.perf_counter()
                ans = await rag.ask(RagQuery(question=q))
                ms = (time.perf_counter() - t) * 1000
                if i < warmup:
                    continue
                e2e.append(ms)
                modes[f"{ans.mode.value}{' (degraded)' if ans.degraded else ''}"] += 1
                for s in ans.timings:
                    steps[s.step].append(s.duration_ms)
        finally:
            for w in workers:
                await w.__aexit__(None, None, None)
    return {
        "end_to_end": _stats(e2e),
        "steps": {k: _stats(v) for k, v in steps.items()},
        "modes": dict(modes),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", type=Path, help="a data dir whose qdrant-edge/bench store_latency.py built")
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--vocab", type=int, default=30000)
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    a = ap.parse_args()
    # The collection's vocabulary (seeded as store_latency's); its vectors are not used here.
    _, texts = Corpus(a.seed, a.vocab, clusters=1, text_chars=0, batch=1).queries(a.warmup + a.questions)
    result = asyncio.run(ask_all(a.data_dir, texts, a.warmup))
    e = result["end_to_end"]
    print(f"query workflow end to end: p50 {e['p50_ms']:.1f} ms, p99 {e['p99_ms']:.1f} ms ({e['n']} questions)")
    for step, s in result["steps"].items():
        print(f"  step {step:18} p50 {s['p50_ms']:7.1f} ms  p99 {s['p99_ms']:7.1f} ms")
    print(f"  answers: {result['modes']}")
    if a.out:
        a.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
