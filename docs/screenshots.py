"""Screenshots of the Temporal web UI for the docs, taken with headless Chromium (Debian's
``chromium`` package) against a private local stack.

    python docs/screenshots.py                 # writes docs/img/*.png

- ``encrypted-query.png``: a query run with payload encryption on, its history decoded in the
  UI through ``ragstate codec-server`` (the dev server's ``--ui-codec-endpoint``).
- ``encrypted-query-no-codec.png``: the same run seen without the codec server: ciphertext.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "What do the BM25 parameters k1 and b control?"


def screenshot(url: str, out: Path, wait_ms: int = 12_000, size: str = "1500,1100") -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is missing: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={size}",
                f"--virtual-time-budget={wait_ms}",
                f"--screenshot={out}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


@contextlib.contextmanager
def stack(data: Path, codec_port: int | None) -> Iterator[tuple[object, int]]:
    from ragstate.temporal.devserver import DevServer, free_port

    ui_port = free_port()
    extra = ["--ui-codec-endpoint", f"http://127.0.0.1:{codec_port}"] if codec_port else []
    with DevServer(data / "server", port=free_port(), ui_port=ui_port, extra_args=extra) as server:
        yield server, ui_port


async def encrypted_query(out_dir: Path) -> None:
    import uvicorn

    from ragstate.client import RagClient
    from ragstate.security.api_keys import ApiKeys
    from ragstate.security.codec import codec_for, new_key_spec
    from ragstate.security.codec_server import create_codec_app
    from ragstate.settings import Settings
    from ragstate.temporal.connection import connect
    from ragstate.temporal.devserver import free_port
    from ragstate.workers.runtime import running_workers

    codec_port = free_port()
    with tempfile.TemporaryDirectory(prefix="ragstate-shots-") as tmp, stack(Path(tmp), codec_port) as (server, ui):
        settings = Settings(
            data_dir=Path(tmp) / "data",
            temporal_address=server.address,  # type: ignore[attr-defined]
            payload_keys=new_key_spec("docs"),
            _env_file=None,
        )
        codec = codec_for(settings)
        assert codec is not None
        origins = [f"http://localhost:{ui}", f"http://127.0.0.1:{ui}"]
        codec_server = uvicorn.Server(
            uvicorn.Config(
                create_codec_app(codec, ApiKeys([]), origins), host="127.0.0.1", port=codec_port, log_level="warning"
            )
        )
        codec_task = asyncio.create_task(codec_server.serve())
        client = await connect(settings)
        rag = RagClient(client, settings)
        async with running_workers(client, settings):
            await rag.ingest([str(ROOT / "examples" / "corpus")])
            answer = await rag.ask(QUESTION)
        url = f"http://localhost:{ui}/namespaces/default/workflows/{answer.workflow_id}/{answer.run_id}/history"
        await asyncio.to_thread(screenshot, url, out_dir / "encrypted-query.png")
        codec_server.should_exit = True
        await codec_task
        await asyncio.to_thread(screenshot, url, out_dir / "encrypted-query-no-codec.png")


def take_screenshots(take: Callable[[Path], Awaitable[None]], description: str) -> None:
    """The command line of a screenshot script: ``--out`` (docs/img), then ``take(out)``."""
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    asyncio.run(take(args.out))


def main() -> None:
    take_screenshots(encrypted_query, __doc__ or "")


if __name__ == "__main__":
    main()
