"""The GenAI span around one Anthropic Messages call (OpenTelemetry's semantic conventions).

Its own module so that the metrics interceptor (:mod:`.metrics`), which opens it, and the tracing
setup (:mod:`.telemetry`), which installs that interceptor, do not import each other.
OpenTelemetry is imported only when a span is opened: workers run without the ``otel`` extra.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ragstate.settings import Settings


@contextlib.contextmanager
def llm_span(settings: Settings) -> Iterator[Any]:
    """A client span named ``chat <model>`` around one Anthropic Messages call, with the GenAI
    semantic conventions' request attributes; the caller adds the response's with
    :func:`record_llm_response`. A no-op span when tracing is off.

    >>> with llm_span(settings) as span:  # doctest: +SKIP
    ...     message = await client.messages.create(...)
    ...     record_llm_response(span, message.model, message.usage.input_tokens, message.usage.output_tokens)
    """
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    tracer = trace.get_tracer("ragstate")
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "anthropic",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": settings.anthropic_model,
        "gen_ai.request.max_tokens": settings.anthropic_max_tokens,
    }
    with tracer.start_as_current_span(
        f"chat {settings.anthropic_model}", kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield span


def record_llm_response(span: Any, model: str | None, input_tokens: int, output_tokens: int) -> None:
    """The response attributes of an :func:`llm_span`."""
    if model:
        span.set_attribute("gen_ai.response.model", model)
    span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
