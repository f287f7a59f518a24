"""A small local server that speaks the Anthropic Messages API, for tests through the real SDK.

Stdlib only (``http.server`` in a background thread on 127.0.0.1, a free port). It answers
``POST /v1/messages`` like the real API, both as JSON and, when the request says
``"stream": true``, as server-sent events in the real order (``message_start``,
``content_block_start``, ``ping``, several ``content_block_delta``/``text_delta``,
``content_block_stop``, ``message_delta`` with usage, ``message_stop``).

Responses are scripted: :meth:`FakeAnthropic.plan` queues them, one per request, and
when nothing is planned the server answers with :data:`DEFAULT_ANSWER` (which cites ``[1]``).

Native citations: when the request's user message holds ``search_result`` blocks with
citations enabled, the planned text's ``[n]`` markers are not sent as text. The answer is
split at them into text blocks, as the real API answers: the text before a marker is a block
whose ``citations`` are ``search_result_location`` citations of the n-th search result (the
content block of that result sharing the most words with it is the cited span; a marker
naming no result cites nothing), the rest are blocks without citations. Streamed, each block
is ``content_block_start``, its ``text_delta``s, one ``citations_delta`` per citation, then
``content_block_stop``. :attr:`RecordedRequest.prompt` shows search results as ``[n] title``
and their text, so a test reads the prompt as the model would.

Prompt caching: a request with ``cache_control`` breakpoints caches its prefix up to the last
one (system, then messages); the first such request reports that prefix's word count as
``cache_creation_input_tokens``, a later one with the same prefix as ``cache_read_input_tokens``,
and ``input_tokens`` counts only the rest, as the real API does.
Errors carry the real body ``{"type": "error", "error": {"type": ..., "message": ...}}``
with the matching status (and ``retry-after`` when asked). Every request is recorded
(headers, JSON body, arrival time) so a test can check what the SDK sent and how often.

Like the real API, a request without a key (``x-api-key``, or ``Authorization: Bearer``, which
is how SDK 2.x sends ``api_key``) or without ``anthropic-version``, or without
``model``/``max_tokens``/``messages``, is refused (401/400) before the plan is consulted;
set :attr:`FakeAnthropic.api_key` to also refuse any other key with 401.

Message Batches (``POST /v1/messages/batches``, ``GET .../{id}``, ``GET .../{id}/results``):
:mod:`fake_anthropic_batches`, on :attr:`FakeAnthropic.batches`.

Broken and unusual answers, for the activity's checks: :func:`cut` ends a stream after some
deltas without ``message_stop``, either cleanly (the chunked body is terminated as if the
answer were whole) or by closing a body framed by the connection (``connection: close``, no
length: the HTTP client sees a clean end of file); :func:`max_tokens` and :func:`refusal`
answer with those stop reasons.

Usage::

    from fake_anthropic import FakeAnthropic, error, ok

    with FakeAnthropic() as server:                      # or the ``fake_anthropic`` fixture
        server.plan(error(429, retry_after="1"), ok("BM25 ranks by term frequency [1]."))
        client = anthropic.Anthropic(api_key="sk-test", base_url=server.url, max_retries=0)
        ...                                              # first call: RateLimitError
        assert len(server.requests) == 2
        assert "[1] BM25" in server.requests[-1].prompt
        assert server.requests[-1].api_key == "sk-test"     # x-api-key or Authorization: Bearer
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import fake_anthropic_batches
import pytest

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
_DEFAULT_MESSAGES = {
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
_ids = itertools.count(1)


# ---------------------------------------------------------------------------------------------
# Planned responses
# ---------------------------------------------------------------------------------------------


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
        message=message or _DEFAULT_MESSAGES.get(etype, etype),
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
        "stream_error", text=text_before, error_type=type, message=message or _DEFAULT_MESSAGES.get(type, type)
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


# ---------------------------------------------------------------------------------------------
# Recorded requests
# ---------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any
    at: float  # time.monotonic() on arrival

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def stream(self) -> bool:
        return bool(isinstance(self.body, dict) and self.body.get("stream"))

    @property
    def api_key(self) -> str | None:
        """The key sent, as ``x-api-key`` or as ``Authorization: Bearer`` (the SDK since 2.x)."""
        return _key_from(self.headers)

    @property
    def system(self) -> str:
        system = self.body.get("system") if isinstance(self.body, dict) else None
        if isinstance(system, list):
            return "".join(b.get("text", "") for b in system if isinstance(b, dict))
        return system or ""

    @property
    def prompt(self) -> str:
        """The text of the user messages, joined; a search result as ``[n] title`` and its text."""
        out = []
        results = 0
        for m in (self.body or {}).get("messages", []) if isinstance(self.body, dict) else []:
            if m.get("role") != "user":
                continue
            content = m.get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                for b in content:
                    if isinstance(b, dict) and b.get("type") == "search_result":
                        results += 1
                        out.append(f"[{results}] {b.get('title', '')}\n{_result_text(b)}")
                    elif isinstance(b, dict):
                        out.append(b.get("text", ""))
        return "\n".join(out)

    @property
    def search_results(self) -> list[dict]:
        """The ``search_result`` blocks of the user messages, in order (their index is the
        ``search_result_index`` a citation names)."""
        out = []
        for m in (self.body or {}).get("messages", []) if isinstance(self.body, dict) else []:
            content = m.get("content") if m.get("role") == "user" else None
            if isinstance(content, list):
                out.extend(b for b in content if isinstance(b, dict) and b.get("type") == "search_result")
        return out


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


def _key_from(headers: dict[str, str]) -> str | None:
    if key := headers.get("x-api-key"):
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def _result_text(block: dict) -> str:
    return " ".join(c.get("text", "") for c in block.get("content", []) if isinstance(c, dict))


_MARKERS = re.compile(r"\s*((?:\[\d+(?:\s*[,;]\s*\d+)*\])+)")


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _citation(results: list[dict], index: int, claim: str) -> dict:
    """A ``search_result_location`` citation of ``results[index]``: its content block sharing
    the most words with ``claim`` (the first on a tie)."""
    result = results[index]
    content = [c.get("text", "") for c in result.get("content", [])] or [""]
    best = max(range(len(content)), key=lambda i: (len(_words(content[i]) & _words(claim)), -i))
    return {
        "type": "search_result_location",
        "cited_text": content[best],
        "search_result_index": index,
        "source": result.get("source", ""),
        "title": result.get("title"),
        "start_block_index": best,
        "end_block_index": best + 1,
    }


def _answer_blocks(text: str, results: list[dict]) -> list[dict]:
    """The planned text as the API's text blocks: split at ``[n]`` markers into cited blocks
    when the request has search results, else one block as planned."""
    if not results:
        return [{"type": "text", "text": text}]
    blocks: list[dict] = []
    pos = 0
    for m in _MARKERS.finditer(text):
        claim = text[pos : m.start()]
        numbers = dict.fromkeys(int(n) for n in re.findall(r"\d+", m.group(1)))
        cites = [_citation(results, n - 1, claim) for n in numbers if 1 <= n <= len(results)]
        if claim or not blocks:
            blocks.append({"type": "text", "text": claim, "citations": cites})
        else:  # markers right after markers: the same claim
            blocks[-1]["citations"].extend(cites)
        pos = m.end()
    if pos < len(text) or not blocks:
        blocks.append({"type": "text", "text": text[pos:], "citations": []})
    for b in blocks:
        if not b["citations"]:
            b["citations"] = None  # the API leaves an uncited block's citations null
    return [b for b in blocks if b["text"] or b["citations"]]


def _prefix_words(body: dict) -> tuple[str, int] | None:
    """The request's cached prefix (up to its last ``cache_control`` breakpoint, system first,
    then messages) as a key and its word count; None without a breakpoint."""
    parts: list[Any] = []
    upto: list[Any] | None = None
    system = body.get("system")
    blocks = [b for b in system if isinstance(b, dict)] if isinstance(system, list) else []
    for m in body.get("messages", []):
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):
            blocks.extend(b for b in content if isinstance(b, dict))
    for b in blocks:
        parts.append(b)
        if b.get("cache_control"):
            upto = list(parts)
    if upto is None:
        return None
    words = sum(len((b.get("text") or _result_text(b) + " " + b.get("title", "")).split()) for b in upto)
    return json.dumps(upto, sort_keys=True), words


def _error_body(etype: str, message: str, request_id: str) -> dict:
    return {"type": "error", "error": {"type": etype, "message": message}, "request_id": request_id}


def _split(text: str, parts: int) -> list[str]:
    """``text`` in about ``parts`` pieces, cut at spaces, that join back to ``text``."""
    words = text.split(" ")
    if len(words) < 2 or parts == 1:
        return [text]
    size = max(1, -(-len(words) // parts))
    pieces = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return [p + (" " if i < len(pieces) - 1 else "") for i, p in enumerate(pieces)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections end on their own
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._record(None)
        if self.path.startswith("/v1/messages/batches/"):
            return fake_anthropic_batches.get(self)  # a batch, or its results (JSONL)
        self._send_error(404, "not_found_error", f"{self.path} not found")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self._record(body)
        fake = self.server.fake

        if self.path.split("?")[0] == "/v1/messages/batches":
            return fake_anthropic_batches.create(self, body)
        if self.path.split("?")[0] != "/v1/messages":
            return self._send_error(404, "not_found_error", f"{self.path} not found")
        key = _key_from({k.lower(): v for k, v in self.headers.items()})
        if not key:
            return self._send_error(401, "authentication_error", "x-api-key header is required")
        if fake.api_key is not None and key != fake.api_key:
            return self._send_error(401, "authentication_error", "invalid x-api-key")
        if not self.headers.get("anthropic-version"):
            return self._send_error(400, "invalid_request_error", "anthropic-version: header is required")
        if not isinstance(body, dict):
            return self._send_error(400, "invalid_request_error", "request body must be a JSON object")
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                return self._send_error(400, "invalid_request_error", f"{name}: Field required")

        planned = fake._next()
        if planned.delay_s:
            time.sleep(planned.delay_s)
        streaming = bool(body.get("stream"))
        if planned.kind == "drop" and planned.text and streaming:
            return self._send_stream(body, planned)
        if planned.kind == "drop":
            return self._drop()
        if planned.kind == "error":
            return self._send_error(
                planned.status, planned.error_type or "api_error", planned.message or "", planned.headers
            )
        if planned.kind == "cut" and not streaming:
            planned = ok(planned.text)
        if planned.kind == "stream_error" and not streaming:
            status = 529 if planned.error_type == "overloaded_error" else 500
            return self._send_error(status, planned.error_type or "api_error", planned.message or "")
        if streaming:
            return self._send_stream(body, planned)
        return self._send_json(200, self._message(body, planned), planned.headers)

    # --- helpers ---------------------------------------------------------------------------

    def _record(self, body: Any) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.fake._record(RecordedRequest(self.command, self.path, headers, body, time.monotonic()))

    def _request_id(self) -> str:
        return f"req_fake{next(_ids):06d}"

    def _send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", payload.get("request_id") or self._request_id())
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, etype: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(status, _error_body(etype, message, self._request_id()), headers)

    def _message(self, body: dict, planned: Planned) -> dict:
        request = RecordedRequest("POST", "", {}, body, 0)
        input_tokens = max(1, len(request.prompt.split()) + len(request.system.split()))
        cached = created = 0
        if (prefix := _prefix_words(body)) is not None:
            key, words = prefix
            if self.server.fake._cache_prefix(key):
                cached = words
            else:
                created = words
            input_tokens = max(1, input_tokens - words)
        return {
            "id": f"msg_fake{next(_ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": planned.model or body.get("model"),
            "content": _answer_blocks(planned.text, request.search_results),
            "stop_reason": planned.stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": planned.input_tokens if planned.input_tokens is not None else input_tokens,
                "output_tokens": planned.output_tokens
                if planned.output_tokens is not None
                else max(1, len(planned.text.split())),
                "cache_creation_input_tokens": created,
                "cache_read_input_tokens": cached,
            },
        }

    def _send_stream(self, body: dict, planned: Planned) -> None:
        final = self._message(body, planned)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        # A body framed by the connection ends where the connection closes: no error to see.
        self._chunked = not planned.close_connection
        if self._chunked:
            self.send_header("transfer-encoding", "chunked")
        else:
            self.send_header("connection", "close")
        self.send_header("request-id", self._request_id())
        for k, v in planned.headers.items():
            self.send_header(k, v)
        self.end_headers()

        start = {
            **final,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**final["usage"], "output_tokens": 1},
        }
        self._event("message_start", {"type": "message_start", "message": start})
        self._event("ping", {"type": "ping"})
        blocks = final["content"] or [{"type": "text", "text": "", "citations": None}]
        # (block index, text delta): each block in about `chunks` deltas; a cut ends after some.
        deltas = [
            (i, piece)
            for i, block in enumerate(blocks)
            for piece in _split(block["text"], planned.chunks if planned.kind in ("ok", "cut") else 1)
        ]
        if planned.kind == "cut":
            deltas = deltas[: planned.deltas_before_end]
        open_block = None
        for i, piece in deltas:
            if i != open_block:
                if open_block is not None:
                    self._finish_block(open_block, blocks[open_block])
                self._event(
                    "content_block_start",
                    {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}},
                )
                open_block = i
            self._event(
                "content_block_delta",
                {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": piece}},
            )
        if planned.kind == "drop" or (planned.kind == "cut" and not self._chunked):
            return self._drop()
        if planned.kind == "cut":
            return self._chunk(b"")  # a clean end of the body, without the events that finish a message
        if planned.kind == "stream_error":
            self._event(
                "error", _error_body(planned.error_type or "api_error", planned.message or "", self._request_id())
            )
        else:
            if open_block is not None:
                self._finish_block(open_block, blocks[open_block])
            self._event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": final["stop_reason"], "stop_sequence": None},
                    "usage": {"output_tokens": final["usage"]["output_tokens"]},
                },
            )
            self._event("message_stop", {"type": "message_stop"})
        self._chunk(b"")  # end of the chunked body

    def _finish_block(self, index: int, block: dict) -> None:
        """A text block's citations (one ``citations_delta`` each), then its end."""
        for citation in block.get("citations") or []:
            self._event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "citations_delta", "citation": citation},
                },
            )
        self._event("content_block_stop", {"type": "content_block_stop", "index": index})

    def _drop(self) -> None:
        """Cut the connection without an answer (or mid-stream)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _event(self, name: str, data: dict) -> None:
        self._chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

    def _chunk(self, data: bytes) -> None:
        if getattr(self, "_chunked", True):
            data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        self.wfile.write(data)
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAnthropic

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout test) is not an error here


class FakeAnthropic:
    """The Messages API on ``self.url`` until :meth:`stop` (or the end of a ``with`` block)."""

    def __init__(self, api_key: str | None = None):
        #: When set, any other key gets 401 ``authentication_error``.
        self.api_key = api_key
        self._lock = threading.Lock()
        self._planned: deque[Planned] = deque()
        self._requests: list[RecordedRequest] = []
        self._cached: set[str] = set()  # prompt-cache prefixes written
        #: The Message Batches made (POST /v1/messages/batches) and how soon they end.
        self.batches = fake_anthropic_batches.BatchBook()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeAnthropic:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-anthropic", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The SDK's ``base_url`` (the SDK adds ``/v1/messages``)."""
        assert self._server is not None, "FakeAnthropic is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- scripting and inspection -------------------------------------------------------------

    def plan(self, *responses: Planned) -> FakeAnthropic:
        """Queue responses, one per request, in order; then :data:`DEFAULT_ANSWER` again."""
        with self._lock:
            self._planned.extend(responses)
        return self

    @property
    def pending(self) -> int:
        """Planned responses not used yet."""
        with self._lock:
            return len(self._planned)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a copy), oldest first."""
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self._planned.clear()
            self._requests.clear()
            self._cached.clear()
        self.batches.clear()

    def _next(self) -> Planned:
        with self._lock:
            return self._planned.popleft() if self._planned else ok()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _cache_prefix(self, key: str) -> bool:
        """Whether ``key`` was cached before (a read); it is cached from now on."""
        with self._lock:
            hit = key in self._cached
            self._cached.add(key)
            return hit


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """A started :class:`FakeAnthropic` for one test (import this fixture into the test module)."""
    with FakeAnthropic() as server:
        yield server
