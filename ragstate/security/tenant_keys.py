"""Who a request acts for, from the key it presents: :class:`KeyResolver` turns a key into a
:class:`Principal` (tenant, key id, scopes, access groups, budget policy), for the gateway and
the codec server alike.

Two kinds of key are accepted:

- the deployment's own keys (``RAGSTATE_GATEWAY_API_KEYS`` / ``_API_KEYS_FILE``): the default
  tenant with every scope, as before tenants, so no deployment breaks;
- tenant keys (``ragstate keys create``, ``rsk_<id>_<secret>``) when
  ``RAGSTATE_GATEWAY_TENANT_KEYS=true``: looked up by id in the ``RagKeys`` table (hashes
  only), which is read again every ``RAGSTATE_GATEWAY_KEYS_REFRESH_S`` seconds, so a revoked
  key stops working within seconds on every running process, with no restart.

Example::

    resolver = KeyResolver(["legacy-key"], fetch_table=rag.key_table, tenant_keys=True)
    principal = await resolver.resolve(request.headers)   # None: refuse with 401
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ragstate.models.keys import KeyRecord, KeyTable, Scope, TenantPolicy
from ragstate.models.tenancy import DEFAULT_TENANT
from ragstate.security.api_keys import presented_key

__all__ = ["KEY_PREFIX", "KeyResolver", "KeyTableUnavailable", "Principal"]

#: Every tenant key starts so: ``rsk_<id>_<secret>`` (the id is public, the secret is not).
KEY_PREFIX = "rsk_"


@dataclass(frozen=True)
class Principal:
    """Who acts: the tenant, the key's public id (never the key), what it may do, its groups."""

    tenant: str
    key_id: str
    scopes: frozenset[Scope]
    access_groups: list[str] | None = None  # None: every document of the tenant
    policy: TenantPolicy | None = None
    legacy: bool = field(default=False, compare=False)

    def allows(self, scope: Scope) -> bool:
        """``admin`` allows everything; ``decode`` only the codec server."""
        return scope in self.scopes or Scope.admin in self.scopes


#: Every scope: what the deployment's own keys (and a keyless loopback gateway) may do.
ALL_SCOPES = frozenset(Scope)
#: The principal of a gateway without any key (loopback only, as ``check_bind`` enforces).
OPEN_PRINCIPAL = Principal(DEFAULT_TENANT, "none", ALL_SCOPES, legacy=True)


class KeyTableUnavailable(RuntimeError):
    """The key table could not be read, and the last copy is too old to trust."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def _key_id(key: str) -> str | None:
    if not key.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = key[len(KEY_PREFIX) :].partition("_")
    return key_id if sep and secret and 8 <= len(key_id) <= 32 else None


class KeyResolver:
    """Keys to principals; the table is cached ``refresh_s`` seconds and trusted no longer than
    ``stale_s`` when it cannot be read again (then every tenant key is refused: fail closed)."""

    def __init__(
        self,
        legacy_keys: Iterable[str] | Callable[[], Iterable[str]],
        fetch_table: Callable[[], Awaitable[KeyTable]] | None = None,
        *,
        tenant_keys: bool = False,
        refresh_s: float = 2.0,
        stale_s: float = 30.0,
        report_use: Callable[[list[str]], Awaitable[None]] | None = None,
        report_every_s: float = 60.0,
    ):
        # A callable (the keys file's reader) is read again every ``refresh_s``: a key removed
        # from the file stops working without a restart. A list is fixed.
        self._legacy_source = legacy_keys if callable(legacy_keys) else None
        self._legacy = self._digests(legacy_keys() if callable(legacy_keys) else legacy_keys)
        self._legacy_read_at = time.monotonic()
        self._fetch = fetch_table
        self.tenant_keys = tenant_keys and fetch_table is not None
        # Decided once: a deployment that started with keys never opens up because a file emptied.
        self._enabled = bool(self._legacy) or self.tenant_keys
        self.refresh_s, self.stale_s = refresh_s, stale_s
        self._table: KeyTable | None = None
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()
        self._report, self._report_every_s = report_use, report_every_s
        self._used: set[str] = set()
        self._reported_at = time.monotonic()

    @property
    def enabled(self) -> bool:
        """Whether requests must present a key (else every request is :data:`OPEN_PRINCIPAL`)."""
        return self._enabled

    @staticmethod
    def _digests(keys: Iterable[str]) -> list[tuple[bytes, str]]:
        return [(_digest(k), hashlib.sha256(k.encode()).hexdigest()[:8]) for k in keys if k]

    def _legacy_keys(self) -> list[tuple[bytes, str]]:
        """The deployment's own keys, re-read from their source when older than ``refresh_s``
        (an unreadable keys file: none of its keys, closed)."""
        if self._legacy_source is not None and time.monotonic() - self._legacy_read_at >= self.refresh_s:
            try:
                self._legacy = self._digests(self._legacy_source())
            except OSError:
                self._legacy = []
            self._legacy_read_at = time.monotonic()
        return self._legacy

    async def table(self) -> KeyTable:
        """The key table, read again when older than ``refresh_s``."""
        if time.monotonic() - self._read_at < self.refresh_s and self._table is not None:
            return self._table
        async with self._lock:
            if time.monotonic() - self._read_at >= self.refresh_s or self._table is None:
                assert self._fetch is not None
                try:
                    self._table = await self._fetch()
                    self._read_at = time.monotonic()
                except Exception as e:
                    if self._table is None or time.monotonic() - self._read_at > self.stale_s:
                        raise KeyTableUnavailable(f"the key table cannot be read: {type(e).__name__}") from None
        assert self._table is not None
        return self._table

    async def resolve(self, headers: Mapping[str, str]) -> Principal | None:
        """The request's principal; None when the key is missing, wrong or revoked."""
        if not self.enabled:
            return OPEN_PRINCIPAL
        given = presented_key(headers)
        if not given:
            return None
        digest = _digest(given)
        legacy_id = None
        for expected, public_id in self._legacy_keys():  # every key, no early exit
            if hmac.compare_digest(digest, expected):
                legacy_id = public_id
        if legacy_id is not None:
            return Principal(DEFAULT_TENANT, f"env-{legacy_id}", ALL_SCOPES, legacy=True)
        tenant_key_id = _key_id(given)
        if not self.tenant_keys or tenant_key_id is None:
            return None
        table = await self.table()
        record = next((k for k in table.keys if k.id == tenant_key_id), None)
        if record is None or not record.active or not hmac.compare_digest(digest.hex(), record.digest):
            return None
        await self._note_use(record)
        return Principal(
            record.tenant,
            record.id,
            frozenset(record.scopes),
            list(record.access_groups),
            table.policy(record.tenant),
        )

    async def _note_use(self, record: KeyRecord) -> None:
        """Remember the key was used; report the ids at most once per ``report_every_s``."""
        self._used.add(record.id)
        if self._report is None or time.monotonic() - self._reported_at < self._report_every_s:
            return
        ids, self._used, self._reported_at = sorted(self._used), set(), time.monotonic()
        task = asyncio.ensure_future(self._report(ids))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # best effort: never fails a request
