"""What every ragstate Lambda function reads at cold start: API keys from Secrets Manager and the
Temporal connection (``temporal.toml`` or the settings).

Shared by the worker function (:mod:`ragstate.workers.aws_lambda`) and the SQS ingest function
(:mod:`ragstate.workers.sqs_ingest`); kept apart from the first so that the second never imports
the Lambda worker contrib.

Example::

    load_secrets()                      # before Settings(): the secrets fill variables it reads
    client = await Client.connect(**connect_config(Settings()))
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from ragstate.settings import Settings

#: Secret ARN variable -> the variables it fills (only those not set already).
SECRET_VARIABLES: dict[str, tuple[str, ...]] = {
    "RAGSTATE_ANTHROPIC_API_KEY_SECRET_ARN": ("RAGSTATE_ANTHROPIC_API_KEY",),
    "RAGSTATE_TEMPORAL_API_KEY_SECRET_ARN": ("TEMPORAL_API_KEY", "RAGSTATE_TEMPORAL_API_KEY"),
    "RAGSTATE_QDRANT_API_KEY_SECRET_ARN": ("RAGSTATE_QDRANT_API_KEY",),
    "RAGSTATE_PAYLOAD_KEYS_SECRET_ARN": ("RAGSTATE_PAYLOAD_KEYS",),
}


def _read_secret(arn: str) -> str:
    import boto3  # in every Lambda Python runtime; not a dependency of ragstate

    value = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    try:
        parsed = json.loads(value)
    except ValueError:
        return value.strip()
    if isinstance(parsed, dict) and len(parsed) == 1:
        return str(next(iter(parsed.values())))
    if isinstance(parsed, dict) and "api_key" in parsed:
        return str(parsed["api_key"])
    return value.strip()


def load_secrets(
    environ: MutableMapping[str, str] | None = None, read: Callable[[str], str] = _read_secret
) -> list[str]:
    """Fill API keys from Secrets Manager once per cold start, before settings and the contrib
    read the environment. A secret is a plain string, or JSON with one value (or ``api_key``).
    Returns the variables set; variables already set are left alone."""
    env: MutableMapping[str, str] = os.environ if environ is None else environ
    filled: list[str] = []
    for arn_var, targets in SECRET_VARIABLES.items():
        arn = env.get(arn_var)
        missing = [t for t in targets if not env.get(t)]
        if arn and missing:
            value = read(arn)
            for t in missing:
                env[t] = value
            filled.extend(missing)
    return filled


def config_file(environ: Mapping[str, str] = os.environ) -> Path:
    """``temporal.toml`` as the contrib finds it: TEMPORAL_CONFIG_FILE, $LAMBDA_TASK_ROOT, cwd."""
    if environ.get("TEMPORAL_CONFIG_FILE"):
        return Path(environ["TEMPORAL_CONFIG_FILE"])
    return Path(environ.get("LAMBDA_TASK_ROOT") or ".") / "temporal.toml"


def connect_config(settings: Settings, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Keyword arguments for ``Client.connect`` (see the module docstring for the order)."""
    from temporalio.envconfig import ClientConfigProfile

    from ragstate.security.codec import data_converter

    cfg: dict[str, Any] | None = None
    if settings.temporal_profile:
        cfg = dict(
            ClientConfigProfile.load(
                profile=settings.temporal_profile, config_source=config_file(environ)
            ).to_client_connect_config()
        )
    elif "temporal_address" not in settings.model_fields_set:
        cfg = dict(ClientConfigProfile.load(config_source=config_file(environ)).to_client_connect_config())
        if not cfg.get("target_host"):
            cfg = None
    if cfg is None:
        api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
        cfg = {
            "target_host": settings.temporal_address,
            "namespace": settings.temporal_namespace,
            "api_key": api_key,
            "tls": settings.temporal_tls or bool(api_key),
        }
    cfg["data_converter"] = data_converter(settings)  # the payload codec too, when keys are set
    return cfg
