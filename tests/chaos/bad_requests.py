"""Bad HTTP requests for the gateway, written byte for byte (no client library would send most
of them), and a raw sender that tells a status from a hang."""

from __future__ import annotations

import asyncio
import json
import time

BAD = {400}
#: Requests whose body is shorter than their length: the client half-closes after writing, so
#: the server sees the end of the body (a client that keeps the socket open is a slow client,
#: which the server may wait on).
EOF_CASES = {"length longer than body"}


def request(
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    content_length: int | None = None,
) -> bytes:
    h = {"Host": "127.0.0.1", "Connection": "close"}
    if body is not None:
        h["Content-Type"] = "application/json"
        h["Content-Length"] = str(len(body) if content_length is None else content_length)
    h.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    return head.encode("latin-1") + (body or b"")


def query(payload: object, path: str = "/v1/query", **kw) -> bytes:
    return request("POST", path, json.dumps(payload).encode(), **kw)


def bad_requests(good_question: str) -> list[tuple[str, bytes, set]]:
    """(name, raw request, statuses allowed). A valid query and a valid stream come first and
    last: the gateway still answers after everything else."""
    q = good_question
    nested = ("[" * 5000 + "]" * 5000).encode()
    return [
        ("valid query", query({"question": q, "timeout_s": 30}), {200}),
        ("not JSON", request("POST", "/v1/query", b"{"), BAD),
        ("JSON array", request("POST", "/v1/query", b"[]"), BAD),
        ("JSON null", request("POST", "/v1/query", b"null"), BAD),
        ("JSON string", request("POST", "/v1/query", b'"what is bm25"'), BAD),
        ("empty body", request("POST", "/v1/query", b""), BAD),
        ("no body, no length", request("POST", "/v1/query"), BAD | {411}),
        ("question a number", query({"question": 123}), BAD),
        ("question empty", query({"question": ""}), BAD),
        ("question blank", query({"question": "   \n\t "}), BAD),
        ("question 100k chars", query({"question": "bm25 " * 20000}), BAD | {413}),
        ("question NUL byte", query({"question": "what\u0000is bm25"}), BAD),
        ("question control chars", query({"question": "what \u001b[31mis\u0007 bm25"}), BAD),
        ("question lone surrogate", request("POST", "/v1/query", b'{"question": "caf\\ud800"}'), BAD),
        ("body not UTF-8", request("POST", "/v1/query", b'{"question": "caf\xe9 au lait"}'), BAD),
        ("nested 5000 deep", request("POST", "/v1/query", b'{"question": ' + nested + b"}"), BAD),
        ("unknown field", query({"question": q, "bogus": 1}), BAD | {200}),
        ("top_k -1", query({"question": q, "top_k": -1}), BAD),
        ("top_k 10**9", query({"question": q, "top_k": 10**9}), BAD),
        ("top_k string", query({"question": q, "top_k": "ten"}), BAD),
        ("top_k 1e400", request("POST", "/v1/query", f'{{"question": "{q}", "top_k": 1e400}}'.encode()), BAD),
        ("timeout_s -5", query({"question": q, "timeout_s": -5}), BAD),
        ("timeout_s NaN", request("POST", "/v1/query", f'{{"question": "{q}", "timeout_s": NaN}}'.encode()), BAD),
        ("timeout_s 1e12", query({"question": q, "timeout_s": 1e12}), BAD),
        ("X-Request-Timeout abc", query({"question": q}, headers={"X-Request-Timeout": "abc"}), BAD),
        ("X-Request-Timeout -1", query({"question": q}, headers={"X-Request-Timeout": "-1"}), BAD),
        ("X-Request-Timeout 1e999", query({"question": q}, headers={"X-Request-Timeout": "1e999"}), BAD),
        ("sources not a list", query({"question": q, "sources": "bm25.md"}), BAD),
        ("sources of numbers", query({"question": q, "sources": [1, 2]}), BAD),
        ("doc_ids of objects", query({"question": q, "doc_ids": [{}]}), BAD),
        (
            "text/plain",
            request("POST", "/v1/query", b"what is bm25", headers={"Content-Type": "text/plain"}),
            BAD | {415},
        ),
        ("body of 5 MB", request("POST", "/v1/query", b'{"question": "' + b"a" * 5_000_000 + b'"}'), {413, "closed"}),
        ("length says 5 MB", query({"question": q}, content_length=5_000_000), {413}),
        ("length longer than body", query({"question": q}, content_length=500), BAD | {"closed"}),
        ("length not a number", query({"question": q}, headers={"Content-Length": "ten"}), BAD | {"closed"}),
        ("stream with bad body", request("POST", "/v1/query?stream=true", b"{"), BAD),
        ("stream question empty", query({"question": ""}, path="/v1/query/stream"), BAD),
        ("GET /v1/query", request("GET", "/v1/query"), {405}),
        ("PUT /v1/query", query({"question": q}, headers={}).replace(b"POST", b"PUT", 1), {405}),
        ("unknown path", request("GET", "/v1/nothing-here"), {404}),
        ("status of an unknown id", request("GET", "/v1/queries/rag-query-nope"), {404}),
        ("status id with NUL", request("GET", "/v1/queries/%00%ff"), {400, 404}),
        ("status id 10k long", request("GET", "/v1/queries/" + "x" * 10000), {400, 404, 414, 431}),
        ("ingest status unknown", request("GET", "/v1/ingest/rag-ingest-nope"), {404}),
        ("ingest without roots", query({"paths": ["/etc"]}, path="/v1/ingest"), {403}),
        ("ingest paths empty", query({"paths": []}, path="/v1/ingest"), BAD | {403}),
        ("ingest paths a string", query({"paths": "/etc"}, path="/v1/ingest"), BAD | {403}),
        ("header line 64 KB", query({"question": q}, headers={"X-Junk": "a" * 65536}), BAD | {200, 431, "closed"}),
        ("not HTTP", b"HELLO\r\n\r\n", BAD | {"closed"}),
        ("valid stream", query({"question": q}, path="/v1/query?stream=true"), {200}),
        ("valid query after all that", query({"question": q, "timeout_s": 30}), {200}),
    ]


async def send(host: str, port: int, raw: bytes, timeout_s: float, eof: bool = False) -> tuple[int | str, float]:
    """Write ``raw`` (then half-close with ``eof``), read the answer: (status, seconds);
    ``"closed"`` when the server closed without a status line, ``"hang"`` when nothing came
    within ``timeout_s``."""
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError):
        return "refused", time.monotonic() - t0

    async def write() -> None:
        try:
            writer.write(raw)
            await writer.drain()
            if eof:  # a body shorter than its length ends here: the server must not wait on
                writer.write_eof()
        except OSError:
            pass  # the server answered (413) and closed before taking it all

    try:
        # Read while writing: a server that refuses a large body answers before it is all sent.
        writing = asyncio.create_task(write())
        data = bytearray()

        async def read_all() -> None:
            while chunk := await reader.read(65536):
                data.extend(chunk)

        try:
            await asyncio.wait_for(read_all(), timeout_s)
        except TimeoutError:
            if not data:
                return "hang", time.monotonic() - t0
        except OSError:
            pass  # reset after the answer (a refused large body): what came first still counts
        finally:
            writing.cancel()
        head = bytes(data).split(b"\r\n", 1)[0].split()
        if len(head) >= 2 and head[0].startswith(b"HTTP/") and head[1].isdigit():
            return int(head[1]), time.monotonic() - t0
        return "closed", time.monotonic() - t0
    finally:
        writer.close()
