"""Ending a process that holds a Temporal client or worker.

Example::

    try:
        asyncio.run(main())
    finally:
        exit_now(0)
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn


def exit_code(e: SystemExit) -> int:
    """The process exit code a ``SystemExit`` asks for; a message instead of a code is printed
    to stderr and exits 1, as the interpreter would."""
    if isinstance(e.code, int) or e.code is None:
        return e.code or 0
    print(e.code, file=sys.stderr)
    return 1


def exit_now(code: int) -> NoReturn:
    """Flush the logs and standard streams, then leave at once with ``code``.

    Why not a normal exit: the Temporal core's native threads can still call into Python while
    the interpreter finalises, aborting the process with "PyGILState_Release: thread state must
    be current" (SIGABRT instead of the exit code; temporalio/sdk-python#300). A CLI would report
    a crash, an orchestrator would restart a worker that drained cleanly."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stream: nothing left to save
            stream.flush()
    os._exit(code)
