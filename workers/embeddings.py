"""The embedding worker: the model, on the CPU or a GPU, for VectorSearch and EmbedChunks.

    python -m ragstate.workers.embeddings --device cpu                # the embeddings queue
    python -m ragstate.workers.embeddings --device cuda --queue gpu   # the GPU queue (ingest batches first)
    python -m ragstate.workers.embeddings --device auto --queue both  # a GPU box serving both queues

The model (all-MiniLM-L6-v2, shipped in a wheel, never downloaded) is loaded once per process,
before the worker polls. ``EmbedChunks`` encodes ``RAGSTATE_EMBEDDING_BATCH_SIZE`` chunks per
forward pass. ``VectorSearch`` embeds one question; concurrent searches in this process share
forward passes (``Embedder.encode_query``, as in every worker that holds the model).

Queues: ``cpu`` is ``RAGSTATE_EMBEDDINGS_TASK_QUEUE`` (VectorSearch, and EmbedChunks when no
GPU takes it); ``gpu`` is ``RAGSTATE_GPU_EMBEDDINGS_TASK_QUEUE``, which ingests use first when
``RAGSTATE_GPU_EMBEDDINGS=true`` and leave for the CPU queue after
``RAGSTATE_GPU_FALLBACK_AFTER_S`` without a GPU worker.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from ragstate.settings import Settings
from ragstate.workers.registry import task_queue
from ragstate.workers.runtime import RUNNING, configure_logging, entry_point_parser, run_and_exit, serve

log = logging.getLogger("ragstate.worker")

QUEUE_ROLES = {"cpu": ["embeddings"], "gpu": ["gpu-embeddings"], "both": ["embeddings", "gpu-embeddings"]}


async def main(settings: Settings, roles: Sequence[str]) -> None:
    from ragstate.temporal.connection import connect

    client = await connect(settings)
    queues = [task_queue(settings, role) for role in roles]
    log.info("embedding worker on %s, device %s; loading the model", queues, settings.embedding_device)

    def on_state(state: str, _workers) -> None:
        if state == RUNNING:
            log.info("model loaded, polling %s", queues)

    await serve(client, settings, roles, on_state=on_state)


def parser() -> argparse.ArgumentParser:
    p = entry_point_parser("ragstate.workers.embeddings", __doc__)
    p.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, cuda:N or auto (CUDA when torch sees a GPU); default RAGSTATE_EMBEDDING_DEVICE",
    )
    p.add_argument(
        "--queue",
        choices=sorted(QUEUE_ROLES),
        default="cpu",
        help="cpu: the embeddings queue; gpu: the GPU queue; both (default: cpu)",
    )
    return p


def cli(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    configure_logging()
    from ragstate.retrieval.embedding import resolve_device

    settings = Settings(**({"embedding_device": args.device} if args.device else {}))
    if settings.embedding_device != "auto":  # auto needs torch to decide: checked when the model loads
        try:
            resolve_device(settings.embedding_device)
        except ValueError as e:
            raise SystemExit(f"error: {e}") from None
    if args.queue == "gpu" and settings.embedding_device == "cpu":
        log.warning("serving the GPU queue on the CPU: ingest batches meant for a GPU will embed slowly here")
    run_and_exit(main(settings, QUEUE_ROLES[args.queue]))


if __name__ == "__main__":
    cli()
