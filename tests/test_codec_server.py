"""ragstate.security.codec_server: Temporal's remote codec protocol, behind a credential, with CORS for the UI."""

from __future__ import annotations

import base64
import json
import os

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from ragstate.security.codec import EncryptionCodec, parse_keys
from ragstate.security.codec_server import MAX_BODY_BYTES, create_codec_app
from ragstate.security.tenant_keys import KeyResolver

UI = "http://localhost:8233"
KEY = "codec-key-123"


@pytest.fixture
def codec() -> EncryptionCodec:
    return EncryptionCodec(parse_keys(f"k1:{base64.b64encode(os.urandom(32)).decode()}"))


def http(codec: EncryptionCodec, keys: list[str]) -> httpx.AsyncClient:
    app = create_codec_app(codec, KeyResolver(keys), [UI], allowed_hosts=["codec"])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec")


def body(*payloads: Payload) -> dict:
    return json_format.MessageToDict(Payloads(payloads=list(payloads)))


async def test_decode_for_a_valid_credential_refused_without(codec: EncryptionCodec):
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"What is BM25?"')])
    async with http(codec, [KEY]) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
            refused = await client.post("/decode", json=body(sealed), headers=headers)
            assert refused.status_code == 401 and "BM25" not in refused.text
        ok = await client.post(
            "/decode", json=body(sealed), headers={"Authorization": f"Bearer {KEY}", "X-Namespace": "default"}
        )
    assert ok.status_code == 200
    [plain] = json_format.ParseDict(ok.json(), Payloads()).payloads
    assert plain.data == b'"What is BM25?"'


async def test_encode_then_decode_round_trips(codec: EncryptionCodec):
    original = Payload(metadata={"encoding": b"json/plain"}, data=b'{"question": "x"}')
    async with http(codec, [KEY]) as client:
        headers = {"x-api-key": KEY}
        sealed = (await client.post("/encode", json=body(original), headers=headers)).json()
        assert base64.b64decode(sealed["payloads"][0]["metadata"]["encoding"]) == b"binary/encrypted"
        back = (await client.post("/decode", json=sealed, headers=headers)).json()
    assert json_format.ParseDict(back, Payloads()).payloads[0] == original


async def test_the_ui_origin_gets_cors_other_origins_do_not(codec: EncryptionCodec):
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
    }
    async with http(codec, [KEY]) as client:
        allowed = await client.options("/decode", headers={"Origin": UI, **preflight})
        other = await client.options("/decode", headers={"Origin": "http://evil.example", **preflight})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == UI
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in other.headers


async def test_bad_bodies_and_unknown_keys_are_clear_errors(codec: EncryptionCodec):
    other = EncryptionCodec(parse_keys(f"old:{base64.b64encode(os.urandom(32)).decode()}"))
    [foreign] = await other.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"1")])
    async with http(codec, []) as client:
        bad = await client.post("/decode", content=b"not json")
        unknown = await client.post("/decode", json=body(foreign))
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "InvalidRequest"
    assert unknown.status_code == 422 and "'old'" in unknown.json()["error"]["message"]


async def test_an_oversized_body_is_refused_as_it_streams_and_other_hosts_are_refused(codec: EncryptionCodec):
    """Before: a 200 MB body was read whole before its size was checked (peak 485 MB), and any
    Host header was served (a page rebinding its DNS name to 127.0.0.1 reached a loopback server)."""
    sent = 0

    async def chunks():  # no Content-Length: chunked, as an attacker would send it
        nonlocal sent
        for _ in range(1000):
            sent += 1
            yield b"x" * 1_000_000

    async with http(codec, []) as client:
        streamed = await client.post("/decode", content=chunks())
        declared = await client.post("/decode", content=b"x", headers={"content-length": str(MAX_BODY_BYTES + 1)})
        rebound = await client.post("/decode", json=body(), headers={"host": "attacker.example"})
    assert streamed.status_code == 413 and sent < 20, sent  # stopped reading just past the cap (8 MB)
    assert declared.status_code == 413
    assert rebound.status_code == 400
    app = create_codec_app(codec, KeyResolver([]))  # the default: loopback names only
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8081") as c:
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/healthz", headers={"host": "rebind.attacker.example"})).status_code == 400


async def test_a_tenant_key_decodes_only_with_the_decode_or_admin_scope(codec: EncryptionCodec, caplog):
    """Issue 23: any gateway key decrypted every payload. A tenant's query or ingest key is now
    403 (an audit line, never the key); its decode or admin key decodes; a revoked key is 401."""
    import logging

    caplog.set_level(logging.INFO, logger="ragstate.audit")
    import hashlib
    from datetime import UTC, datetime

    from ragstate.client.tenants import new_key
    from ragstate.models.keys import KeyRecord, KeyTable, Scope

    keys: dict[str, str] = {}
    records = []
    for name, scopes, revoked in (
        ("query", [Scope.query, Scope.ingest], False),
        ("decode", [Scope.decode], False),
        ("admin", [Scope.admin], False),
        ("revoked", [Scope.decode], True),
    ):
        key_id, key = new_key()
        keys[name] = key
        records.append(
            KeyRecord(
                id=key_id,
                tenant="acme",
                scopes=scopes,
                digest=hashlib.sha256(key.encode()).hexdigest(),
                created_at=datetime.now(UTC),
                revoked_at=datetime.now(UTC) if revoked else None,
            )
        )

    async def table() -> KeyTable:
        return KeyTable(keys=records)

    app = create_codec_app(codec, KeyResolver([], table, tenant_keys=True), [UI], allowed_hosts=["codec"])
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"secret question"')])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as client:
        status = {}
        for name, key in keys.items():
            r = await client.post("/decode", json=body(sealed), headers={"Authorization": f"Bearer {key}"})
            status[name] = r.status_code
            assert r.status_code == 200 or "secret question" not in r.text
    assert status == {"query": 403, "decode": 200, "admin": 200, "revoked": 401}
    denied = [json.loads(r.getMessage()) for r in caplog.records if r.name == "ragstate.audit"]
    assert [(d["audit"], d["tenant"], d["outcome"]) for d in denied] == [("decode", "acme", "denied: missing scope")]
    assert not any(key in r.getMessage() for r in caplog.records for key in keys.values())
