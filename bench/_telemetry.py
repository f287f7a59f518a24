"""Shared by the query benchmarks' ``--telemetry`` option: what "telemetry on" means for a run,
a local OTLP/HTTP sink that takes the spans (so export costs what it costs in production: the
protobuf encoding and the POST, on the SDK's background thread), and the on-vs-off report.

"On" is what an operator turns on: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (traces from the client and
the workers, the LLM span) and ``RAGSTATE_METRICS_BIND`` (the SDK runtime's Prometheus endpoint
and ragstate's metrics). "Off" is neither: no interceptor, the SDK's default runtime.

Example::

    with OtlpSink() as sink:
        env = telemetry_env(sink)          # for a worker subprocess, or os.environ for this one
        ...
    print(overhead_rows({"off": off_ms, "on": on_ms}))
"""

from __future__ import annotations

import os
import statistics
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ragstate.settings import Settings
from ragstate.temporal.devserver import free_port

#: Throughput runs in blocks, ABBA: each mode twice, in mirrored order, so a drift over the run
#: (a growing history database, a warming cache) weighs on both modes alike.
BLOCKS = {"off": ["off"], "on": ["on"], "both": ["off", "on", "on", "off"]}
#: Latency alternates query by query between the modes, each with its own workers.
MODES = {"off": ["off"], "on": ["on"], "both": ["off", "on"]}


class OtlpSink:
    """An OTLP/HTTP endpoint on 127.0.0.1 that accepts every export (200, empty body) and counts
    what arrived; ``url`` is the value of ``OTEL_EXPORTER_OTLP_ENDPOINT``."""

    def __init__(self) -> None:
        sink = self
        self.requests = self.bytes = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                sink.requests += 1
                sink.bytes += len(body)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> OtlpSink:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()


def telemetry_env(sink: OtlpSink, service: str) -> dict[str, str]:
    """The variables that turn telemetry on for one process (its own metrics port)."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_SERVICE_NAME": service,
        "RAGSTATE_METRICS_BIND": f"127.0.0.1:{free_port()}",
    }


def telemetry_settings(settings: Settings, sink: OtlpSink) -> Settings:
    """``settings`` with telemetry on for this process (tracing to ``sink``, its own metrics port)
    and task queues of their own, so its workers run beside those of ``settings``."""
    env = telemetry_env(sink, "ragstate-bench")
    os.environ.update({k: v for k, v in env.items() if k.startswith("OTEL_")})
    queues = ("workflow_task_queue", "embeddings_task_queue", "llm_task_queue")
    return settings.model_copy(
        update={
            "metrics_bind": env["RAGSTATE_METRICS_BIND"],
            **{q: f"{getattr(settings, q)}-telemetry" for q in queues},
        }
    )


def overhead_rows(latencies_ms: dict[str, list[float]], what: str = "query p50") -> list[str]:
    """One line per mode, and the overhead of "on" at p50 against the 5 % budget."""
    rows = [
        f"telemetry {mode:<3} {what} {statistics.median(ms):7.1f} ms  n={len(ms)}" for mode, ms in latencies_ms.items()
    ]
    if {"on", "off"} <= latencies_ms.keys():
        off, on = statistics.median(latencies_ms["off"]), statistics.median(latencies_ms["on"])
        overhead = 100 * (on - off) / off
        rows.append(
            f"telemetry overhead at p50: {overhead:+.1f} % (budget 5 %) -> {'MET' if overhead < 5 else 'NOT MET'}"
        )
    return rows
