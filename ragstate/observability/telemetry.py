"""Traces and metrics: OpenTelemetry tracing on every Temporal client and worker, the Temporal SDK
runtime's Prometheus endpoint, and the span of the Anthropic call.

Both are off unless configured, and then cost nothing: without ``OTEL_EXPORTER_OTLP_ENDPOINT``
(and without a tracer provider installed by the host program, as tests do) no interceptor is
registered; without ``RAGSTATE_METRICS_BIND`` the SDK keeps its default runtime and meters are
no-ops. OpenTelemetry packages come from the optional extra ``otel`` and are imported only when
tracing is asked for, so a light worker without them still runs.

Example::

    configure_tracing("ragstate-worker")          # True when OTEL_EXPORTER_OTLP_ENDPOINT is set
    client = await Client.connect(address, interceptors=tracing_interceptors(),
                                  runtime=metrics_runtime(settings))
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from ragstate.observability.llm_spans import llm_span
from ragstate.observability.metrics import ObservingInterceptor
from ragstate.settings import Settings

__all__ = [
    "configure_tracing",
    "llm_span",
    "metrics_runtime",
    "shutdown_tracing",
    "tracing_active",
    "tracing_interceptors",
    "worker_interceptors",
]

log = logging.getLogger("ragstate.telemetry")

#: The tracer provider this module installed (None: none, or the host program's own).
_installed_provider: Any = None
#: One SDK runtime per metrics address: a process binds its Prometheus endpoint once.
_runtimes: dict[str, Runtime] = {}


def configure_tracing(service_name: str = "ragstate") -> bool:
    """Install an OTLP-exporting tracer provider when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

    Idempotent: the first call of a process decides (``OTEL_SERVICE_NAME`` overrides
    ``service_name``). Returns whether tracing is on, which is also true when the host program
    installed its own SDK tracer provider. Without the ``otel`` extra a set endpoint only logs a
    warning: telemetry never stops a worker from starting.

    >>> configure_tracing("ragstate-gateway")  # doctest: +SKIP
    True
    """
    global _installed_provider
    if _installed_provider is None and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") and not tracing_active():
        try:
            from opentelemetry import trace
            from opentelemetry.sdk.resources import SERVICE_NAME, Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            exporter = _otlp_exporter()
        except ImportError as e:
            log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but tracing needs ragstate[otel] (%s)", e)
            return False
        service = os.environ.get("OTEL_SERVICE_NAME") or service_name
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
        # Batched: spans leave on a background thread, never on a workflow or activity's path.
        provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _installed_provider = provider
    return tracing_active()


def _otlp_exporter() -> Any:
    """The OTLP span exporter of ``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf``, the
    specification's default, or ``grpc``), falling back to whichever is installed; endpoint,
    headers and timeout come from the standard ``OTEL_EXPORTER_OTLP_*`` variables."""
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    modules = ["grpc", "http"] if protocol == "grpc" else ["http", "grpc"]
    for module in modules:
        try:
            exporter = importlib.import_module(f"opentelemetry.exporter.otlp.proto.{module}.trace_exporter")
        except ImportError:
            continue
        return exporter.OTLPSpanExporter()
    raise ImportError("no OTLP exporter: pip install 'ragstate[otel]'")


def tracing_active() -> bool:
    """Whether a real (SDK) tracer provider is installed globally; the API's default proxy
    provider means nobody asked for traces."""
    try:
        from opentelemetry import trace
    except ImportError:
        return False
    return not isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def tracing_interceptors(service_name: str = "ragstate") -> list:
    """``[TracingInterceptor()]`` for ``Client.connect(interceptors=...)`` when tracing is on
    (workers built from that client inherit it), else ``[]``: no spans, no header work."""
    if not configure_tracing(service_name):
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def shutdown_tracing() -> None:
    """Flush the spans still batched. Worker processes end with ``os._exit`` (no atexit hooks),
    so :func:`ragstate.workers.runtime.serve` calls this after draining."""
    if _installed_provider is not None:
        _installed_provider.force_flush(timeout_millis=5000)


def metrics_runtime(settings: Settings) -> Runtime | None:
    """The SDK runtime serving Prometheus metrics on ``settings.metrics_bind``
    (``RAGSTATE_METRICS_BIND``, e.g. ``0.0.0.0:9464``; scrape ``/metrics``), for
    ``Client.connect(runtime=...)``; None (the SDK's default runtime, no metrics) when unset.

    The SDK's own metrics (``temporal_*``: task latencies, slots, polls) and ragstate's
    (``ragstate_*``, :mod:`ragstate.observability.metrics`) share the endpoint.
    """
    bind = settings.metrics_bind
    if not bind:
        return None
    if bind not in _runtimes:
        # Durations in seconds and a _total suffix on counters: what Prometheus users expect.
        prometheus = PrometheusConfig(bind_address=bind, counters_total_suffix=True, durations_as_seconds=True)
        _runtimes[bind] = Runtime(telemetry=TelemetryConfig(metrics=prometheus))
        log.info("metrics on http://%s/metrics", bind)
    return _runtimes[bind]


def worker_interceptors(client: Client, settings: Settings) -> list:
    """The worker interceptors telemetry needs on top of the client's: ragstate's metrics when the
    client's runtime has a metrics sink (``RAGSTATE_METRICS_BIND`` or a plugin's runtime), the
    LLM span when tracing is on; ``[]`` when both are off."""
    runtime = client.service_client.config.runtime or Runtime.default()
    meter = runtime.metric_meter if runtime.metric_meter is not MetricMeter.noop else None
    trace_llm = tracing_active()
    if meter is None and not trace_llm:
        return []
    return [ObservingInterceptor(settings, meter, trace_llm)]
