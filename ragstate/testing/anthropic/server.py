"""The fake Messages API itself: :class:`FakeAnthropic`, a local server scripted by the test."""

from __future__ import annotations

import threading
from collections import deque

from ragstate.testing.anthropic.batches import BatchBook
from ragstate.testing.anthropic.handler import Handler, Server
from ragstate.testing.anthropic.plans import Planned, ok
from ragstate.testing.anthropic.recorded import RecordedRequest


class FakeAnthropic:
    """The Messages API on ``self.url`` until :meth:`stop` (or the end of a ``with`` block)."""

    #: The request handler; a subclass may extend it (the fault suite counts finished answers).
    handler_class: type[Handler] = Handler

    def __init__(self, api_key: str | None = None):
        #: When set, any other key gets 401 ``authentication_error``.
        self.api_key = api_key
        self._lock = threading.Lock()
        self._planned: deque[Planned] = deque()
        self._requests: list[RecordedRequest] = []
        self._cached: set[str] = set()  # prompt-cache prefixes written
        #: The Message Batches made (POST /v1/messages/batches) and how soon they end.
        self.batches = BatchBook()
        #: A pause before each text delta of a stream, like a model producing tokens.
        self.delta_delay_s = 0.0
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeAnthropic:
        self._server = Server(("127.0.0.1", 0), self.handler_class)
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
        return f"http://{host!s}:{port}"  # an IPv4 server's host is a str

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
        self.delta_delay_s = 0.0

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
