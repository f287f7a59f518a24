"""Metrics and traces of the Lambda worker through the ADOT layer (``RAGSTATE_LAMBDA_OTEL``,
needs ``temporalio[lambda-worker-otel]``): the contrib's OTel defaults, set up once per
execution environment, and ragstate's own interceptor on the same meter and tracer.

Used by :mod:`ragstate.workers.aws_lambda` for every invocation's config.
"""

from __future__ import annotations

from typing import Any

from temporalio.contrib.aws.lambda_worker import LambdaWorkerConfig

from ragstate.settings import Settings

__all__ = ["apply_otel", "observing"]

_otel: dict[str, Any] = {}


def apply_otel(config: LambdaWorkerConfig) -> None:
    """ADOT metrics and tracing, set up once per execution environment (``apply_defaults`` makes
    a new Runtime and tracer provider each call) and applied to every invocation's config."""
    if not _otel:
        from temporalio.contrib.aws.lambda_worker.otel import apply_defaults

        scratch = LambdaWorkerConfig()
        apply_defaults(scratch)
        _otel.update(
            runtime=scratch.client_connect_config.get("runtime"),
            plugins=list(scratch.worker_config.get("plugins", [])),
            hooks=list(scratch.shutdown_hooks),
        )
    if _otel["runtime"] is not None:
        config.client_connect_config["runtime"] = _otel["runtime"]
    config.worker_config["plugins"] = [*config.worker_config.get("plugins", []), *_otel["plugins"]]
    config.shutdown_hooks.extend(_otel["hooks"])


def observing(settings: Settings) -> list:
    """ragstate's own metrics (through the ADOT runtime's meter, so they go where the SDK's go)
    and the LLM span (under the global tracer provider apply_defaults installed), as on every
    other worker shape (:func:`ragstate.observability.telemetry.worker_interceptors`)."""
    from temporalio.common import MetricMeter

    from ragstate.observability.metrics import ObservingInterceptor
    from ragstate.observability.telemetry import tracing_active

    runtime = _otel.get("runtime")
    meter = runtime.metric_meter if runtime is not None else None
    if meter is MetricMeter.noop:
        meter = None
    trace_llm = tracing_active()
    return [ObservingInterceptor(settings, meter, trace_llm)] if meter is not None or trace_llm else []
