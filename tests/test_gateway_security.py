"""The gateway's safe defaults and its guards against a hostile client: it listens on loopback
and refuses to listen beyond it without API keys; HTTP ingest is off until roots are set, and
symbolic links cannot lead out of them; the body-size cap holds however the body is framed;
a secret in the query string never reaches the log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from gateway_client import app_on, app_without_temporal, assert_error, free_port, http, poll, wait_until
from temporalio.client import Client
from typer.testing import CliRunner

from ragstate.gateway import GatewaySettings, IngestBody, parser
from ragstate.gateway.inputs import ingest_request
from ragstate.settings import Settings
from ragstate.testing import clean_env
from ragstate.workers.runtime import running_workers

SECRET_TEXT = "The vault combination is quartz-heron-7741, known only to the host."
PUBLIC_TEXT = "Reciprocal rank fusion merges keyword and vector rankings without score calibration."
MB = 1_000_000
JSON = {"content-type": "application/json"}


def gateway_command(entry: str, *argv: str) -> list[str]:
    if entry == "ragstate serve":
        return [str(Path(sys.executable).with_name("ragstate")), "serve", *argv]
    return [sys.executable, "-m", "ragstate.gateway", *argv]


@contextlib.contextmanager
def gateway_process(tmp_path: Path, *argv: str, entry: str = "python -m", **env: str) -> Iterator[tuple[int, Path]]:
    """The gateway as deployed (its own process, its own logging) on a free port: (port, log file)."""
    port = free_port()
    log = tmp_path / f"gateway-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            gateway_command(entry, "--port", str(port), *argv),
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(**env),
        )
    try:
        deadline = time.monotonic() + 45
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        yield port, log
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------------------------
# Unsafe by default: loopback, no HTTP ingest without roots, no open port beyond loopback
# ---------------------------------------------------------------------------------------------


def test_the_gateway_listens_on_loopback_by_default(monkeypatch):
    for var in ("RAGSTATE_GATEWAY_HOST", "PORT"):
        monkeypatch.delenv(var, raising=False)
    settings = GatewaySettings(_env_file=None)
    assert settings.host == "127.0.0.1"
    assert parser(settings).parse_args([]).host == "127.0.0.1"
    # `ragstate serve` hands the gateway its flags: with none given, the same default.
    seen: list[list[str]] = []
    monkeypatch.setattr("ragstate.gateway.main", seen.append)
    from ragstate.cli import app

    assert CliRunner().invoke(app, ["serve"]).exit_code == 0
    assert parser(settings).parse_args(seen[0]).host == "127.0.0.1"


async def test_http_ingest_is_403_until_roots_are_set():
    async with http(app_without_temporal()) as h:
        for paths in (["docs"], ["/etc/passwd"], ["."]):
            err = assert_error(await h.post("/v1/ingest", json={"paths": paths}), 403, "IngestForbidden")
            assert "RAGSTATE_GATEWAY_INGEST_ROOTS" in err["message"]


@pytest.mark.parametrize("entry", ["python -m", "ragstate serve"])
def test_listening_beyond_loopback_without_keys_is_refused(tmp_path: Path, entry: str):
    done = subprocess.run(
        gateway_command(entry, "--host", "0.0.0.0", "--port", str(free_port())),
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "refusing to serve the gateway on 0.0.0.0 without API keys" in done.stderr, done.stderr
    assert "--insecure" in done.stderr and "Traceback" not in done.stderr + done.stdout, done.stderr


@pytest.mark.parametrize(
    ("argv", "env"),
    [(["--host", "0.0.0.0", "--insecure"], {}), (["--host", "0.0.0.0"], {"RAGSTATE_GATEWAY_API_KEYS": "k-123456"})],
    ids=["insecure", "api-keys"],
)
def test_listening_beyond_loopback_deliberately(tmp_path: Path, argv: list[str], env: dict[str, str]):
    with gateway_process(tmp_path, *argv, **env) as (port, _):
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json() == {"status": "ok"}


# ---------------------------------------------------------------------------------------------
# Symbolic links cannot lead out of the ingest roots
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def linked_root(tmp_path: Path) -> Path:
    """A root with one file of its own, a link to a folder outside and a link to a file outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET_TEXT)
    (outside / "other-secret.md").write_text(SECRET_TEXT)
    root = tmp_path / "root"
    root.mkdir()
    (root / "public.txt").write_text(PUBLIC_TEXT)
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "leak.md").symlink_to(outside / "other-secret.md")
    return root


async def test_named_paths_are_checked_on_their_real_path(linked_root: Path):
    outside = linked_root.parent / "outside"
    async with http(app_without_temporal(ingest_roots=str(linked_root))) as h:
        for path in ("escape/secret.txt", "escape", "leak.md", str(linked_root / "escape" / "secret.txt")):
            err = assert_error(await h.post("/v1/ingest", json={"paths": [path]}), 400, "InvalidRequest")
            assert "outside the folders" in err["message"], path
        assert_error(await h.post("/v1/ingest", json={"paths": [str(outside)]}), 400, "InvalidRequest")


def test_the_roots_travel_with_the_request_so_discovery_checks_every_file(linked_root: Path):
    request = ingest_request(IngestBody(paths=["."]), [linked_root])
    assert request.paths == [str(linked_root)]
    assert request.roots == [str(linked_root)]


