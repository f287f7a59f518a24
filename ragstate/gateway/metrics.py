"""The gateway's telemetry: ``GET /metrics`` (Prometheus text: requests by route, status and
tenant, so each tenant's 429s from its budget show, and their durations) and, when tracing is
on, an OpenTelemetry server span per request, the parent of the query's StartWorkflow span.

``/metrics`` sits behind the API key like every non-health path (Prometheus sends it with
``authorization: {credentials: <key>}`` in its scrape config). Without ``prometheus_client`` (the
``otel`` extra) there is no ``/metrics`` route; without an OTLP endpoint no span is made.

Example::

    app = FastAPI()
    instrument(app)   # last, so that the request counter also sees refused (401, 413) requests
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response

__all__ = ["instrument"]

#: Requests that matched no route share one label, so a scan of random paths adds no series.
UNMATCHED = "unmatched"


def instrument(app: FastAPI) -> None:
    """Add ``/metrics`` and the request metrics (when ``prometheus_client`` is installed) and the
    FastAPI tracing middleware (when :func:`ragstate.observability.telemetry.configure_tracing` is on)."""
    from ragstate.observability.telemetry import configure_tracing

    if configure_tracing("ragstate-gateway"):
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    try:
        import prometheus_client
    except ImportError:
        return
    registry = prometheus_client.CollectorRegistry()
    requests = prometheus_client.Counter(
        "ragstate_gateway_requests", "HTTP requests", ["method", "route", "status", "tenant"], registry=registry
    )
    seconds = prometheus_client.Histogram(
        "ragstate_gateway_request_duration_seconds", "time to the response end", ["method", "route"], registry=registry
    )
    app.add_middleware(_RequestMetrics, requests=requests, seconds=seconds)
    router = APIRouter(tags=["health"])

    @router.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(prometheus_client.generate_latest(registry), media_type=prometheus_client.CONTENT_TYPE_LATEST)

    app.include_router(router)


class _RequestMetrics:
    """ASGI middleware counting each HTTP request by its route template (``/v1/query/{id}``, not
    the path) and final status; a server error that escapes the app counts as 500."""

    def __init__(self, app: Any, requests: Any, seconds: Any):
        self.app, self.requests, self.seconds = app, requests, seconds

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def sending(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # The router writes the matched route into this same scope dict.
            route = getattr(scope.get("route"), "path", UNMATCHED)
            method = scope["method"]
            tenant = scope.get("state", {}).get("tenant", "none")  # Guard's: "none" for refused keys
            self.requests.labels(method, route, str(status), tenant).inc()
            self.seconds.labels(method, route).observe(time.perf_counter() - started)
