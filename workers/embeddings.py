"""The embedding worker: the model, on the CPU or a GPU, for VectorSearch and EmbedChunks.

    python -m workers.embeddings --device cpu                # the embeddings queue
    python -m workers.embeddings --device cuda --queue gpu   # the GPU queue (ingest batches first)
    python -m workers.embeddings --device auto --queue both  # a GPU box serving both queues

The model (all-MiniLM-L6-v2, shipped in a wheel, never downloaded) is loaded once per process,
before the worker polls. ``EmbedChunks`` encodes ``RAGSTATE_EMBEDDING_BATCH_SIZE`` chunks per
forward pass. ``VectorSearch`` embeds one question; concurrent searches in this process share
forward passes through :class:`QueryBatcher` (``--no-query-batching`` turns it off).

Queues: ``cpu`` is ``RAGSTATE_EMBEDDINGS_TASK_QUEUE`` (VectorSearch, and EmbedChunks when no
GPU takes it); ``gpu`` is ``RAGSTATE_GPU_EMBEDDINGS_TASK_QUEUE``, which ingests use first when
``RAGSTATE_GPU_EMBEDDINGS=true`` and leave for the CPU queue after
``RAGSTATE_GPU_FALLBACK_AFTER_S`` without a GPU worker.
"""

from __future__ import annotations

import argparse
import collections
import logging
import threading
from typing import Callable, Sequence

from activities.embeddings import EmbeddingActivities
from ragstate.settings import Settings
from workers.runtime import run_and_exit, serve

log = logging.getLogger("ragstate.worker")

QUEUE_ROLES = {"cpu": ["embeddings"], "gpu": ["gpu-embeddings"], "both": ["embeddings", "gpu-embeddings"]}
#: Most questions one forward pass takes; more wait for the next pass.
DEFAULT_MAX_QUERY_BATCH = 32


class _Request:
    __slots__ = ("text", "done", "vector", "error")

    def __init__(self, text: str):
        self.text = text
        self.done = threading.Event()
        self.vector: list[float] | None = None
        self.error: BaseException | None = None


class QueryBatcher:
    """Encodes single texts from many threads in shared forward passes.

    There is no waiting window: a question that arrives while the model is idle is encoded at
    once (no added latency at low load); questions that arrive while a pass runs are encoded
    together in the next one, up to ``max_batch``. One daemon thread owns the model calls.
    ``encode`` takes a list of texts and returns one vector per text, in order.
    """

    def __init__(self, encode: Callable[[list[str]], list[list[float]]], max_batch: int = DEFAULT_MAX_QUERY_BATCH):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._encode = encode
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        #: Number of texts in each of the last 1000 forward passes.
        self.batch_sizes: collections.deque[int] = collections.deque(maxlen=1000)

    def encode_one(self, text: str) -> list[float]:
        request = _Request(text)
        with self._cond:
            if self._closed:
                raise RuntimeError("QueryBatcher is closed")
            self._pending.append(request)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ragstate-query-batcher", daemon=True)
                self._thread.start()
            self._cond.notify()
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.vector is not None
        return request.vector

    def close(self) -> None:
        """Finish the questions already queued, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch:]
            self.batch_sizes.append(len(batch))
            try:
                vectors = self._encode([r.text for r in batch])
                if len(vectors) != len(batch):
                    raise RuntimeError(f"encoder returned {len(vectors)} vectors for {len(batch)} texts")
            except BaseException as e:  # noqa: BLE001 - handed to every waiting caller
                for r in batch:
                    r.error = e
                    r.done.set()
                continue
            for r, v in zip(batch, vectors):
                r.vector = v
                r.done.set()


class _BatchingEmbedder:
    """The embedder interface (``encode(texts, batch_size)``): one text goes through the batcher,
    several go straight to the model."""

    def __init__(self, model: Callable[[], object], batcher: QueryBatcher):
        self._model, self.batcher = model, batcher

    def encode(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        if len(texts) == 1:
            return [self.batcher.encode_one(texts[0])]
        return self._model().encode(texts, batch_size=batch_size)


class BatchedEmbeddingActivities(EmbeddingActivities):
    """The embedding activities whose single-question encodes share forward passes.

    Pass ``.vector_search`` to ``build_workers(replace=...)``: same activity name, same code,
    only the embedder differs.
    """

    def __init__(self, settings: Settings, max_batch: int = DEFAULT_MAX_QUERY_BATCH,
                 model: Callable[[], object] | None = None):
        super().__init__(settings)
        if model is None:
            from ragstate.embedding import get_embedder

            def model():
                return get_embedder(settings.embedding_device)

        self.batcher = QueryBatcher(lambda texts: model().encode(texts, batch_size=max_batch), max_batch)
        self._batching = _BatchingEmbedder(model, self.batcher)

    @property
    def embedder(self):
        return self._batching


def replacements(settings: Settings, query_batching: bool = True) -> list[Callable]:
    """What an embedding worker swaps into ``build_workers``: the batched VectorSearch."""
    return [BatchedEmbeddingActivities(settings).vector_search] if query_batching else []


async def main(settings: Settings, roles: Sequence[str], query_batching: bool = True) -> None:
    from ragstate.temporal import connect

    client = await connect(settings)
    queues = [settings.embeddings_task_queue if r == "embeddings" else settings.gpu_embeddings_task_queue
              for r in roles]
    log.info("embedding worker on %s, device %s, query batching %s; loading the model", queues,
             settings.embedding_device, "on" if query_batching else "off")

    def on_state(state: str, _workers) -> None:
        if state == "running":
            log.info("model loaded, polling %s", queues)

    await serve(client, settings, roles, replace=replacements(settings, query_batching), on_state=on_state)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m workers.embeddings", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None,
                   help="cpu, cuda, cuda:N or auto (CUDA when torch sees a GPU); default RAGSTATE_EMBEDDING_DEVICE")
    p.add_argument("--queue", choices=sorted(QUEUE_ROLES), default="cpu",
                   help="cpu: the embeddings queue; gpu: the GPU queue; both (default: cpu)")
    p.add_argument("--no-query-batching", dest="query_batching", action="store_false",
                   help="encode each VectorSearch question on its own")
    return p


def cli(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ragstate.embedding import resolve_device

    settings = Settings(**({"embedding_device": args.device} if args.device else {}))
    if settings.embedding_device != "auto":  # auto needs torch to decide: checked when the model loads
        try:
            resolve_device(settings.embedding_device)
        except ValueError as e:
            raise SystemExit(f"error: {e}") from None
    if args.queue == "gpu" and settings.embedding_device == "cpu":
        log.warning("serving the GPU queue on the CPU: ingest batches meant for a GPU will embed slowly here")
    run_and_exit(main(settings, QUEUE_ROLES[args.queue], args.query_batching))


if __name__ == "__main__":
    cli()
