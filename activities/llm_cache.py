"""Completed LLM answers, kept so that a retried Synthesize never pays for an answer twice.

A worker can die (or lose its connection to Temporal) after the API answered and before the
activity's result was recorded; Temporal then retries the activity. The answer is written
here, one file per request (named by the SHA-256 of model, max_tokens, system prompt,
messages and the activity the attempts belong to), before the activity returns; a retry looks
here first, so only an attempt that never finished costs another call. A first attempt always
asks the API: a new question gets a fresh answer even when the prompt repeats.

Files are written atomically (a temporary file, then ``os.replace``), so a reader sees a
whole answer or none. The directory is ``settings.llm_cache_path`` (``data_dir/llm-cache``):
LLM workers on several hosts (a Qdrant server backend, scaled-out workers) must share it
(``RAGSTATE_LLM_CACHE_DIR`` on a shared volume), or a retry that lands on another host pays
again. Entries older than ``settings.llm_cache_ttl_s`` are removed as new ones are written.

Example::

    cache = AnswerCache(settings.llm_cache_path, settings.llm_cache_ttl_s)
    key = request_key(request, attempt_of=f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}")
    result = await cache.load(key) or await ask_the_api(request)
    await cache.store(key, result)

In an async activity use ``load`` and ``store``: they run ``get`` and ``put`` (stat, read,
write, fsync, rename, directory scan) on a thread, never on the worker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ragstate.models import SynthesisResult

log = logging.getLogger("ragstate.llm")

#: The request fields that decide the answer (``stream`` only changes how it travels).
KEY_FIELDS = ("model", "max_tokens", "system", "messages")
#: Expired entries are looked for at most this often per process.
PRUNE_EVERY_S = 600.0


def request_key(request: dict[str, Any], attempt_of: str = "") -> str:
    """The SHA-256 of what decides a request's answer (canonical JSON) and of the activity whose
    attempts share it (``attempt_of``: workflow id, run id and activity id). Scoped so, the cache
    only ever spares a retry of the same step: another run asking the same prompt gets a fresh
    answer, as a user asking again expects."""
    decisive: dict[str, Any] = {name: request.get(name) for name in KEY_FIELDS}
    decisive["attempt_of"] = attempt_of
    return hashlib.sha256(json.dumps(decisive, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class AnswerCache:
    """One JSON file per request key under ``directory``. Best effort: a cache that cannot be
    read or written is logged and the answer goes on without it."""

    def __init__(self, directory: Path, ttl_s: float):
        self.directory = directory
        self.ttl_s = ttl_s
        self._pruned_at = 0.0

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    async def load(self, key: str) -> SynthesisResult | None:
        """:meth:`get` on a thread: an fsync or a scan of a shared (network) volume can take
        long, and on the event loop it would stall every task of the worker meanwhile."""
        return await asyncio.to_thread(self.get, key)

    async def store(self, key: str, result: SynthesisResult) -> None:
        """:meth:`put` on a thread (see :meth:`load`)."""
        await asyncio.to_thread(self.put, key, result)

    def get(self, key: str) -> SynthesisResult | None:
        path = self._path(key)
        try:
            if time.time() - path.stat().st_mtime > self.ttl_s:
                return None
            return SynthesisResult.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            log.warning("cached LLM answer %s not readable: %s", path, e)
            return None

    def put(self, key: str, result: SynthesisResult) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{key[:16]}-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(result.model_dump_json().encode())
                    f.flush()
                    os.fsync(f.fileno())  # durable before the activity reports its result
                os.replace(tmp, self._path(key))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as e:
            log.warning("LLM answer not cached in %s (a retry would pay again): %s", self.directory, e)
            return
        self._prune()

    def _prune(self) -> None:
        """Remove expired entries (and temporary files left by a killed worker)."""
        now = time.time()
        if now - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = now
        with contextlib.suppress(OSError), os.scandir(self.directory) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if now - entry.stat().st_mtime > self.ttl_s:
                        os.unlink(entry.path)
