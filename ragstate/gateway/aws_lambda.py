"""The HTTP gateway as an AWS Lambda function URL handler (payload format 2.0), no extra dependency.

Handler: ``ragstate.gateway.aws_lambda.handler`` (function URL, ``AuthType: NONE`` with the gateway's
own API keys, or ``AWS_IAM``). A small adapter turns the function URL event into one ASGI HTTP
request for the app of :func:`ragstate.gateway.create_app` and the app's response into the
function URL's result (``statusCode``, ``headers``, ``cookies``, ``body``, ``isBase64Encoded``).

- One event loop lives as long as the execution environment, and so does the app with its
  Temporal connection: warm invocations reuse both (a connection cannot outlive its loop).
- Time budgets end before the invocation's deadline (``context.get_remaining_time_in_millis()``
  less :data:`DEADLINE_MARGIN_S`), so a slow answer still gets its 504 (with ``workflow_id``)
  out instead of the function being killed; the workflow goes on.
- **Streaming.** The Python runtime returns one buffered response: ``POST /v1/query/stream``
  works, but its events (steps, tokens, final, in order) arrive together when the answer is
  complete, and a stream still open near the deadline ends with an ``error`` event of type
  ``Timeout``. Lambda streams responses as they are produced only for function URLs in
  ``RESPONSE_STREAM`` invoke mode, which Python reaches through the Lambda Web Adapter: run
  the same app as a web server (``python -m ragstate.gateway``, ``AWS_LWA_INVOKE_MODE=response_stream``,
  ``PORT``) and events then flow as they come. JSON endpoints behave the same either way.
- Limits of the platform apply: 6 MB request and response bodies (buffered), the function's
  timeout (at most 15 minutes) bounds every request.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any
from urllib.parse import unquote

from ragstate.gateway import DEADLINE_SCOPE_KEY

#: Seconds kept back from the invocation's deadline to send the answer.
DEADLINE_MARGIN_S = 1.5
_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/problem+json",
    "application/javascript",
    "application/xml",
    "application/x-www-form-urlencoded",
)

_loop: asyncio.AbstractEventLoop | None = None
_app: Any = None


def _latin1(value: str) -> bytes:
    return value.encode("latin-1", "replace")


def to_scope(event: dict, context: Any = None) -> tuple[dict, bytes]:
    """The ASGI HTTP scope and the request body for a function URL (or HTTP API 2.0) event."""
    ctx = event.get("requestContext") or {}
    http = ctx.get("http") or {}
    method = (http.get("method") or "GET").upper()
    raw_path = event.get("rawPath") or http.get("path") or "/"
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    header_list = [(_latin1(k), _latin1(v)) for k, v in headers.items() if k != "cookie"]
    cookies = event.get("cookies") or ([headers["cookie"]] if "cookie" in headers else [])
    if cookies:
        header_list.append((b"cookie", _latin1("; ".join(cookies))))
    body = event.get("body") or ""
    body_bytes = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    host = headers.get("host") or ctx.get("domainName") or "lambda"
    port = int(headers.get("x-forwarded-port") or 443)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": (http.get("protocol") or "HTTP/1.1").split("/")[-1] or "1.1",
        "method": method,
        "scheme": headers.get("x-forwarded-proto") or "https",
        "path": unquote(raw_path),
        "raw_path": _latin1(raw_path),
        "root_path": "",
        "query_string": _latin1(event.get("rawQueryString") or ""),
        "headers": header_list,
        "client": (http.get("sourceIp") or "0.0.0.0", 0),
        "server": (host, port),
        "aws.event": event,
        "aws.context": context,
    }
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        remaining = context.get_remaining_time_in_millis() / 1000
        scope[DEADLINE_SCOPE_KEY] = time.monotonic() + max(0.5, remaining - DEADLINE_MARGIN_S)
    return scope, body_bytes


async def handle_event(app: Any, event: dict, context: Any = None) -> dict:
    """Run one function URL request through the ASGI ``app``; the function URL result."""
    scope, body = to_scope(event, context)
    status, headers, chunks = 500, [], []
    request_sent = False
    done = asyncio.Event()

    async def receive() -> dict:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()  # the client "disconnects" only once the response is complete
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers") or [])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                done.set()

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    return to_result(status, headers, b"".join(chunks))


def to_result(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> dict:
    out: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, raw_value in headers:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name == "set-cookie":
            cookies.append(value)
        else:
            out[name] = f"{out[name]}, {value}" if name in out else value
    content_type = out.get("content-type", "")
    text = not body or content_type.startswith(_TEXT_TYPES)
    if text:
        try:
            payload, encoded = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text = False
    if not text:
        payload, encoded = base64.b64encode(body).decode("ascii"), True
    result: dict[str, Any] = {"statusCode": status, "headers": out, "body": payload, "isBase64Encoded": encoded}
    if cookies:
        result["cookies"] = cookies
    return result


def handler(event: dict, context: Any) -> dict:
    """The Lambda entry point: ``ragstate.gateway.aws_lambda.handler``."""
    global _loop, _app
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
    if _app is None:
        from ragstate.gateway import create_app

        _app = create_app()
    return _loop.run_until_complete(handle_event(_app, event, context))
