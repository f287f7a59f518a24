"""The HTTP side of the fake Messages API: one request handler (checks, scripted answers as
JSON or server-sent events, broken streams) and the threading server that owns a
:class:`~ragstate.testing.anthropic.server.FakeAnthropic`."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from ragstate.testing.anthropic import batches
from ragstate.testing.anthropic.answers import answer_blocks, error_body, prefix_words, split
from ragstate.testing.anthropic.plans import Planned, ok
from ragstate.testing.anthropic.recorded import RecordedRequest, key_from

if TYPE_CHECKING:
    from ragstate.testing.anthropic.server import FakeAnthropic

_ids = itertools.count(1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections end on their own
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._record(None)
        if self.path.startswith("/v1/messages/batches/"):
            return batches.get(self)  # a batch, or its results (JSONL)
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
            return batches.create(self, body)
        if self.path.split("?")[0] != "/v1/messages":
            return self._send_error(404, "not_found_error", f"{self.path} not found")
        key = key_from({k.lower(): v for k, v in self.headers.items()})
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
        self._send_json(status, error_body(etype, message, self._request_id()), headers)

    def _message(self, body: dict, planned: Planned) -> dict:
        request = RecordedRequest("POST", "", {}, body, 0)
        input_tokens = max(1, len(request.prompt.split()) + len(request.system.split()))
        cached = created = 0
        if (prefix := prefix_words(body)) is not None:
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
            "content": answer_blocks(planned.text, request.search_results),
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
        """The answer as server-sent events, in the real API's order (or broken as planned)."""
        final = self._message(body, planned)
        self._stream_headers(planned)
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
        open_block = self._send_deltas(blocks, planned)
        if planned.kind == "drop" or (planned.kind == "cut" and not self._chunked):
            return self._drop()
        if planned.kind == "cut":
            return self._chunk(b"")  # a clean end of the body, without the events that finish a message
        if planned.kind == "stream_error":
            self._event(
                "error", error_body(planned.error_type or "api_error", planned.message or "", self._request_id())
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

    def _stream_headers(self, planned: Planned) -> None:
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

    def _send_deltas(self, blocks: list[dict], planned: Planned) -> int | None:
        """Each block's start and its text in about ``planned.chunks`` deltas (a cut ends after
        some), every block but the last finished; the index of the block left open."""
        deltas = [
            (i, piece)
            for i, block in enumerate(blocks)
            for piece in split(block["text"], planned.chunks if planned.kind in ("ok", "cut") else 1)
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
            if self.server.fake.delta_delay_s:  # a model producing tokens, at its pace
                time.sleep(self.server.fake.delta_delay_s)
            self._event(
                "content_block_delta",
                {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": piece}},
            )
        return open_block

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


class Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAnthropic

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout test) is not an error here
