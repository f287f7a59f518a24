"""What the gateway's tests share: apps over a Temporal client (or one that must not be
contacted), an in-process httpx client, and checks of the JSON error shape."""

from __future__ import annotations

import asyncio
import time

import httpx
from fastapi import FastAPI
from temporalio.client import Client

from ragstate.client import RagClient
from ragstate.gateway import GatewaySettings, create_app
from ragstate.settings import Settings
from ragstate.temporal.devserver import free_port  # noqa: F401  (the gateway tests import it from here)


def app_on(client: Client, settings: Settings, **gateway) -> FastAPI:
    """The gateway over an already connected Temporal client."""

    async def factory(s: Settings) -> RagClient:
        return RagClient(client, s)

    return create_app(settings, rag_client_factory=factory, gateway=GatewaySettings(_env_file=None, **gateway))


def app_without_temporal(**gateway) -> FastAPI:
    """For answers that must come before anything is started: contacting Temporal fails the test."""

    async def factory(_: Settings) -> RagClient:
        raise AssertionError("the gateway contacted Temporal for a request it should have refused")

    return create_app(
        Settings(_env_file=None), rag_client_factory=factory, gateway=GatewaySettings(_env_file=None, **gateway)
    )


def http(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=60)


def assert_error(r: httpx.Response, status: int, kind: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert isinstance(err["message"], str) and err["message"]
    if kind is not None:
        assert err["type"] == kind, err
    return err


async def poll(h: httpx.AsyncClient, url: str, within_s: float = 30) -> dict:
    deadline = time.monotonic() + within_s
    while True:
        r = await h.get(url)
        assert r.status_code == 200, r.text
        if r.json()["state"] != "running" or time.monotonic() > deadline:
            return r.json()
        await asyncio.sleep(0.2)


async def wait_until(condition, within_s: float = 20) -> None:
    await wait_until_async(lambda: _now(condition()), within_s)


async def wait_until_async(check, within_s: float = 20) -> None:
    """Until ``await check()`` is true (a request's answer, say), asking every 50 ms."""
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def _now(value: bool) -> bool:
    return value