async def test_no_file_outside_the_roots_is_indexed_or_searchable(client: Client, settings: Settings, linked_root):
    app = app_on(client, settings, ingest_roots=str(linked_root))
    async with running_workers(client, settings), http(app) as h:
        assert_error(await h.post("/v1/ingest", json={"paths": ["escape/secret.txt"]}), 400, "InvalidRequest")
        r = await h.post("/v1/ingest", json={"paths": ["."]})
        assert r.status_code == 202, r.text
        status = await poll(h, r.json()["status_url"], within_s=60)
        assert status["state"] == "completed", status
        result = status["result"]
        assert result["documents"] == 1, result  # public.txt only
        refused = {Path(f["source"]).name: f["reason"] for f in result["failures"]}
        assert "outside the folders" in refused.get("other-secret.md", ""), result["failures"]
        r = await h.post("/v1/query", json={"question": "What is the vault combination?", "timeout_s": 30})
        assert r.status_code == 200, r.text
        assert "quartz-heron" not in r.text
        assert {Path(c["source"]).name for c in r.json()["citations"]} <= {"public.txt"}


# ---------------------------------------------------------------------------------------------
# The body-size cap holds while the body streams in, whatever the framing
# ---------------------------------------------------------------------------------------------


class ChunkedBody:
    """A JSON body of about ``size`` bytes sent chunked (no Content-Length), counting what the
    server pulled: proof that it stopped reading rather than buffering the rest."""

    CHUNK = 64 * 1024

    def __init__(self, size: int):
        self.size = size
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"question": "'
        while self.sent < self.size:
            self.sent += self.CHUNK
            yield b"x" * self.CHUNK
        yield b'"}'


@pytest.mark.parametrize("size", [int(1.5 * MB), 30 * MB], ids=["1.5MB", "30MB"])
@pytest.mark.parametrize("path", ["/v1/query", "/v1/ingest"])
async def test_a_chunked_body_over_the_cap_is_413_as_soon_as_it_passes(path: str, size: int, tmp_path: Path):
    body = ChunkedBody(size)
    app = app_without_temporal(ingest_roots=str(tmp_path))  # answers 500 if anything reached Temporal
    async with http(app) as h:
        r = await h.post(path, content=body, headers=JSON)
    assert_error(r, 413, "RequestTooLarge")
    assert body.sent <= MB + 2 * ChunkedBody.CHUNK, f"read {body.sent} bytes past a {MB}-byte cap"


async def test_a_chunked_body_under_the_cap_still_arrives_whole():
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b'{"question": ', b'"", "top_k": 3', b"}"):
            yield part

    async with http(app_without_temporal()) as h:
        r = await h.post("/v1/query", content=chunks(), headers=JSON)
    assert_error(r, 400, "InvalidQuery")  # parsed in full, then refused by ParseQuery's rules


async def test_a_chunked_body_over_the_cap_through_a_real_server():
    app = app_without_temporal()
    pulled = 0  # body bytes the app took from the server

    async def counted(scope, receive, send) -> None:
        async def receive_counted():
            nonlocal pulled
            message = await receive()
            pulled += len(message.get("body", b""))
            return message

        await app(scope, receive_counted, send)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(counted, port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done())
    try:
        async with httpx.AsyncClient(timeout=30) as h:
            r = await h.post(f"http://127.0.0.1:{port}/v1/query", content=ChunkedBody(30 * MB), headers=JSON)
        assert_error(r, 413, "RequestTooLarge")
        assert pulled <= MB + 2 * ChunkedBody.CHUNK, f"the app read {pulled} bytes past a {MB}-byte cap"
    finally:
        server.should_exit = True
        await task


# ---------------------------------------------------------------------------------------------
# A secret in the query string never reaches the log
# ---------------------------------------------------------------------------------------------


def access_lines(log: Path) -> tuple[str, list[str]]:
    """The gateway's log so far, and its access lines for /v1/query and /healthz?... (not the
    audit lines of the refused requests)."""
    output = log.read_text(errors="replace")
    lines = [line for line in output.splitlines() if "ragstate.audit" not in line]
    return output, [line for line in lines if "/v1/query" in line or "/healthz?" in line]


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_key_in_the_query_string_is_refused_and_never_logged(tmp_path: Path, log_format: str):
    secret = f"SECRET-{uuid.uuid4().hex}"
    env = {"RAGSTATE_GATEWAY_API_KEYS": "key-abcdef", "RAGSTATE_LOG_FORMAT": log_format}
    with gateway_process(tmp_path, **env) as (port, log):
        base = f"http://127.0.0.1:{port}"
        r = httpx.post(f"{base}/v1/query?stream=true&api_key={secret}", json={"question": "x"}, timeout=10)
        assert r.status_code == 401 and secret not in r.text
        assert httpx.get(f"{base}/healthz?token={secret}", timeout=10).status_code == 200
        output, access = access_lines(log)
        deadline = time.monotonic() + 30
        while not (any("401" in line for line in access) and any("/healthz?token=" in line for line in access)):
            # The access log line follows the response: read again until both are written.
            assert time.monotonic() < deadline, output
            time.sleep(0.05)
            output, access = access_lines(log)
    output, access = access_lines(log)  # whole, the gateway stopped
    assert secret not in output, output
    if log_format == "json":
        assert all(json.loads(line)["logger"] == "uvicorn.access" for line in access), access
