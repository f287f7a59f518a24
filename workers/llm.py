"""The LLM worker: Synthesize on its own task queue, rate-limited.

    python -m ragstate.workers.llm                                    # caps from RAGSTATE_LLM_* settings
    python -m ragstate.workers.llm --max-concurrent 4 --rate-per-s 2  # flags override them

Two caps keep a scaled-out fleet under the provider's rate limit:

- ``--max-concurrent`` (``RAGSTATE_LLM_MAX_CONCURRENT``): LLM calls in flight in this process.
- ``--rate-per-s`` (``RAGSTATE_LLM_QUEUE_RATE_PER_S``): Synthesize starts per second on the
  task queue, enforced by the Temporal server across every LLM worker (the queue's
  ``max_task_queue_activities_per_second``). Unset: no server-side cap.

Synthesize waits on the network, so one small process serves many calls; no torch here.
Retries (429/529/5xx, honouring ``retry-after``) are Temporal's, visible in the UI.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from ragstate.settings import Settings
from ragstate.workers.runtime import configure_logging, entry_point_parser, run_and_exit, serve

log = logging.getLogger("ragstate.worker")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def settings_from_args(args: argparse.Namespace) -> Settings:
    """RAGSTATE_* settings with the flags given on the command line taking precedence."""
    overrides = {"llm_max_concurrent": args.max_concurrent, "llm_queue_rate_per_s": args.rate_per_s}
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


async def main(settings: Settings) -> None:
    from ragstate.temporal.connection import connect

    client = await connect(settings)
    log.info(
        "LLM worker on %s: at most %d calls in flight here, queue rate %s",
        settings.llm_task_queue,
        settings.llm_max_concurrent,
        f"{settings.llm_queue_rate_per_s}/s" if settings.llm_queue_rate_per_s else "unlimited",
    )
    await serve(client, settings, ["llm"])


def parser() -> argparse.ArgumentParser:
    p = entry_point_parser("ragstate.workers.llm", __doc__)
    p.add_argument(
        "--max-concurrent",
        type=_positive_int,
        default=None,
        help="LLM calls in flight in this worker (default: RAGSTATE_LLM_MAX_CONCURRENT, 8)",
    )
    p.add_argument(
        "--rate-per-s",
        type=_positive_float,
        default=None,
        help="server-side cap on Synthesize starts per second across all LLM workers "
        "(default: RAGSTATE_LLM_QUEUE_RATE_PER_S, unset)",
    )
    return p


def cli(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    configure_logging()
    run_and_exit(main(settings_from_args(args)))


if __name__ == "__main__":
    cli()
