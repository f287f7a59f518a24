"""The fake Messages-API server of :mod:`ragstate.testing`, counting what the suite calls a paid
LLM call: an answer the server finished sending."""

from __future__ import annotations

import asyncio
import time

from ragstate.testing import FakeAnthropic, Planned, RecordedRequest
from ragstate.testing.anthropic.handler import Handler


class _CountingHandler(Handler):
    """The fake server's handler, noting every answer it finished sending: a stream up to its
    ``message_stop`` or a whole JSON message. A request whose client went away first (a killed
    worker, a timeout) fails on the write and is not counted: that attempt never completed."""

    def _send_stream(self, body: dict, planned: Planned) -> None:
        super()._send_stream(body, planned)
        if planned.kind == "ok":
            self.server.fake.note_completed(body)

    def _send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        super()._send_json(status, payload, headers)
        if status == 200 and payload.get("type") == "message":
            self.server.fake.note_completed(self._body)

    def do_POST(self) -> None:
        self._body = None
        fake = self.server.fake
        with fake._lock:
            fake.in_flight += 1
        try:
            super().do_POST()
        finally:
            with fake._lock:
                fake.in_flight -= 1

    def _record(self, body: object) -> None:
        self._body = body
        super()._record(body)


class CountingFake(FakeAnthropic):
    """:class:`FakeAnthropic` that also counts completed answers per prompt:
    what the suite calls an LLM call paid for."""

    handler_class = _CountingHandler

    def __init__(self) -> None:
        super().__init__()
        self.completed: list[str] = []  # the prompt of each completed answer
        self.in_flight = 0  # requests being answered (a slow answer ends on its own, later)

    def note_completed(self, body: object) -> None:
        prompt = RecordedRequest("POST", "", {}, body, 0).prompt if isinstance(body, dict) else ""
        with self._lock:
            self.completed.append(prompt)

    def paid_for(self, question: str) -> int:
        """Completed answers whose prompt carries ``question``."""
        with self._lock:
            return sum(question in p for p in self.completed)

    def clear_plan(self) -> None:
        with self._lock:
            self._planned.clear()

    async def settled(self, timeout_s: float = 30) -> None:
        """Until no request is being answered: a slow answer to a client that went away has
        tried its writes (and failed) before the answers are counted."""
        deadline = time.monotonic() + timeout_s
        while self.in_flight and time.monotonic() < deadline:  # noqa: ASYNC110 - set by server threads
            await asyncio.sleep(0.1)

    def asked_for(self, question: str) -> int:
        """Requests, completed or not, whose prompt carries ``question``."""
        return sum(question in r.prompt for r in self.requests)
