"""One process serving every task queue: the shape `ragstate up` runs on one machine.

python -m ragstate.workers.local                      # settings from RAGSTATE_* env
python -m ragstate.workers.local --roles workflows,llm
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from ragstate.settings import Settings
from ragstate.temporal.connection import connect
from ragstate.workers.registry import ALL_ROLES, ROLES, add_roles_option
from ragstate.workers.runtime import configure_logging, entry_point_parser, run_and_exit, serve


async def main(roles: Sequence[str]) -> None:
    settings = Settings()
    client = await connect(settings)
    logging.getLogger("ragstate").info("worker serving %s on %s", list(roles), settings.temporal_address)
    await serve(client, settings, roles)


def parser() -> argparse.ArgumentParser:
    p = entry_point_parser("ragstate.workers.local", __doc__)
    add_roles_option(p, ALL_ROLES, ROLES)
    return p


def cli(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    configure_logging()
    run_and_exit(main(args.roles))


if __name__ == "__main__":
    cli()
