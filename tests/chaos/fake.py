"""The fake Messages-API server of :mod:`ragstate.testing`, counting what the suite calls a paid
LLM call: an answer the server finished sending. A slow model: ``delta_delay_s`` (a pause before
each text delta of a stream, so the SDK's read timeout never fires) with answers planned in
``chunks`` deltas; ``answer_seconds`` and ``max_in_flight`` say what the server then saw."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque

from ragstate.testing import FakeAnthropic, Planned, RecordedRequest, ok
from ragstate.testing.anthropic.handler import Handler


class _CountingHandler(Handler):
    """The fake server's handler, noting every answer it finished sending: a stream up to its
    ``message_stop`` or a whole JSON message. A request whose client went away first (a killed
    worker, a timeout) fails on the write and is not counted: that attempt never completed."""

    def _send_stream(self, body: dict, planned: Planned) -> None:
        super()._send_stream(body, planned)
        if planned.kind == "ok":
            self.server.fake.note_completed(body, time.monotonic() - self._t0)

    def _send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        super()._send_json(status, payload, headers)
        if status == 200 and payload.get("type") == "message":
            self.server.fake.note_completed(self._body, time.monotonic() - self._t0)

    def do_POST(self) -> None:
        self._body = None
        self._t0 = time.monotonic()
        fake = self.server.fake
        with fake._lock:
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
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
        self.completed_answers: list[str] = []  # ... of those that answered with sources (Synthesize)
        self.in_flight = 0  # requests being answered (a slow answer ends on its own, later)
        self.max_in_flight = 0  # the most at once since the last reset_peak()
        #: How long each answer with sources took, request received to last byte sent.
        self.answer_seconds: list[float] = []
        self._answers_planned: deque[Planned] = deque()
        self._current = threading.local()  # the request this server thread is answering
        #: Answer a request without sources (a follow-up's rewrite, CondenseQuestion) with its
        #: prompt's last line, the question as it is: a canned answer would be a question about
        #: nothing, that retrieves nothing.
        self.echo_rewrites = False

    def note_completed(self, body: object, seconds: float) -> None:
        request = RecordedRequest("POST", "", {}, body, 0) if isinstance(body, dict) else None
        with self._lock:
            self.completed.append(request.prompt if request else "")
            if request is not None and request.search_results:
                self.completed_answers.append(request.prompt)
                self.answer_seconds.append(seconds)

    def reset_peak(self) -> None:
        """``max_in_flight`` and ``answer_seconds`` from now on."""
        with self._lock:
            self.max_in_flight = self.in_flight
            self.answer_seconds.clear()

    def plan_answers(self, *responses: Planned) -> None:
        """Responses for requests that carry search results (Synthesize's) only, in order; any
        other request (a follow-up's rewrite, CondenseQuestion) meanwhile gets the usual plan."""
        with self._lock:
            self._answers_planned.extend(responses)

    def _record(self, request: RecordedRequest) -> None:
        super()._record(request)
        self._current.request = request

    def _next(self) -> Planned:
        request = getattr(self._current, "request", None)
        with self._lock:
            if self._answers_planned and request is not None and request.search_results:
                return self._answers_planned.popleft()
            if self.echo_rewrites and request is not None and not request.search_results and not self._planned:
                return ok(request.prompt.splitlines()[-1].partition(": ")[2] or request.prompt)
        return super()._next()

    def paid_for(self, question: str) -> int:
        """Completed answers whose prompt carries ``question``."""
        with self._lock:
            return sum(question in p for p in self.completed)

    def clear_plan(self) -> None:
        with self._lock:
            self._planned.clear()
            self._answers_planned.clear()

    async def settled(self, timeout_s: float = 30) -> None:
        """Until no request is being answered: a slow answer to a client that went away has
        tried its writes (and failed) before the answers are counted."""
        deadline = time.monotonic() + timeout_s
        while self.in_flight and time.monotonic() < deadline:  # noqa: ASYNC110 - set by server threads
            await asyncio.sleep(0.1)

    def asked_for(self, question: str) -> int:
        """Requests, completed or not, whose prompt carries ``question``."""
        return sum(question in r.prompt for r in self.requests)
