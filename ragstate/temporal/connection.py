"""Connecting to Temporal the same way everywhere: settings or temporal.toml, pydantic data
converter, API key and TLS; and the links a person follows into the web UI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from temporalio.client import Client

from ragstate.observability.telemetry import metrics_runtime, tracing_interceptors
from ragstate.security.codec import data_converter
from ragstate.settings import Settings


async def connect(settings: Settings, plugins: Sequence = ()) -> Client:
    """A client with the pydantic data converter (and the payload encryption codec when
    ``RAGSTATE_PAYLOAD_KEYS`` is set: :mod:`ragstate.security.codec`).

    With ``RAGSTATE_TEMPORAL_PROFILE`` set, address, namespace, TLS and API key come from that
    profile of ``temporal.toml`` (``TEMPORAL_CONFIG_FILE`` / ``TEMPORAL_*`` env, as the
    ``temporal`` CLI reads them); otherwise from the ``RAGSTATE_TEMPORAL_*`` settings.

    Telemetry (:mod:`ragstate.observability.telemetry`): the tracing interceptor when tracing is on (workers
    built from this client inherit it), the Prometheus runtime when ``RAGSTATE_METRICS_BIND`` is
    set; neither when one of ``plugins`` is an OpenTelemetry plugin.
    """
    # An OpenTelemetry plugin (the Cloud Run worker's --otel) brings its own tracer provider,
    # interceptor and metrics runtime: a second set would trace every step twice.
    own_telemetry = not any("opentelemetry" in type(plugin).__module__ for plugin in plugins)
    telemetry: dict[str, Any] = (
        {"interceptors": tracing_interceptors(), "runtime": metrics_runtime(settings)} if own_telemetry else {}
    )
    if settings.temporal_profile:
        from temporalio.envconfig import ClientConfig

        cfg = ClientConfig.load_client_connect_config(profile=settings.temporal_profile)
        return await Client.connect(**cfg, data_converter=data_converter(settings), plugins=list(plugins), **telemetry)
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=api_key,
        tls=settings.temporal_tls or bool(api_key),
        data_converter=data_converter(settings),
        plugins=list(plugins),
        **telemetry,
    )


def ui_link(settings: Settings, workflow_id: str, run_id: str | None = None, namespace: str | None = None) -> str:
    ns = quote(namespace or settings.temporal_namespace, safe="")
    wid = quote(workflow_id, safe="")
    base = settings.temporal_ui_url.rstrip("/")
    return (
        f"{base}/namespaces/{ns}/workflows/{wid}/{run_id}/history"
        if run_id
        else f"{base}/namespaces/{ns}/workflows/{wid}"
    )
