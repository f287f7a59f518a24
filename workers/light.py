"""The light worker: workflows and LLM calls, never torch or sentence-transformers.

    python -m ragstate.workers.light                      # roles workflows,llm; settings from RAGSTATE_* env
    python -m ragstate.workers.light --roles workflows    # when LLM workers run on their own (ragstate.workers.llm)

Stateless: run as many as you like against one Temporal namespace and one Qdrant server
(``RAGSTATE_STORE_BACKEND=qdrant``); the model lives in embedding workers (``ragstate.workers.embeddings``).
Its cold start (interpreter, imports, client, workers built) is measured by ``bench/cold_start.py``.

"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from temporalio.worker import Worker

from ragstate.settings import Settings
from ragstate.workers.registry import add_roles_option
from ragstate.workers.runtime import RUNNING, configure_logging, entry_point_parser, run_and_exit, serve

log = logging.getLogger("ragstate.worker")

LIGHT_ROLES = ("workflows", "llm")
#: Modules a light worker must never load (hundreds of MB, seconds of import).
HEAVY_MODULES = ("torch", "sentence_transformers", "transformers")


def heavy_modules_loaded() -> list[str]:
    """The heavy modules this process has imported (empty for a light worker)."""
    return [name for name in HEAVY_MODULES if name in sys.modules]


def _warn_if_heavy(state: str, _workers: list[Worker]) -> None:
    if state == RUNNING and (loaded := heavy_modules_loaded()):
        log.warning("light worker imported %s: check the imports of the workflow and LLM activities", ", ".join(loaded))


async def main(roles: Sequence[str] = LIGHT_ROLES, settings: Settings | None = None) -> None:
    from ragstate.temporal.connection import connect

    settings = settings or Settings()
    client = await connect(settings)
    log.info(
        "light worker serving %s on %s (namespace %s)",
        list(roles),
        settings.temporal_address,
        settings.temporal_namespace,
    )
    await serve(client, settings, roles, on_state=_warn_if_heavy)


def parser() -> argparse.ArgumentParser:
    p = entry_point_parser("ragstate.workers.light", __doc__)
    add_roles_option(p, LIGHT_ROLES, LIGHT_ROLES)
    return p


def cli(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    configure_logging()
    run_and_exit(main(args.roles))


if __name__ == "__main__":
    cli()
