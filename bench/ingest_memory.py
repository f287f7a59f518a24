"""Memory: peak RSS of the worker while ingesting corpora of growing size; it must not grow
with corpus size beyond the store's own index.

    .venv/bin/python bench/ingest_memory.py                                  # 10k, 50k, 100k chunks
    .venv/bin/python bench/ingest_memory.py --sizes 1000,4000                # a quick look
    .venv/bin/python bench/ingest_memory.py --worker-env MALLOC_ARENA_MAX=2  # an allocator experiment

For each size, a fresh private stack: Temporal dev server on free ports with its SQLite in a
new temporary data directory, and ONE worker subprocess (``python -m ragstate.workers.local``, every
role, configured by RAGSTATE_* env, as in production). The corpus is a seeded synthetic
BEIR-style corpus.jsonl written line by line (never held in memory; one chunk per document
with the default chunk size, so documents = chunks). Then:

- model: the worker's RSS once it polls its queues (it loads the model before polling) and
  before the ingest starts: interpreter + torch + model, the fixed part;
- during the ingest, /proc/<worker>/status is sampled every 0.5 s: VmRSS, and its split
  into RssAnon (heap: Python objects, tensors, the store's in-memory structures) and RssFile
  (mapped files: shared libraries and the store's memory-mapped segments); VmHWM at the end;
- index: the bytes on disk of ``<data_dir>/qdrant-edge`` after the ingest (after the worker
  has flushed and closed the store), and the store's resident size: the RSS a fresh process
  (no model, no Temporal) gains by opening that collection and running a few dense and sparse
  searches.

It then prints, per 10k chunks (least-squares slope over the sizes), how much the worker's
peak RSS grew against how much the index grew. RSS
growth that stays within the index's growth is the store; more than that is memory that
grows with corpus size elsewhere (a leak, an unbounded cache, workflow state).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import shutil
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
    du,
    machine_header,
    proc_status,
)

from ragstate.settings import Settings

_STORE_PROBE = r"""
import json, os, random, sys
def rss():
    with open(f"/proc/{os.getpid()}/status") as f:
        return {k: int(v.split()[0]) * 1024 for k, v in (l.split(":", 1) for l in f) if k in ("VmRSS", "RssAnon", "RssFile")}
from ragstate.store.edge import EdgeStore
from ragstate.retrieval.bm25 import Bm25Encoder
before = rss()
store = EdgeStore(sys.argv[1])
n = store.counts().chunks
rng = random.Random(0)
for _ in range(20):
    store.search_dense([rng.gauss(0, 1) for _ in range(384)], 10)
    store.search_sparse(Bm25Encoder(1.2, 0.75, 100).encode_query("the history of information retrieval"), 10)
