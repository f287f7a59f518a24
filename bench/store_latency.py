"""Store search latency on synthetic chunks: p50/p99 of dense, keyword and hybrid queries.

    python bench/store_latency.py --sizes 100000,1000000 --backends edge,qdrant-local \
        --queries 200 --out store_latency.json

Smoke run (a minute or so)::

    python bench/store_latency.py --sizes 10000 --queries 50

Old layout against the new default, one invocation (``--layouts``, see below)::

    python bench/store_latency.py --sizes 100000 --backends edge --layouts legacy,default

The issue-24 run: both sizes, fresh questions after an idle minute, then the query workflow::

    python bench/store_latency.py --sizes 100000,1000000 --backends edge --layouts default,int8/disk/1 \
        --optimize-every 100000 --idle-before-queries 90 --workflow-questions 100

What it measures, per backend and collection size:

* Layouts (``--layouts``, comma-separated; each runs as its own child): how the collection is
  created (:class:`ragstate.store.layout.StoreLayout`),
  ``QUANTIZATION/disk|warm|warm16|ram[/OVERSAMPLING]``: ``int8/warm16/1`` (the default: int8
  vectors in RAM, float16 originals and payloads mapped and read ahead, the sparse index mapped
  on use, dense candidates rescored from the originals at the limit), ``int8/disk/1`` (the
  originals and payloads read on first use), ``none/ram`` (the layout before: float32 and the
  sparse index in RAM), ``binary/disk/4``, ...; ``default`` and ``legacy`` name the first and
  the last.
* Backends: ``edge`` is the embedded default (:class:`ragstate.store.edge.EdgeStore`, the
  Qdrant engine in-process through ``qdrant-edge-py``); ``qdrant-local`` is
  :class:`ragstate.store.qdrant_server.QdrantServerStore` on ``qdrant-client``'s local mode
  (``connect(path=...)``, pure Python/numpy). The calls timed are the project's own
  ``search_dense`` and ``search_sparse``, so hit conversion (``SearchHit``) is included.
* Data (seeded, identical for every backend): ``size`` chunks of 5 per synthetic document,
  payload as the engine writes it (doc_id, version, title, text cut to ``--text-chars``,
  source, position), ids from ``chunk_id``. Text is 60-120 words drawn from a Zipf-Mandelbrot
  distribution (s=1, q=2.7) over ~30k pseudo-words, so posting lengths and IDF look like text;
  the BM25 sparse vector is ``Bm25Encoder().encode_document(indexed_text(title, text))``.
  Dense vectors are 384-dim, unit-normalised float32, drawn around ``--clusters`` random
  centroids (cosine to the centroid ~0.7; ``--clusters 0``: uniform on the sphere, the
  hardest case for HNSW). Points are upserted ``--batch`` at a time with their dense vector
  (the engine writes sparse first and adds dense with ``set_dense``; both end in the same
  segments). The edge store is then ``optimize()``d, as the engine does after every ingest.
* Queries: fresh vectors from the same distribution; keyword queries of 3-6 Zipf words through
  ``encode_query``. Every query asks for ``--limit`` hits (default 50: the engine's
  ``search_depth`` when the figures in docs/performance.md were taken; it is now 100). "hybrid" is what one engine query costs in the store: a dense search and
  a keyword search, each limit 50, run one after the other in one thread, then
  ``reciprocal_rank_fusion`` of the two id lists (the engine runs the two branches as
  parallel activities, so its wall time can be lower; the CPU work is this).
* Latency: after ``--warmup`` queries of each kind, ``--queries`` queries of each kind
  (qdrant-local: at most ``--local-queries``), the three kinds interleaved, single thread,
  perf_counter around each call; p50/p99/mean/max in ms. With 200 queries p99 is about the
  2nd-slowest call. Other load on the machine shows up in p99 first: note the load average.
* Quality: recall@10 and recall@limit of the dense results (the timed ones) against exact
  brute-force cosine in numpy, on the first ``--recall-sample`` queries; the exact top-k is
  accumulated batch by batch while loading, so no copy of the vectors is kept.
* Cost: generation time (text, BM25 encoding, vectors), upsert time, optimize time, the
  segment count, RSS after load / after optimize / peak (VmHWM: the whole run, mapped file
  pages included), the peaks of its anonymous and file-backed parts (sampled every 50 ms by the
  driver; file pages are the OS page cache mapped in, which the kernel can take back), and disk
  use of the store directory.

Each backend/size runs in its own child process (clean memory figures) in a fresh temporary
directory that is removed afterwards. Combinations not run are printed as "skipped: <reason>".
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ragstate.retrieval.analyzer import STOP_WORDS, analyze  # noqa: E402
from ragstate.retrieval.bm25 import Bm25Encoder  # noqa: E402
from ragstate.retrieval.fusion import reciprocal_rank_fusion  # noqa: E402
from ragstate.store.layout import LEGACY, StoreLayout  # noqa: E402
from ragstate.store.records import ChunkRecord, chunk_id, indexed_text  # noqa: E402

DIM = 384
CHUNKS_PER_DOC = 5
VERSION = "v1-bench0"
DENSE = "dense"
KINDS = (DENSE, "keyword", "hybrid")
#: Measured with ``--no-rescore-too`` on a quantized layout: dense ranked by the quantized vectors
#: alone (the originals never read), on its own fresh questions.
NO_RESCORE = "dense-norescore"
#: Measured after the others: the dense questions asked a second time (pages their first search
#: faulted in are mapped now), to show how much of a fresh search is first touches.
REPEATED = "dense-repeated"
BACKENDS = ("edge", "qdrant-local")


# --- synthetic corpus ----------------------------------------------------------------------------

_ONSETS = [
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "z",
    "br",
    "cl",
    "dr",
    "fl",
    "gr",
    "pl",
    "st",
    "tr",
    "sh",
    "ch",
    "th",
    "sp",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou"]
_CODAS = ["", "", "", "n", "r", "l", "s", "t", "m", "x", "nd", "st"]


class Corpus:
    """Deterministic synthetic chunks; batch ``b`` depends only on (seed, b)."""

    def __init__(self, seed: int, vocab_size: int, clusters: int, text_chars: int, batch: int):
        self.seed, self.clusters, self.text_chars, self.batch = seed, clusters, text_chars, batch
        self.bm25 = Bm25Encoder()
        self.words = self._vocabulary(vocab_size)
        ranks = np.arange(1, len(self.words) + 1, dtype=np.float64)
        p = 1.0 / (ranks + 2.7)  # Zipf-Mandelbrot, s = 1
        self.cdf = np.cumsum(p / p.sum())
        rng = np.random.default_rng([seed, 0])
        self.centroids = _unit(rng.standard_normal((clusters, DIM), dtype=np.float32)) if clusters else None

    def _vocabulary(self, n: int) -> np.ndarray:
        """``n`` pseudo-words, each analysing to one stem of its own (no stop words)."""
        rng = np.random.default_rng([self.seed, 9])
        words, stems = [], set()
        while len(words) < n:
            syl = int(rng.integers(1, 4))
            w = "".join(
                _ONSETS[rng.integers(len(_ONSETS))]
                + _VOWELS[rng.integers(len(_VOWELS))]
                + _CODAS[rng.integers(len(_CODAS))]
                for _ in range(syl)
            )
            if w in STOP_WORDS:
                continue
            a = analyze(w)
            if len(a) != 1 or a[0] in stems:
                continue
            stems.add(a[0])
            words.append(w)
        return np.array(words, dtype=object)

    def zipf_words(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.words[np.minimum(np.searchsorted(self.cdf, rng.random(n)), len(self.words) - 1)]

    def vectors(self, rng: np.random.Generator, n: int) -> np.ndarray:
        noise = rng.standard_normal((n, DIM), dtype=np.float32)
        if self.centroids is None:
            return _unit(noise)
        c = self.centroids[rng.integers(0, self.clusters, n)]
        return _unit(c + noise / np.float32(np.sqrt(DIM)))

    def batch_records(self, b: int, size: int) -> tuple[list[ChunkRecord], np.ndarray]:
        start = b * self.batch
        n = min(self.batch, size - start)
        rng = np.random.default_rng([self.seed, 1, b])
        lengths = rng.integers(60, 121, n)
        words = self.zipf_words(rng, int(lengths.sum()))
        title_words = self.zipf_words(rng, 3 * n)
        vecs = self.vectors(rng, n)
        records, off = [], 0
        for j in range(n):
            i = start + j
            doc, pos = divmod(i, CHUNKS_PER_DOC)
            doc_id = f"doc-{doc:07d}"
            title = " ".join(title_words[3 * j : 3 * j + 3]).title()
            text = " ".join(words[off : off + lengths[j]])
            off += lengths[j]
            records.append(
                ChunkRecord(
                    chunk_id=chunk_id(doc_id, VERSION, pos),
                    doc_id=doc_id,
                    version=VERSION,
                    title=title,
                    text=text[: self.text_chars],
                    source=f"synthetic/source-{doc % 16:02d}.txt",
                    position=pos,
                    sparse=self.bm25.encode_document(indexed_text(title, text)),
                    dense=vecs[j].tolist(),
                )
            )
        return records, vecs

    def queries(self, n: int):
        rng = np.random.default_rng([self.seed, 2])
        vecs = self.vectors(rng, n)
        texts = [" ".join(self.zipf_words(rng, int(rng.integers(3, 7)))) for _ in range(n)]
        return vecs, texts

    @staticmethod
    def id_of(i: int) -> str:
        doc, pos = divmod(i, CHUNKS_PER_DOC)
        return chunk_id(f"doc-{doc:07d}", VERSION, pos)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class ExactTopK:
    """Running exact top-k (cosine = dot on unit vectors) of a few queries over all batches."""

    def __init__(self, queries: np.ndarray, k: int):
        self.q, self.k = queries, k
        self.scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
        self.idx = np.zeros((len(queries), 0), dtype=np.int64)

    def add(self, vecs: np.ndarray, start: int) -> None:
        s = np.concatenate([self.scores, self.q @ vecs.T], axis=1)
        ids = np.concatenate(
            [self.idx, np.broadcast_to(np.arange(start, start + len(vecs)), (len(self.q), len(vecs)))], axis=1
        )
        k = min(self.k, s.shape[1])
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        self.scores, self.idx = np.take_along_axis(s, top, 1), np.take_along_axis(ids, top, 1)

    def ranked(self) -> list[list[int]]:
        order = np.argsort(-self.scores, axis=1)
        return np.take_along_axis(self.idx, order, 1).tolist()


# --- measurement (child process) -----------------------------------------------------------------


def _status_mb(field: str, pid: int | str = "self") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    if field == "VmHWM" and pid == "self":
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(kb / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)
    return None


class RssSampler:
    """Peak resident memory of a child process split into anonymous (heap) and file-backed
    (mapped files) pages, polled from /proc/PID/status by a thread of the driver (the kernel
    keeps only the total's peak; a thread in the child would wait for the GIL while the engine
    optimizes)."""

    FIELDS = ("VmRSS", "RssAnon", "RssFile")

    def __init__(self, pid: int, every_s: float = 0.05):
        self.pid = pid
        self.peak = dict.fromkeys(self.FIELDS, 0.0)
        self._every, self._stop = every_s, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for field in self.FIELDS:
            v = _status_mb(field, self.pid)
            if v is not None and v > self.peak[field]:
                self.peak[field] = v

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._sample()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


def _layout(spec: str) -> StoreLayout:
    return {"default": StoreLayout(), "legacy": LEGACY}.get(spec.strip().lower()) or StoreLayout.parse(spec)


def _disk_mb(path: Path) -> float:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_blocks * 512
        except OSError:
            pass
    return round(total / 2**20, 1)


def _log(msg: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _open(backend: str, workdir: Path, layout: StoreLayout):
    if backend == "edge":
        from ragstate.store.edge import EdgeStore

        # Where the engine keeps collection "bench" of data dir workdir/data (store_workflow.py).
        return EdgeStore(workdir / "data" / "qdrant-edge" / "bench", dim=DIM, layout=layout), None
    from ragstate.store.qdrant_server import QdrantServerStore, connect

    client = connect(path=str(workdir / "local"))  # local mode: the layout is recorded, not applied
    return QdrantServerStore(client, "bench", dim=DIM, layout=layout), client


def _stats(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {
        "n": len(a),
        "p50_ms": float(np.percentile(a, 50)),
        "p99_ms": float(np.percentile(a, 99)),
        "mean_ms": float(a.mean()),
        "max_ms": float(a.max()),
    }


def run_one(backend: str, size: int, workdir: Path, a, layout: StoreLayout) -> dict:
    n_queries = min(a.queries, a.local_queries) if backend == "qdrant-local" else a.queries
    t = time.perf_counter()
    corpus = Corpus(a.seed, a.vocab, a.clusters, a.text_chars, a.batch)
    # Each kind gets its own questions, each asked once: a repeated vector finds the pages its
    # first search faulted in, which made a kind that ran second look faster than real traffic.
    per_kind = a.warmup + n_queries
    qvecs, qtexts = corpus.queries((len(KINDS) + 1) * per_kind)
    bm25 = corpus.bm25
    sparse_q = [bm25.encode_query(s) for s in qtexts]
    dense_q = [v.tolist() for v in qvecs]
    n_recall = min(a.recall_sample, n_queries)
    exact = ExactTopK(qvecs[a.warmup : a.warmup + n_recall], a.limit)
    norescore_from = 3 * per_kind + a.warmup
    exact_norescore = ExactTopK(qvecs[norescore_from : norescore_from + n_recall], a.limit)
    out = {
        "backend": backend,
        "layout": layout.label,
        "size": size,
        "setup_s": time.perf_counter() - t,
        "rss_before_mb": _status_mb("VmRSS"),
    }
    _log(f"{backend} {layout.label} @ {size}: vocabulary and queries ready ({out['setup_s']:.1f} s)")

    store, client = _open(backend, workdir, layout)
    gen_s = upsert_s = 0.0
    n_batches = -(-size // a.batch)
    t_load = time.perf_counter()
    next_report = 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # qdrant-client local mode warns above 20k points
        for b in range(n_batches):
            t0 = time.perf_counter()
            records, vecs = corpus.batch_records(b, size)
            exact.add(vecs, b * a.batch)
            exact_norescore.add(vecs, b * a.batch)
            t1 = time.perf_counter()
            store.upsert(records)
            if a.optimize_every and (b + 1) * a.batch % a.optimize_every == 0 and b + 1 < n_batches:
                store.optimize()  # an ingest of --optimize-every chunks ends (counted as upsert time)
            t2 = time.perf_counter()
            gen_s += t1 - t0
            upsert_s += t2 - t1
            if (b + 1) / n_batches >= next_report:
                _log(
                    f"{backend} @ {size}: loaded {min(size, (b + 1) * a.batch)}/{size} "
                    f"(gen {gen_s:.0f} s, upsert {upsert_s:.0f} s)"
                )
                next_report += 0.1
    out.update(
        gen_s=gen_s, upsert_s=upsert_s, load_wall_s=time.perf_counter() - t_load, rss_after_load_mb=_status_mb("VmRSS")
    )
    t0 = time.perf_counter()
    store.optimize()  # a no-op for qdrant-client (servers index in the background)
    out["optimize_s"] = time.perf_counter() - t0
    out["rss_after_optimize_mb"] = _status_mb("VmRSS")
    if backend == "edge":
        info = store._shard.info()  # reporting only
        out.update(segments=info.segments_count, points=info.points_count, indexed_vectors=info.indexed_vectors_count)
    else:
        out["points"] = store.counts().chunks
    _log(f"{backend} @ {size}: optimize {out['optimize_s']:.1f} s; querying ({n_queries} per kind)")
    if a.idle_before_queries:
        # A collection is rarely asked the moment its ingest ends. Meanwhile the OS may take back
        # its file pages (this machine's kernel pages out what sat 60 s untouched), so the
        # first searches read them from disk again: this is the idle that shows it.
        _log(f"{backend} @ {size}: idle {a.idle_before_queries:.0f} s before querying")
        time.sleep(a.idle_before_queries)

    limit = a.limit

    def dense(i):
        return store.search_dense(dense_q[i], limit)

    def keyword(i):
        return store.search_sparse(sparse_q[per_kind + i], limit)

    def hybrid(i):
        d = store.search_dense(dense_q[2 * per_kind + i], limit)
        k = store.search_sparse(sparse_q[2 * per_kind + i], limit)
        return reciprocal_rank_fusion([([h.chunk_id for h in d], 1.0), ([h.chunk_id for h in k], 1.0)], k=60)

    fns = {"dense": dense, "keyword": keyword, "hybrid": hybrid}
    kinds = list(KINDS)
    if a.no_rescore_too and layout.rescored:
        plain = store_search_params(backend, dataclasses.replace(layout, oversampling=0))

        def dense_norescore(i):
            # Both stores keep their search parameters in _search_params; the bench swaps them
            # for one call rather than widen search_dense for a measurement.
            kept, store._search_params = store._search_params, plain
            try:
                return store.search_dense(dense_q[3 * per_kind + i], limit)
            finally:
                store._search_params = kept

        fns[NO_RESCORE] = dense_norescore
        kinds.append(NO_RESCORE)
    out["loadavg_at_queries"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    for fn in fns.values():
        for i in range(a.warmup):
            fn(i)
    # Kinds interleaved (order rotated per query), so that load from other processes and cache
    # state fall on all three alike rather than on whichever kind happened to run first.
    ms = {k: [] for k in [*kinds, REPEATED]}
    n_hits = {k: [] for k in [*kinds, REPEATED]}
    results = {k: [] for k in kinds}
    n = len(kinds)
    faults = {k: [] for k in ms}  # (minor, major) page faults of the whole process per call

    def timed(kind: str, i: int):
        f0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter_ns()
        r = fns[kind](i)
        ms[kind].append((time.perf_counter_ns() - t0) / 1e6)
        f1 = resource.getrusage(resource.RUSAGE_SELF)
        faults[kind].append((f1.ru_minflt - f0.ru_minflt, f1.ru_majflt - f0.ru_majflt))
        n_hits[kind].append(len(r))
        return r

    for j, i in enumerate(range(a.warmup, a.warmup + n_queries)):
        for kind in kinds[j % n :] + kinds[: j % n]:
            r = timed(kind, i)
            if j < n_recall and kind in (DENSE, NO_RESCORE):
                results[kind].append([h.chunk_id for h in r])
    fns[REPEATED] = dense
    for i in range(a.warmup, a.warmup + n_queries):
        timed(REPEATED, i)
    lat = {
        k: _stats(ms[k])
        | {
            "mean_hits": float(np.mean(n_hits[k])),
            "minor_faults": float(np.mean([f[0] for f in faults[k]])),
            "major_faults": float(np.mean([f[1] for f in faults[k]])),
        }
        for k in ms
    }
    for k in ms:
        _log(f"{backend} @ {size}: {k} p50 {lat[k]['p50_ms']:.2f} ms p99 {lat[k]['p99_ms']:.2f} ms")
    out["latency"] = lat

    out["recall_sample"] = n_recall
    out.update(_recalls(corpus, exact, results[DENSE], limit))
    if NO_RESCORE in results:
        out[NO_RESCORE] = _recalls(corpus, exact_norescore, results[NO_RESCORE], limit)
    out["rss_after_queries_mb"] = _status_mb("VmRSS")
    out["rss_peak_mb"] = _status_mb("VmHWM")
    store.close()
    if client is not None:
        client.close()
    out["disk_mb"] = _disk_mb(workdir)
    return out


def _recalls(corpus: Corpus, exact: ExactTopK, found: list[list[str]], limit: int) -> dict:
    truth = [[corpus.id_of(i) for i in row] for row in exact.ranked()]
    k10 = min(10, limit)
    return {
        "recall_at_10": float(np.mean([len(set(g[:k10]) & set(t[:k10])) / k10 for g, t in zip(found, truth)])),
        f"recall_at_{limit}": float(np.mean([len(set(g) & set(t)) / len(t) for g, t in zip(found, truth)])),
    }


def store_search_params(backend: str, layout: StoreLayout):
    if backend == "edge":
        from ragstate.store.edge import search_params
    else:
        from ragstate.store.qdrant_server import search_params
    return search_params(layout)


# --- driver (parent process) ---------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _skip_reason(backend: str, size: int, a) -> str | None:
    if backend == "qdrant-local" and size > a.local_max:
        return (
            f"qdrant-client local mode is pure Python (brute-force dense, slow sparse) and keeps "
            f"everything in memory; {size} > --local-max {a.local_max}"
        )
    if backend == "edge" and a.edge_max and size > a.edge_max:
        return f"{size} > --edge-max {a.edge_max}"
    return None


def _child(backend: str, size: int, layout: str, a) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"ragstate-bench-{backend}-{size}-", dir=a.tmpdir))
    result_file = workdir / "result.json"
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--_child",
        backend,
        str(size),
        str(workdir),
        layout,
        *a.passthrough,
    ]
    t = time.perf_counter()
    try:
        child = subprocess.Popen(argv, cwd=ROOT)
        with RssSampler(child.pid) as sampler:
            rc = child.wait()
        if rc != 0 or not result_file.exists():
            return {"backend": backend, "layout": layout, "size": size, "failed": f"child exited with status {rc}"}
        res = json.loads(result_file.read_text())
        res["rss_anon_peak_mb"], res["rss_file_peak_mb"] = sampler.peak["RssAnon"], sampler.peak["RssFile"]
        res["wall_s"] = time.perf_counter() - t
        if a.workflow_questions and backend == "edge":
            res["workflow"] = _workflow_child(workdir, a)
        return res
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _workflow_child(workdir: Path, a) -> dict:
    """The same collection asked through the query workflow (bench/store_workflow.py), in a
    process of its own after the store's, so the model and the workers weigh on neither's memory."""
    out = workdir / "workflow.json"
    argv = [sys.executable, str(Path(__file__).with_name("store_workflow.py")), str(workdir / "data")]
    argv += [
        "--questions",
        str(a.workflow_questions),
        "--seed",
        str(a.seed),
        "--vocab",
        str(a.vocab),
        "--out",
        str(out),
    ]
    rc = subprocess.call(argv, cwd=ROOT)
    return json.loads(out.read_text()) if rc == 0 and out.exists() else {"failed": f"exited with status {rc}"}


def _print_report(header: dict, results: list[dict], limit: int) -> None:
    print()
    print("Runs (times in s, memory in MiB)")
    cols = [
        "backend",
        "layout",
        "size",
        "gen",
        "upsert",
        "optimize",
        "wall",
        "segments",
        "rss_load",
        "rss_opt",
        "rss_peak",
        "anon_peak",
        "file_peak",
        "disk",
        "recall@10",
        f"recall@{limit}",
    ]
    rows = []
    for r in results:
        if "skipped" in r or "failed" in r:
            continue
        rows.append(
            [
                r["backend"],
                r.get("layout", "-"),
                r["size"],
                f"{r['gen_s']:.1f}",
                f"{r['upsert_s']:.1f}",
                f"{r['optimize_s']:.1f}",
                f"{r['wall_s']:.0f}",
                r.get("segments", "-"),
                r["rss_after_load_mb"],
                r["rss_after_optimize_mb"],
                r["rss_peak_mb"],
                r.get("rss_anon_peak_mb", "-"),
                r.get("rss_file_peak_mb", "-"),
                r["disk_mb"],
                f"{r['recall_at_10']:.3f}",
                f"{r[f'recall_at_{limit}']:.3f}",
            ]
        )
    _table(cols, rows)
    print()
    print(f"Latency (ms, single thread, limit {limit}; hybrid = dense + keyword + RRF, sequential)")
    cols = ["backend", "layout", "size", "kind", "n", "p50", "p99", "mean", "max", "hits", "faults", "major"]
    rows = []
    for r in results:
        if "skipped" in r or "failed" in r:
            continue
        for kind, s in r["latency"].items():
            rows.append(
                [
                    r["backend"],
                    r.get("layout", "-"),
                    r["size"],
                    kind,
                    s["n"],
                    f"{s['p50_ms']:.2f}",
                    f"{s['p99_ms']:.2f}",
                    f"{s['mean_ms']:.2f}",
                    f"{s['max_ms']:.2f}",
                    f"{s['mean_hits']:.0f}",
                    f"{s.get('minor_faults', 0):.0f}",
                    f"{s.get('major_faults', 0):.1f}",
                ]
            )
    _table(cols, rows)
    for r in results:
        if "skipped" in r:
            print(f"{r['backend']} {r.get('layout', '')} @ {r['size']}: skipped: {r['skipped']}")
        elif "failed" in r:
            print(f"{r['backend']} {r.get('layout', '')} @ {r['size']}: FAILED: {r['failed']}")
    for r in results:
        wf = r.get("workflow")
        if wf and "failed" in wf:
            print(f"{r['backend']} {r['layout']} @ {r['size']}: query workflow FAILED: {wf['failed']}")
        elif wf:
            e, steps = wf["end_to_end"], wf["steps"]
            each = ", ".join(f"{k} {v['p50_ms']:.1f}" for k, v in steps.items())
            print(
                f"{r['backend']} {r['layout']} @ {r['size']}: query workflow end to end p50 {e['p50_ms']:.1f} ms, "
                f"p99 {e['p99_ms']:.1f} ms ({e['n']} questions; step p50s ms: {each}; answers {wf['modes']})"
            )
    for r in results:
        if NO_RESCORE in r:
            rec = r[NO_RESCORE]
            print(
                f"{r['backend']} {r['layout']} @ {r['size']}: without rescoring recall@10 "
                f"{rec['recall_at_10']:.3f}, recall@{limit} {rec[f'recall_at_{limit}']:.3f}"
            )
    for r in results:
        if r.get("loadavg_at_queries"):
            print(
                f"{r['backend']} {r['layout']} @ {r['size']}: load average when querying "
                f"{' '.join(f'{x:.2f}' for x in r['loadavg_at_queries'])} on {header['cpu_count']} cores"
            )
    for r in results:
        if r["backend"] == "edge" and r["size"] == 100_000 and "latency" in r:
            d, k = r["latency"]["dense"]["p50_ms"], r["latency"]["keyword"]["p50_ms"]
            ok = d <= 2.0 and k <= 2.0
            print(
                f"target edge @ 100000, p50 <= 2 ms dense and keyword: {'met' if ok else 'NOT met'} "
                f"(dense {d:.2f} ms, keyword {k:.2f} ms)"
            )
        if r["backend"] == "edge" and r["size"] >= 1_000_000 and "latency" in r:
            peak, d, rec = r["rss_peak_mb"], r["latency"]["dense"]["p50_ms"], r["recall_at_10"]
            ok = peak <= 5 * 1024 and rec >= 0.98 and d <= 5.0
            print(
                f"target edge {r['layout']} @ {r['size']}, peak RSS <= 5 GiB, recall@10 >= 0.98, dense p50 <= 5 ms: "
                f"{'met' if ok else 'NOT met'} (peak {peak / 1024:.2f} GiB, recall@10 {rec:.3f}, dense {d:.2f} ms)"
            )


def _table(cols: list[str], rows: list[list]) -> None:
    if not rows:
        print("  (nothing ran)")
        return
    rows = [[str(c) for c in row] for row in rows]
    w = [max([len(c)] + [len(row[i]) for row in rows]) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w[i]) if i < 3 else c.rjust(w[i]) for i, c in enumerate(cols)))
    for row in rows:
        print("  ".join(v.ljust(w[i]) if i < 3 else v.rjust(w[i]) for i, v in enumerate(row)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sizes", default="100000,1000000", help="comma-separated collection sizes (chunks)")
    p.add_argument("--backends", default=",".join(BACKENDS), help=f"comma-separated, of {', '.join(BACKENDS)}")
    p.add_argument("--queries", type=int, default=200, help="timed queries per kind")
    p.add_argument(
        "--local-queries",
        type=int,
        default=50,
        help="cap on timed queries per kind for qdrant-local (a keyword query there takes ~1.5 s at 100k)",
    )
    p.add_argument("--local-max", type=int, default=100_000, help="largest size run on qdrant-local")
    p.add_argument("--edge-max", type=int, default=0, help="largest size run on edge (0: no cap)")
    p.add_argument("--warmup", type=int, default=20, help="untimed queries per kind first")
    p.add_argument(
        "--idle-before-queries",
        type=float,
        default=0.0,
        help="seconds the collection sits untouched between optimize and the queries (page cache eviction)",
    )
    p.add_argument(
        "--workflow-questions",
        type=int,
        default=0,
        help="edge: then ask this many questions through the query workflow on the same collection",
    )
    p.add_argument(
        "--no-rescore-too",
        action="store_true",
        help=f"quantized layouts: also time dense search without rescoring ({NO_RESCORE}), with its recall",
    )
    p.add_argument("--limit", type=int, default=100, help="hits per search (the engine's default search_depth)")
    p.add_argument("--recall-sample", type=int, default=50, help="dense queries checked against brute force")
    p.add_argument("--batch", type=int, default=1000, help="points per upsert")
    p.add_argument(
        "--optimize-every",
        type=int,
        default=0,
        help="optimize() after every N chunks loaded, as the engine does after each ingest (0: once, at the end)",
    )
    p.add_argument("--clusters", type=int, default=1000, help="vector clusters (0: uniform random vectors)")
    p.add_argument("--vocab", type=int, default=30_000, help="vocabulary size")
    p.add_argument("--text-chars", type=int, default=200, help="text kept in the payload per chunk")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--tmpdir", default=None, help="where the temporary store directories go")
    p.add_argument("--out", default=None, help="write all figures as JSON here")
    p.add_argument(
        "--layouts",
        default="default",
        help="comma-separated collection layouts, QUANTIZATION/disk|ram[/OVERSAMPLING] "
        "(int8/disk, none/ram, binary/disk/4); default = int8/disk/1, legacy = none/ram",
    )
    p.add_argument("--_child", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.queries < 1 or a.local_queries < 1 or a.limit < 1 or a.batch < 1:
        p.error("--queries, --local-queries, --limit and --batch must be >= 1")
    return a


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = parse_args(argv)
    if a._child:
        backend, size, workdir = a._child[0], int(a._child[1]), Path(a._child[2])
        res = run_one(backend, size, workdir, a, _layout(a._child[3]))
        (workdir / "result.json").write_text(json.dumps(res))
        return 0

    sizes = [int(s.replace("_", "")) for s in a.sizes.split(",") if s.strip()]
    backends = [b.strip() for b in a.backends.split(",") if b.strip()]
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        raise SystemExit(f"unknown backend(s): {', '.join(sorted(unknown))}")
    layouts = [x.strip() for x in a.layouts.split(",") if x.strip()]
    try:
        for spec in layouts:
            _layout(spec)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    # The child gets the same options (it ignores --sizes/--backends; --out is the driver's).
    a.passthrough = [x for i, x in enumerate(argv) if not x.startswith("--out") and not (i and argv[i - 1] == "--out")]

    header = {
        "cpu_count": os.cpu_count(),
        "sched_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "qdrant-edge-py": _version("qdrant-edge-py"),
        "qdrant-client": _version("qdrant-client"),
        "numpy": _version("numpy"),
        "settings": {k: v for k, v in vars(a).items() if k not in ("_child", "passthrough", "out")},
    }
    print(
        f"cpu_count {header['cpu_count']} (usable {header['sched_affinity']}), load average "
        f"{' '.join(f'{x:.2f}' for x in header['loadavg'] or [])}"
    )
    print(
        f"python {header['python']}, qdrant-edge-py {header['qdrant-edge-py']}, "
        f"qdrant-client {header['qdrant-client']}, numpy {header['numpy']}; {header['platform']}"
    )
    print(
        f"sizes {sizes}, backends {backends}, layouts {layouts}, {a.queries} queries per kind "
        f"(qdrant-local: {min(a.queries, a.local_queries)}), limit {a.limit}, {a.clusters} clusters, seed {a.seed}"
    )
    sys.stdout.flush()

    results = []
    for size in sizes:
        for backend, layout in [(b, lay) for b in backends for lay in layouts]:
            reason = _skip_reason(backend, size, a)
            if reason:
                print(f"{backend} {layout} @ {size}: skipped: {reason}", flush=True)
                results.append({"backend": backend, "layout": layout, "size": size, "skipped": reason})
                continue
            print(f"{backend} {layout} @ {size}: running", flush=True)
            results.append(_child(backend, size, layout, a))
    _print_report(header, results, a.limit)
    if a.out:
        Path(a.out).write_text(json.dumps({"machine": header, "results": results}, indent=2))
        print(f"wrote {a.out}")
    return 0 if not any("failed" in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
