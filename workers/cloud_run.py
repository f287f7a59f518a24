"""Workers on Google Cloud Run: a worker pool (no HTTP) or a service (health endpoint on $PORT).

    python -m ragstate.workers.cloud_run                           # worker pool: roles workflows,llm
    python -m ragstate.workers.cloud_run --roles embeddings        # an embedding worker pool (image embeddings-*)
    python -m ragstate.workers.cloud_run --service                 # service: GET /healthz on $PORT (default 8080)

Worker pools are Cloud Run's shape for pull-based work such as a Temporal worker; a service
works too when its CPU is always allocated and it keeps an instance (see deploy/cloudrun/).

- Identity: on Cloud Run (``CLOUD_RUN_WORKER_POOL`` or ``K_SERVICE`` set) the client carries
  temporalio's ``CloudRunIdPlugin``: the worker identity is ``<instance id>@<revision>``, so the
  UI's pollers and activity attempts name the instance and revision that ran them. Without the
  metadata server (a local run with those variables set) the host name stands in for the
  instance id.
- ``--otel``: temporalio's Cloud Run OpenTelemetry plugin (metrics and traces to an OTLP
  collector sidecar on localhost:4317; needs ``temporalio[cloud-run-worker-otel]``).
- ``/healthz`` answers 200 while every worker polls, 503 while starting or draining.
- SIGTERM: polling stops at once, in-flight activities get ``RAGSTATE_WORKER_SHUTDOWN_GRACE_S``
  (keep it under Cloud Run's 10 s between SIGTERM and SIGKILL), then the process exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
from collections.abc import Sequence

from temporalio.worker import Worker

from ragstate.settings import Settings
from ragstate.temporal.connection import connect as temporal_connect
from ragstate.workers.light import LIGHT_ROLES
from ragstate.workers.registry import ALL_ROLES, add_roles_option
from ragstate.workers.runtime import (
    RUNNING,
    STARTING,
    STOPPED,
    configure_logging,
    entry_point_parser,
    run_and_exit,
    serve,
)

log = logging.getLogger("ragstate.worker")

CLOUD_RUN_ENV = ("CLOUD_RUN_WORKER_POOL", "K_SERVICE")


def on_cloud_run(environ=os.environ) -> bool:
    return any(environ.get(name) for name in CLOUD_RUN_ENV)


def cloud_run_id_plugin(timeout: float = 2.0):
    """temporalio's CloudRunIdPlugin with the instance metadata read now; the host name stands in
    for the instance id when the metadata server is out of reach."""
    from temporalio.contrib.gcp.cloud_run.id import (
        CloudRunIdPlugin,
        GoogleCloudRunMetadata,
        get_google_cloud_run_metadata,
    )

    try:
        metadata = get_google_cloud_run_metadata(timeout=timeout)
    except RuntimeError as e:
        log.warning("%s; using the host name as the instance id", e)
        metadata = GoogleCloudRunMetadata(
            instance_id=socket.gethostname(),
            name=os.environ.get("CLOUD_RUN_WORKER_POOL") or os.environ.get("K_SERVICE") or "",
            revision=os.environ.get("CLOUD_RUN_REVISION") or os.environ.get("K_REVISION") or "",
        )
    return CloudRunIdPlugin(metadata=metadata)


class Health:
    """What /healthz reports: the worker state, and whether every worker is polling."""

    def __init__(self, roles: Sequence[str]):
        self.roles = list(roles)
        self.state = STARTING
        self.workers: list[Worker] = []
        self.identity = ""

    def on_state(self, state: str, workers: list[Worker]) -> None:
        self.state, self.workers = state, list(workers)
        log.info("worker %s", state)

    def status(self) -> tuple[int, dict]:
        polling = self.state == RUNNING and bool(self.workers) and all(w.is_running for w in self.workers)
        shown = self.state if self.state != RUNNING or polling else STARTING
        return (200 if polling else 503), {"status": shown, "roles": self.roles, "identity": self.identity}


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


async def _handle(health: Health, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request = await asyncio.wait_for(reader.readline(), timeout=5)
        while await asyncio.wait_for(reader.readline(), timeout=5) not in (b"\r\n", b"\n", b""):
            pass  # headers: nothing in them matters here
        method, path, *_ = [*request.decode("latin-1").split(), "", ""]
        path = path.split("?", 1)[0]
        if path not in ("/healthz", "/"):
            code, body = 404, {"error": "not found"}
        elif method not in ("GET", "HEAD"):
            code, body = 405, {"error": "GET or HEAD"}
        else:
            code, body = health.status()
        payload = json.dumps(body).encode()
        head = (
            f"HTTP/1.1 {code} {_REASONS[code]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + (b"" if method == "HEAD" else payload))
        await writer.drain()
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def start_health_server(health: Health, port: int, host: str = "0.0.0.0") -> asyncio.Server:
    return await asyncio.start_server(lambda r, w: _handle(health, r, w), host, port)


async def main(
    roles: Sequence[str],
    service: bool = False,
    port: int = 8080,
    cloud_run_id: bool | None = None,
    otel: bool = False,
    settings: Settings | None = None,
) -> None:
    settings = settings or Settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # also before the workers run: a SIGTERM while connecting
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    health = Health(roles)
    server = await start_health_server(health, port) if service else None
    if server:
        log.info("health endpoint on :%d/healthz", port)
    plugins: list = []
    if cloud_run_id if cloud_run_id is not None else on_cloud_run():
        plugins.append(await asyncio.to_thread(cloud_run_id_plugin))  # one HTTP GET to the metadata server
    otel_plugin = None
    if otel:
        try:
            from temporalio.contrib.gcp.cloud_run.opentelemetry import OpenTelemetryPlugin
        except ImportError as e:
            raise SystemExit(f"--otel needs temporalio[cloud-run-worker-otel] ({e})") from None
        otel_plugin = OpenTelemetryPlugin()
        plugins.append(otel_plugin)
    try:
        client = await temporal_connect(settings, plugins)
        health.identity = client.identity
        log.info(
            "Cloud Run worker %s serving %s on %s (namespace %s)",
            client.identity,
            list(roles),
            settings.temporal_address,
            settings.temporal_namespace,
        )
        if not stop.is_set():
            await serve(client, settings, roles, stop=stop, on_state=health.on_state)
    finally:
        if health.state != STOPPED:
            health.on_state(STOPPED, [])
        if server:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=2)
        if otel_plugin is not None:
            from datetime import timedelta

            await asyncio.to_thread(otel_plugin.shutdown, timedelta(seconds=2))


def parser() -> argparse.ArgumentParser:
    p = entry_point_parser("ragstate.workers.cloud_run", __doc__)
    add_roles_option(p, ALL_ROLES, LIGHT_ROLES)
    p.add_argument("--service", action="store_true", help="Cloud Run service: serve GET /healthz on --port")
    p.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT") or 8080),
        help="health endpoint port (default: $PORT, else 8080)",
    )
    p.add_argument(
        "--cloud-run-id",
        dest="cloud_run_id",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="worker identity from Cloud Run metadata (default: on when running on Cloud Run)",
    )
    p.add_argument("--otel", action="store_true", help="export metrics and traces to an OTLP collector sidecar")
    return p


def cli(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    configure_logging()
    run_and_exit(main(args.roles, service=args.service, port=args.port, cloud_run_id=args.cloud_run_id, otel=args.otel))


if __name__ == "__main__":
    cli()