after = rss()
store.close()
print(json.dumps({"chunks": n, "before": before, "after": after}))
"""


def store_resident(path: Path) -> dict:
    """The store's own memory: RSS a fresh process gains by opening the collection and running
    a few dense and sparse searches (no model, no Temporal)."""
    import subprocess

    from _stack import ROOT

    out = subprocess.run(
        [sys.executable, "-c", _STORE_PROBE, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    if out.returncode:
        return {"error": out.stderr[-500:]}
    d = json.loads(out.stdout.strip().splitlines()[-1])
    return {k: d["after"][k] - d["before"][k] for k in d["after"]}


async def ingest_one(stack: LocalStack, corpus: Path, args) -> dict:
    from ragstate.client import RagClient
    from ragstate.models import IngestRequest

    client = await stack.connect()
    ready_s = await stack.wait_ready(client)
    await asyncio.sleep(args.settle)  # let the worker finish starting up before the baseline
    model = proc_status(stack.worker.pid)
    rag = RagClient(client, stack.settings)
    with RssSampler(stack.worker.pid, args.interval) as rss, RssSampler(stack.server.process.pid, 2.0) as srv:
        t0, m0 = time.perf_counter(), time.monotonic()
        handle = await rag.start_ingest(
            IngestRequest(paths=[str(corpus)], batch_docs=args.batch_docs, concurrency=args.concurrency)
        )
        result = await await_ingest(rag, handle, stack, every_s=args.progress_every, label=f"{corpus.stem}")
        wall, m1 = time.perf_counter() - t0, time.monotonic()
        await asyncio.sleep(args.settle)  # RSS after the ingest, once the last tasks are done
    end = proc_status(stack.worker.pid)
    store_open = du(stack.store_dir())
    stack.stop_worker()  # flushes and closes the store
    collections = [p for p in stack.store_dir().iterdir() if p.is_dir()] if stack.store_dir().exists() else []
    resident = store_resident(collections[0]) if len(collections) == 1 else {"error": f"collections: {collections}"}
    during = [(t, x.get("VmRSS", 0)) for t, x in rss.samples if m0 <= t <= m1]
    so_far = [max((v for t, v in during if t <= m0 + q * (m1 - m0)), default=0) for q in (0.1, 0.25, 0.5, 0.75, 1.0)]
    return {
        "so_far": so_far,
        "resident": resident,
        "ready_s": ready_s,
        "model": model,
        "end": end,
        "wall_s": wall,
        "result": result,
        "peak": {k: rss.peak(k) for k in ("VmRSS", "RssAnon", "RssFile", "RssShmem")},
        "hwm": end.get("VmHWM", rss.peak("VmHWM")),
        "server_peak": srv.peak("VmRSS"),
        "store_open": store_open,
        "store": du(stack.store_dir()),
        "samples": rss.samples,
    }


def slope(xs: list[int], ys: list[float]) -> float:
    """Least-squares growth of ys per 10k of xs."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if not var else 10_000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="10000,50000,100000", help="comma-separated corpus sizes in chunks")
    ap.add_argument("--batch-docs", type=int, default=None, help="IngestRequest.batch_docs (default: settings)")
    ap.add_argument("--concurrency", type=int, default=None, help="IngestRequest.concurrency (default: settings)")
    ap.add_argument("--interval", type=float, default=0.5, help="RSS sampling interval, seconds")
    ap.add_argument(
        "--settle", type=float, default=3.0, help="seconds to wait before the baseline and after the ingest"
    )
    ap.add_argument("--progress-every", type=float, default=15.0, help="seconds between progress lines (stderr)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the worker process (repeatable), e.g. MALLOC_ARENA_MAX=2",
    )
    ap.add_argument("--csv", type=Path, help="write every RSS sample here (size, seconds, VmRSS, RssAnon, RssFile)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data directories")
    args = ap.parse_args()

    settings = Settings()
    args.batch_docs = args.batch_docs or settings.ingest_batch_docs
    args.concurrency = args.concurrency or settings.ingest_concurrency
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    worker_env = dict(kv.split("=", 1) for kv in args.worker_env)

    for line in machine_header("ragstate ingestion memory: worker RSS against corpus size"):
        print(line)
    print(
        f"settings: chunk_tokens {settings.chunk_tokens}, embedding_batch_size {settings.embedding_batch_size}, "
        f"batch_docs {args.batch_docs}, concurrency {args.concurrency}, store {settings.store_backend.value}; "
        f"worker: subprocess `python -m ragstate.workers.local` (every role), a fresh stack per size"
        + (f"; worker env {worker_env}" if worker_env else "")
    )

    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="ragstate-bench-mem-"))
    try:
        for size in sizes:
            corpus = tmp / f"corpus-{size}.jsonl"
            t0 = time.perf_counter()
            SyntheticCorpus(seed=args.seed).write(corpus, size)
            print(
                f"\n-- {size} chunks: corpus written in {time.perf_counter() - t0:.1f}s "
                f"({corpus.stat().st_size / MiB:.0f} MiB)",
                flush=True,
            )
            with LocalStack(settings, keep=args.keep, worker_env=worker_env) as stack:
                r = asyncio.run(ingest_one(stack, corpus, args))
                if args.keep:
                    print(f"   kept {stack.data_dir}")
            corpus.unlink()
            res = r["result"]
            if res.chunks != size or res.failed:
                print(f"   WARNING: {res.chunks} chunks, {res.failed} failed (expected {size}, 0)")
            r["size"] = size
            rows.append(r)
            print(
                f"   model loaded: RSS {r['model'].get('VmRSS', 0) / MiB:.0f} MiB; ingest {r['wall_s']:.1f}s "
                f"({res.chunks / r['wall_s']:.1f} chunks/s); peak RSS {r['peak']['VmRSS'] / MiB:.0f} MiB; "
                f"store {r['store'] / MiB:.1f} MiB",
                flush=True,
            )
            print(
                "   worker RSS (max so far) at 10/25/50/75/100% of the ingest's time: "
                + " / ".join(f"{v / MiB:.0f}" for v in r["so_far"])
                + " MiB; second-half growth "
                f"{(r['so_far'][4] - r['so_far'][2]) / MiB:+.0f} MiB for ~{size // 2} chunks"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    hdr = (
        f"{'chunks':>7} | {'model RSS':>9} | {'peak RSS':>8} {'peak-model':>10} | {'anon pk':>7} {'file pk':>7} | "
        f"{'end RSS':>7} {'VmHWM':>6} | {'index on disk':>13} {'index in RAM':>12} | {'server pk':>9} | {'ingest s':>8} {'chunks/s':>8}"
    )
    print(
        "MiB, worker process unless noted. model = worker RSS after the model loaded, before the ingest; "
        "peak = sampled every 0.5 s (anon = heap, file = mapped files); index on disk = du of qdrant-edge/; "
        "index in RAM = RSS a fresh process gains by opening the store and searching it; server = Temporal dev server"
    )
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        m = r["model"].get("VmRSS", 0)
        print(
            f"{r['size']:>7} | {m / MiB:>9.0f} | {r['peak']['VmRSS'] / MiB:>8.0f} {(r['peak']['VmRSS'] - m) / MiB:>10.0f} | "
            f"{r['peak']['RssAnon'] / MiB:>7.0f} {r['peak']['RssFile'] / MiB:>7.0f} | "
            f"{r['end'].get('VmRSS', 0) / MiB:>7.0f} {r['hwm'] / MiB:>6.0f} | {r['store'] / MiB:>13.1f} "
            f"{r['resident'].get('VmRSS', float('nan')) / MiB:>12.1f} | "
            f"{r['server_peak'] / MiB:>9.0f} | {r['wall_s']:>8.1f} {r['result'].chunks / r['wall_s']:>8.1f}"
        )

    if len(rows) >= 2:
        xs = [r["size"] for r in rows]
        per = {
            "peak RSS": slope(xs, [r["peak"]["VmRSS"] / MiB for r in rows]),
            "peak RSS above model": slope(xs, [(r["peak"]["VmRSS"] - r["model"].get("VmRSS", 0)) / MiB for r in rows]),
            "peak RssAnon": slope(xs, [r["peak"]["RssAnon"] / MiB for r in rows]),
            "peak RssFile": slope(xs, [r["peak"]["RssFile"] / MiB for r in rows]),
            "end RSS": slope(xs, [r["end"].get("VmRSS", 0) / MiB for r in rows]),
            "index on disk": slope(xs, [r["store"] / MiB for r in rows]),
        }
        if all("VmRSS" in r["resident"] for r in rows):
            per["index in RAM"] = slope(xs, [r["resident"]["VmRSS"] / MiB for r in rows])
        print("\ngrowth per 10k chunks (least squares over the sizes), MiB:")
        for k, v in per.items():
            print(f"  {k:<22} {v:+8.1f}")
        index = max(per["index on disk"], per.get("index in RAM", 0.0))
        beyond = per["peak RSS above model"] - index
        print(
            f"peak RSS grows {per['peak RSS above model']:+.1f} MiB per 10k chunks; the index grows "
            f"{per['index on disk']:+.1f} MiB on disk"
            + (f", {per['index in RAM']:+.1f} MiB in RAM" if "index in RAM" in per else "")
            + f" per 10k chunks; growth beyond the index: {beyond:+.1f} MiB per 10k chunks "
            f"({'none' if beyond <= 0.1 * max(index, 1.0) else 'SOME: investigate'})"
        )
        print(
            "(a constant offset between peak and model RSS - activations, allocator arenas of the activity "
            "threads - does not change the slope; only growth with corpus size does. The arenas fill up over the "
            "first batches, as each activity thread first runs the model: compare the sizes only once every "
            "size is past that, e.g. >= 10k chunks, and see the within-run 'second-half growth' lines)"
        )

    if args.csv:
        with args.csv.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["chunks", "t_s", "VmRSS_MiB", "RssAnon_MiB", "RssFile_MiB"])
            for r in rows:
                t0 = r["samples"][0][0] if r["samples"] else 0
                for t, s in r["samples"]:
                    w.writerow(
                        [
                            r["size"],
                            round(t - t0, 2),
                            round(s.get("VmRSS", 0) / MiB, 1),
                            round(s.get("RssAnon", 0) / MiB, 1),
                            round(s.get("RssFile", 0) / MiB, 1),
                        ]
                    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "cpu_count": os.cpu_count(),
                    "worker_env": worker_env,
                    "sizes": [
                        {
                            "chunks": r["size"],
                            "model_rss": r["model"].get("VmRSS", 0),
                            "peak": r["peak"],
                            "hwm": r["hwm"],
                            "end_rss": r["end"].get("VmRSS", 0),
                            "store_bytes": r["store"],
                            "store_resident": r["resident"],
                            "server_peak_rss": r["server_peak"],
                            "ingest_s": r["wall_s"],
                            "rss_max_so_far_10_25_50_75_100pct": r["so_far"],
                        }
                        for r in rows
                    ],
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
