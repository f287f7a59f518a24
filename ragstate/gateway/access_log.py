"""The access log without secrets: uvicorn logs each request line with its query string, where a
client may have put an API key (refused, yet it would stay in the log). Only plain parameter
names, and the values of the parameters the API defines, are kept; the rest is masked.

Example::

    hide_query_secrets()   # once, after logging is configured
    # INFO uvicorn.access: 127.0.0.1:5000 - "POST /v1/query?stream=true&api_key=[redacted] HTTP/1.1" 401
"""

from __future__ import annotations

import logging
import re

from ragstate.observability.logs import REDACTED

__all__ = ["MaskQueryStrings", "hide_query_secrets", "masked_query"]

#: Query parameters of the API whose (plain) values are worth seeing in the log.
API_PARAMETERS = frozenset({"stream"})
#: A lowercase word: a parameter name, or a value like ``true``; anything else may be a secret.
_PLAIN = re.compile(r"[a-z][a-z0-9_]{0,31}|[0-9]")


def masked_query(query: str) -> str:
    """``stream=true&api_key=s3cr3t&T0KEN`` -> ``stream=true&api_key=[redacted]&[redacted]``."""
    parts = []
    for part in query.split("&"):
        name, has_value, value = part.partition("=")
        if not _PLAIN.fullmatch(name):
            parts.append(REDACTED)
        elif not has_value:
            parts.append(name)
        elif name in API_PARAMETERS and _PLAIN.fullmatch(value):
            parts.append(part)
        else:
            parts.append(f"{name}={REDACTED}")
    return "&".join(parts)


class MaskQueryStrings(logging.Filter):
    """For ``uvicorn.access``, whose records carry ``(client, method, path?query, version, status)``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            path, _, query = args[2].partition("?")
            record.args = (*args[:2], f"{path}?{masked_query(query)}", *args[3:])
        return True


def hide_query_secrets() -> None:
    """Mask query strings in uvicorn's access log (idempotent)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, MaskQueryStrings) for f in access.filters):
        access.addFilter(MaskQueryStrings())
