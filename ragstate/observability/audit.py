"""The audit trail: one JSON line on the ``ragstate.audit`` logger per admin action and per
denied request, from the gateway, the codec server and the CLI alike (tenant, key id, action,
target, outcome: never a key).

Example::

    audit_line("revoke key", "revoked", tenant="operator", key_id="cli", target="acme/3f2a9c1d0b7e")
    # INFO ragstate.audit: {"audit": "revoke key", "key_id": "cli", "outcome": "revoked", ...}
"""

from __future__ import annotations

import json
import logging
from typing import Any

__all__ = ["audit_line"]

log = logging.getLogger("ragstate.audit")


def audit_line(action: str, outcome: str, *, tenant: str, key_id: str, target: str = "", **extra: Any) -> None:
    line = {"audit": action, "tenant": tenant, "key_id": key_id, "target": target, "outcome": outcome}
    log.info(json.dumps({**line, **extra}, sort_keys=True))
