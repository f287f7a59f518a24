"""The gateway's own settings, env prefix ``RAGSTATE_GATEWAY_``.

Example::

    settings = GatewaySettings(api_keys="key-one,key-two", max_concurrent_requests=16)
    settings.keys()   # ['key-one', 'key-two']
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """The gateway's own settings, env prefix ``RAGSTATE_GATEWAY_`` (Temporal, task queues and the
    rest come from :class:`ragstate.settings.Settings` as everywhere else)."""

    model_config = SettingsConfigDict(env_prefix="RAGSTATE_GATEWAY_", env_file=".env", extra="ignore")

    api_keys: SecretStr | None = Field(
        default=None, description="comma-separated API keys; with api_keys_file, either one is accepted"
    )
    api_keys_file: Path | None = Field(default=None, description="one API key per line (# comments allowed)")
    tenant_keys: bool = Field(
        default=False,
        description="accept tenant keys (`ragstate keys create`), read from the RagKeys workflow; the keys "
        "above stay the default tenant's, with every scope",
    )
    keys_refresh_s: float = Field(
        default=2.0, gt=0, le=300, description="how old the cached tenant-key table may be (a revoked key's grace)"
    )
    max_concurrent_requests: int = Field(default=64, ge=1, description="beyond this, /v1 requests get 429")
    tenant_max_concurrent_requests: int | None = Field(
        default=None,
        ge=1,
        description="the most one tenant's keys may hold at once (tenant keys only); unset: half of "
        "max_concurrent_requests, so one tenant's burst leaves room for the others",
    )
    default_timeout_s: float = Field(default=30.0, gt=0, description="a query's time budget when it names none")
    max_timeout_s: float = Field(default=300.0, gt=0, description="the most a request may ask for")
    connect_timeout_s: float = Field(default=10.0, gt=0, description="connecting to Temporal")
    ready_timeout_s: float = Field(default=2.0, gt=0, description="/readyz: connect + one cheap RPC")
    sse_keepalive_s: float = Field(default=15.0, gt=0, description="an SSE comment line when idle this long")
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    ingest_roots: str | None = Field(
        default=None,
        description=f"'{os.pathsep}'-separated folders POST /v1/ingest may read (real paths, links "
        "resolved; relative paths are taken under the first); unset: HTTP ingest is refused (403)",
    )
    # Loopback unless told otherwise: containers and Cloud Run pass --host 0.0.0.0 (with API keys).
    host: str = Field(default="127.0.0.1", description="beyond loopback only with API keys or --insecure")
    port: int = Field(default=8080, ge=1, le=65535, description="$PORT wins (Cloud Run)")

    @model_validator(mode="after")
    def _check(self) -> GatewaySettings:
        if self.default_timeout_s > self.max_timeout_s:
            raise ValueError("default_timeout_s must not exceed max_timeout_s")
        return self

    def keys(self) -> list[str]:
        """Every accepted API key; empty means no authentication."""
        keys = []
        if self.api_keys is not None:
            keys += [k.strip() for k in self.api_keys.get_secret_value().split(",")]
        if self.api_keys_file is not None:
            for line in self.api_keys_file.read_text(encoding="utf-8").splitlines():
                if not line.strip().startswith("#"):
                    keys.append(line.strip())
        return [k for k in keys if k]

    def roots(self) -> list[Path]:
        if not self.ingest_roots:
            return []
        return [Path(os.path.normpath(os.path.abspath(r))) for r in self.ingest_roots.split(os.pathsep) if r.strip()]
