"""One process serving every task queue: the shape `ragstate up` runs on one machine.

    python -m ragstate.workers.local                      # settings from RAGSTATE_* env
    python -m ragstate.workers.local --roles workflows,llm
"""

from __future__ import annotations

import argparse
import logging

from ragstate.settings import Settings
from ragstate.temporal import connect
from ragstate.workers.runtime import ROLES, run_and_exit, serve


async def main(roles: list[str]) -> None:
    settings = Settings()
    client = await connect(settings)
    logging.getLogger("ragstate").info("worker serving %s on %s", roles, settings.temporal_address)
    await serve(client, settings, roles)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roles", default=",".join(ROLES), help=f"comma-separated subset of {','.join(ROLES)}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_and_exit(main([r.strip() for r in args.roles.split(",") if r.strip()]))
