"""The base of every model: unknown fields are an error, so a typo in a request never passes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)
