"""The Message Batches endpoints of the fake Messages API (:mod:`ragstate.testing.anthropic`), for tests
through the real SDK (``client.messages.batches.create/retrieve/results``).

- ``POST /v1/messages/batches`` ``{"requests": [{"custom_id", "params"}, ...]}`` makes a batch,
  ``processing_status: in_progress``, every request counted as processing;
- ``GET /v1/messages/batches/{id}``: the batch; each look counts, and after
  :attr:`BatchBook.polls_to_end` looks (and while :attr:`BatchBook.hold` is False) it has
  ended: each request is answered then, from the fake's plan like ``POST /v1/messages`` (an
  ``ok`` as a ``succeeded`` result with its message, an ``error`` as an ``errored`` result with
  the error body; from :attr:`BatchBook.expire_from` on, ``expired``), the counts move to
  succeeded/errored/expired and ``results_url`` is set;
- ``GET /v1/messages/batches/{id}/results``: the results as JSONL, one
  ``{"custom_id", "result"}`` per line (the order reversed, as the real API does not promise
  the request order); 404 before the batch has ended.

Shapes follow ``anthropic.types.messages`` (``MessageBatch``, ``MessageBatchIndividualResponse``).

Example::

    fake_anthropic.batches.polls_to_end = 3
    ... the workflow creates a batch and polls it ...
    assert len(fake_anthropic.batches.created) == 1
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ragstate.testing.anthropic.recorded import key_from

_ids = itertools.count(1)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@dataclass
class FakeBatch:
    id: str
    requests: list[dict]
    created_at: datetime
    polls: int = 0
    ended_at: datetime | None = None
    results: list[dict] = field(default_factory=list)


class BatchBook:
    """The batches the fake holds, and how soon they end."""

    def __init__(self) -> None:
        #: Looks (GET) before a batch has ended.
        self.polls_to_end = 2
        #: While True, no batch ends, however often it is looked at.
        self.hold = False
        #: Requests from this position on (0-based, in request order) end ``expired``: the
        #: batch ran past its 24 hours before reaching them. None: every request is answered.
        self.expire_from: int | None = None
        self.batches: dict[str, FakeBatch] = {}
        self._lock = threading.Lock()

    @property
    def created(self) -> list[FakeBatch]:
        """Every batch made so far, oldest first."""
        with self._lock:
            return list(self.batches.values())

    def clear(self) -> None:
        with self._lock:
            self.batches.clear()
        self.expire_from = None


def _shape(batch: FakeBatch, base_url: str) -> dict:
    ended = batch.ended_at is not None
    counts = {"processing": 0 if ended else len(batch.requests), "succeeded": 0, "errored": 0, "canceled": 0}
    counts["expired"] = 0
    for r in batch.results:
        counts[r["result"]["type"]] += 1
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": "ended" if ended else "in_progress",
        "request_counts": counts,
        "created_at": _iso(batch.created_at),
        "expires_at": _iso(batch.created_at + timedelta(hours=24)),
        "ended_at": _iso(batch.ended_at) if batch.ended_at else None,
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": f"{base_url}/v1/messages/batches/{batch.id}/results" if ended else None,
    }


def _answer(handler: Any, request: dict) -> dict:
    """One request's result, answered from the plan like ``POST /v1/messages``."""
    planned = handler.server.fake._next()
    if planned.kind == "error":
        error = {"type": planned.error_type or "api_error", "message": planned.message or ""}
        return {"type": "errored", "error": {"type": "error", "error": error}}
    message = handler._message(request["params"], planned)
    return {"type": "succeeded", "message": message}


def _refused(handler: Any) -> bool:
    """The API's key and version checks (401/400); True when the request was refused."""
    fake = handler.server.fake
    key = key_from({k.lower(): v for k, v in handler.headers.items()})
    if not key or (fake.api_key is not None and key != fake.api_key):
        handler._send_error(401, "authentication_error", "invalid x-api-key")
        return True
    if not handler.headers.get("anthropic-version"):
        handler._send_error(400, "invalid_request_error", "anthropic-version: header is required")
        return True
    return False


def create(handler: Any, body: Any) -> None:
    """``POST /v1/messages/batches``."""
    if _refused(handler):
        return
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        return handler._send_error(400, "invalid_request_error", "requests: at least one request is required")
    ids = [r.get("custom_id") for r in requests if isinstance(r, dict)]
    if len(ids) != len(requests) or len(set(ids)) != len(ids) or not all(isinstance(i, str) for i in ids):
        return handler._send_error(400, "invalid_request_error", "requests: custom_id must be unique strings")
    for r in requests:
        params = r.get("params")
        if not isinstance(params, dict) or not all(k in params for k in ("model", "max_tokens", "messages")):
            return handler._send_error(400, "invalid_request_error", f"{r['custom_id']}: params need model etc.")
    book: BatchBook = handler.server.fake.batches
    batch = FakeBatch(id=f"msgbatch_fake{next(_ids):06d}", requests=requests, created_at=datetime.now(UTC))
    with book._lock:
        book.batches[batch.id] = batch
    handler._send_json(200, _shape(batch, handler.server.fake.url))


def get(handler: Any) -> None:
    """``GET /v1/messages/batches/{id}`` and ``.../results``."""
    if _refused(handler):
        return
    parts = handler.path.split("?")[0].strip("/").split("/")  # v1 messages batches ID [results]
    book: BatchBook = handler.server.fake.batches
    batch = book.batches.get(parts[3]) if len(parts) >= 4 else None
    if batch is None or len(parts) > 5 or (len(parts) == 5 and parts[4] != "results"):
        return handler._send_error(404, "not_found_error", f"{handler.path} not found")
    if len(parts) == 5:
        if batch.ended_at is None:
            return handler._send_error(404, "not_found_error", "results are not available yet")
        lines = [json.dumps(r) for r in reversed(batch.results)]
        data = ("\n".join(lines) + "\n").encode()
        handler.send_response(200)
        handler.send_header("content-type", "application/binary")
        handler.send_header("content-length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
        return
    with book._lock:
        batch.polls += 1
        ends = batch.ended_at is None and not book.hold and batch.polls >= book.polls_to_end
    if ends:
        cut = len(batch.requests) if book.expire_from is None else book.expire_from
        batch.results = [
            {"custom_id": r["custom_id"], "result": _answer(handler, r) if i < cut else {"type": "expired"}}
            for i, r in enumerate(batch.requests)
        ]
        batch.ended_at = datetime.now(UTC)
    handler._send_json(200, _shape(batch, handler.server.fake.url))
