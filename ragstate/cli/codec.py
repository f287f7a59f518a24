"""`ragstate codec-server`: decrypted payloads for the Temporal UI and CLI (ragstate.security.codec_server)."""

from __future__ import annotations

import os

import typer

from ragstate.cli._common import cli_settings, console, fail


def codec_server(
    host: str = typer.Option("127.0.0.1", help="listen address (loopback unless API keys are set)"),
    port: int = typer.Option(8081, help="listen port"),
    cors_origin: list[str] = typer.Option(
        [],
        "--cors-origin",
        help="a UI origin allowed to call it (repeatable; default: the local UI, "
        "or RAGSTATE_CODEC_CORS_ORIGINS, comma-separated)",
    ),
    allowed_host: list[str] = typer.Option(
        [],
        "--allowed-host",
        help="a host name clients reach it by (repeatable; default: the loopback names, or the listen "
        "address; other Host headers are refused: DNS rebinding)",
    ),
    insecure: bool = typer.Option(False, help="allow a non-loopback address without API keys"),
    new_key: bool = typer.Option(False, "--new-key", help="print a fresh RAGSTATE_PAYLOAD_KEYS entry and exit"),
) -> None:
    """Serve Temporal's remote codec protocol (/encode, /decode) with the payload keys, so the
    web UI (`--ui-codec-endpoint`) shows decrypted payloads to those holding a credential."""
    from ragstate.security.codec import codec_for, new_key_spec

    if new_key:
        print(new_key_spec())
        return
    import uvicorn

    from ragstate.gateway import GatewaySettings
    from ragstate.security.api_keys import ApiKeys, UnsafeBind, check_bind
    from ragstate.security.codec_server import DEFAULT_CORS_ORIGINS, LOOPBACK_HOSTS, create_codec_app

    codec = codec_for(cli_settings())
    if codec is None:
        fail("no payload keys: set RAGSTATE_PAYLOAD_KEYS (make one with `ragstate codec-server --new-key`)")
    gateway = GatewaySettings()
    keys = ApiKeys(gateway.keys() or (["tenant keys"] if gateway.tenant_keys else []))
    try:
        check_bind(host, keys, insecure=insecure, what="codec server")
    except UnsafeBind as e:
        fail(str(e))
    env_origins = [o.strip() for o in os.environ.get("RAGSTATE_CODEC_CORS_ORIGINS", "").split(",") if o.strip()]
    origins = cors_origin or env_origins or list(DEFAULT_CORS_ORIGINS)
    console.print(
        f"codec server on http://{host}:{port} (key {codec.key_id} encrypts; CORS {', '.join(origins)}; "
        f"{'API keys required' if keys.enabled else 'no API keys: loopback only'})"
    )
    if host in LOOPBACK_HOSTS:
        hosts = [*LOOPBACK_HOSTS, *allowed_host]
    else:  # a wildcard bind answers to the names given, else to any (API keys are required there)
        hosts = allowed_host or (["*"] if host in ("0.0.0.0", "::") else [host])
    app = create_codec_app(codec, codec_keys(gateway), origins, hosts)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def codec_keys(gateway):
    """The gateway's own keys; and tenant keys (with the decode or admin scope) read from the
    RagKeys workflow when ``RAGSTATE_GATEWAY_TENANT_KEYS`` is on."""
    from ragstate.security.tenant_keys import KeyResolver

    client = None

    async def fetch():
        nonlocal client
        if client is None:
            from ragstate.client import RagClient

            client = await RagClient.connect(cli_settings())
        return await client.key_table()

    return KeyResolver(gateway.keys(), fetch, tenant_keys=gateway.tenant_keys, refresh_s=gateway.keys_refresh_s)
