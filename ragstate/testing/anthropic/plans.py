"""What the fake Messages API answers: scripted responses (:class:`Planned`) and the functions
that build them. Stdlib only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_ANSWER = "According to the sources, the answer is in the first passage [1]."

#: The ``error.type`` the real API uses for each status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
DEFAULT_MESSAGES = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
    "api_error": "Internal server error",
    "timeout_error": "Request timeout",
    "overloaded_error": "Overloaded",
}


@dataclass
class Planned:
    """One scripted response; build it with :func:`ok`, :func:`error`, :func:`stream_error`,
    :func:`drop`, :func:`cut`, :func:`max_tokens` or :func:`refusal`."""

    kind: str  # "ok" | "error" | "stream_error" | "drop" | "cut"
    text: str = ""
    status: int = 200
    error_type: str | None = None
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    stop_reason: str = "end_turn"
    chunks: int = 4
    delay_s: float = 0.0
    #: "cut" only: text deltas sent before the stream ends, and how it ends.
    deltas_before_end: int = 0
    close_connection: bool = False


def ok(
    text: str = DEFAULT_ANSWER,
    *,
    model: str | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    stop_reason: str = "end_turn",
    chunks: int = 4,
    delay_s: float = 0.0,
) -> Planned:
    """A successful answer (JSON or SSE, as the request asks). ``model`` defaults to the
    requested one, token counts to word counts; a stream splits ``text`` into about
    ``chunks`` text deltas. ``delay_s`` waits before answering (for timeouts)."""
    return Planned(
        "ok",
        text=text,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        stop_reason=stop_reason,
        chunks=max(1, chunks),
        delay_s=delay_s,
    )


def error(
    status: int,
    message: str | None = None,
    *,
    type: str | None = None,
    retry_after: str | None = None,
    retry_after_ms: str | None = None,
    headers: dict[str, str] | None = None,
    delay_s: float = 0.0,
) -> Planned:
    """An HTTP error with the real error body; ``type`` defaults to the API's type for
    ``status`` (``api_error`` for other 5xx). Retryable statuses (408, 409, 429, 5xx) also
    carry ``x-should-retry: true`` as the real API does, so a test proves the SDK did not
    retry on its own."""
    etype = type or ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    h = dict(headers or {})
    if retry_after is not None:
        h["retry-after"] = retry_after
    if retry_after_ms is not None:
        h["retry-after-ms"] = retry_after_ms
    if status in (408, 409, 429) or status >= 500:
        h.setdefault("x-should-retry", "true")
    return Planned(
        "error",
        status=status,
        error_type=etype,
        message=message or DEFAULT_MESSAGES.get(etype, etype),
        headers=h,
        delay_s=delay_s,
    )


def stream_error(
    type: str = "overloaded_error", message: str | None = None, *, text_before: str = "Partial answer"
) -> Planned:
    """For a streaming request: status 200, some text, then an ``event: error`` (what the real
    API sends when it is overloaded mid-stream). A non-streaming request gets the same error
    as an HTTP status (529 for ``overloaded_error``)."""
    return Planned(
        "stream_error", text=text_before, error_type=type, message=message or DEFAULT_MESSAGES.get(type, type)
    )


def max_tokens(text: str = "According to the sources, the answer", **kwargs: Any) -> Planned:
    """An answer the model stopped because it reached ``max_tokens`` (``stop_reason: max_tokens``)."""
    return ok(text, stop_reason="max_tokens", **kwargs)


def refusal(text: str = "", **kwargs: Any) -> Planned:
    """An answer the model declined to give (``stop_reason: refusal``), with what it said first."""
    return ok(text, stop_reason="refusal", **kwargs)


def cut(
    text: str = DEFAULT_ANSWER, *, after_deltas: int = 2, chunks: int = 6, close_connection: bool = False
) -> Planned:
    """For a streaming request: ``message_start`` and the first ``after_deltas`` of about
    ``chunks`` text deltas, then the end of the body without ``content_block_stop``,
    ``message_delta`` or ``message_stop``. By default the chunked body is terminated cleanly;
    with ``close_connection`` the body is framed by the connection (``connection: close``, no
    length), which is then closed, so the HTTP client sees a clean end of file. A non-streaming
    request gets the whole answer."""
    return Planned(
        "cut", text=text, chunks=max(1, chunks), deltas_before_end=after_deltas, close_connection=close_connection
    )


def drop(*, mid_stream: bool = False, text_before: str = "Partial answer") -> Planned:
    """Close the connection without answering (the SDK raises ``APIConnectionError``), or, with
    ``mid_stream`` and a streaming request, after ``message_start`` and some text (the HTTP
    library's own error then surfaces while the stream is read)."""
    return Planned("drop", text=text_before if mid_stream else "")
