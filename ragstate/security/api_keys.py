"""API keys for ragstate's HTTP endpoints (the gateway and the codec server): accepted as
``Authorization: Bearer <key>`` or ``x-api-key: <key>``, compared in constant time against
every configured key, so neither a wrong key's length nor its prefix shows in the timing.

Example::

    keys = ApiKeys(["k-1", "k-2"])
    keys.allows({"authorization": "Bearer k-2"})    # True
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from collections.abc import Iterable, Mapping

__all__ = ["ApiKeys", "UnsafeBind", "check_bind", "is_loopback", "presented_key"]


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def presented_key(headers: Mapping[str, str]) -> str:
    """The key a request presents (``x-api-key``, else a Bearer token), or ''."""
    given = headers.get("x-api-key")
    if given:
        return given
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class ApiKeys:
    """The accepted keys; no keys means the endpoint is open (callers decide whether that is
    allowed, e.g. only on a loopback address)."""

    def __init__(self, keys: Iterable[str]):
        self._digests = [_digest(k) for k in keys if k]

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def allows(self, headers: Mapping[str, str]) -> bool:
        """Whether the request's key is one of the keys; always True when none are configured."""
        if not self._digests:
            return True
        given = presented_key(headers)
        if not given:
            return False
        digest = _digest(given)
        ok = False
        for expected in self._digests:  # every key, no early exit
            ok |= hmac.compare_digest(digest, expected)
        return ok


class UnsafeBind(ValueError):
    """A server was asked to listen beyond this machine with no API key to guard it."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) means this machine only."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def check_bind(host: str, keys: ApiKeys, *, insecure: bool, what: str) -> None:
    """Refuse to serve ``what`` on a non-loopback address without API keys, unless ``insecure``:
    anyone who reaches the port could use it."""
    if keys.enabled or insecure or is_loopback(host):
        return
    raise UnsafeBind(
        f"refusing to serve the {what} on {host} without API keys: anyone who can reach the port "
        "could use it. Set RAGSTATE_GATEWAY_API_KEYS (or _API_KEYS_FILE), listen on 127.0.0.1, "
        "or pass --insecure if something in front of it authenticates every request"
    )
