"""One settings object for every process (:class:`Settings`, env prefix ``RAGSTATE_``) and the
gateway's own (:class:`GatewaySettings`, ``RAGSTATE_GATEWAY_``), in one place.

Usage::

    from ragstate.settings import Settings
    settings = Settings(data_dir="/tmp/rag")          # explicit values win over env
    settings.anthropic_key()                            # None -> offline extractive mode

Modules: :mod:`.core` (Settings), :mod:`.choices` (the enum-valued settings), :mod:`.gateway`
(GatewaySettings: API keys, limits, bind address). The gateway's settings live here rather than
in the gateway package so that the log setup can redact the gateway's keys without importing
FastAPI.
"""

from ragstate.settings.choices import (
    LAMBDA_ROLES,
    Choice,
    FusionMethod,
    FusionUnit,
    LlmFallback,
    LogFormat,
    QueryEncoding,
    StoreBackend,
    StoreOriginals,
    StoreQuantization,
    WorkflowVersioning,
)
from ragstate.settings.core import Settings, get_settings
from ragstate.settings.gateway import GatewaySettings

__all__ = [
    "LAMBDA_ROLES",
    "Choice",
    "FusionMethod",
    "FusionUnit",
    "GatewaySettings",
    "LlmFallback",
    "LogFormat",
    "QueryEncoding",
    "Settings",
    "StoreBackend",
    "StoreOriginals",
    "StoreQuantization",
    "WorkflowVersioning",
    "get_settings",
]
