"""`ragstate up`, `ragstate worker` and `ragstate demo`: the local stack and workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from ragstate.cli._common import cli_settings, connect_client, console, fail, local_server
from ragstate.cli.ask import run_ask
from ragstate.cli.ingest import run_ingest
from ragstate.settings import Settings

log = logging.getLogger("ragstate.up")


def answer_mode(settings: Settings) -> str:
    return f"Anthropic {settings.anthropic_model}" if settings.anthropic_key() else "offline extractive (no API key)"


def store_description(settings: Settings) -> str:
    if settings.store_backend.value == "edge":
        return f"embedded Qdrant (edge) under {settings.data_dir.resolve()}"
    return f"Qdrant at {settings.qdrant_url or settings.qdrant_path}"


#: The example corpus beside the package in a source checkout (an editable install).
EXAMPLE_CORPUS = Path(__file__).resolve().parents[2] / "examples" / "corpus"
DEMO_QUESTIONS = [
    "How does reciprocal rank fusion combine keyword and vector results?",
    "What do the BM25 parameters k1 and b control?",
    "What happens to a workflow when its worker crashes?",
]
#: A conversation: the second question only makes sense after the first.
DEMO_CONVERSATION = ["What is BM25?", "Which of its parameters saturates term frequency?"]


def up(
    data_dir: Path | None = typer.Option(None, help="default: RAGSTATE_DATA_DIR or .ragstate"),
    port: int = typer.Option(7233, help="Temporal frontend port"),
    ui_port: int = typer.Option(8233, help="Temporal web UI port"),
    codec_port: int = typer.Option(8081, help="codec server port, when RAGSTATE_PAYLOAD_KEYS is set"),
) -> None:
    """Run the local stack in the foreground: Temporal dev server (SQLite under the data
    directory, UI, search attributes registered) and one worker serving every task queue; with
    payload keys set, a codec server too, so the UI shows decrypted payloads."""
    from ragstate.observability.logs import configure_logging
    from ragstate.security.codec import codec_for
    from ragstate.temporal.devserver import DevServer

    settings = cli_settings(data_dir)
    configure_logging(settings)  # a long-running process: INFO lines (or RAGSTATE_LOG_LEVEL) are its output
    codec = codec_for(settings)
    codec_url = f"http://127.0.0.1:{codec_port}" if codec else None
    server = DevServer(
        settings.data_dir,
        port=port,
        ui_port=ui_port,
        extra_args=["--ui-codec-endpoint", codec_url] if codec_url else (),
    )
    try:
        server.start()
    except RuntimeError as e:
        fail(str(e))
    settings = settings.model_copy(update={"temporal_address": server.address, "temporal_ui_url": server.ui_url})
    # Logged, not printed: with RAGSTATE_LOG_FORMAT=json every line of `ragstate up` is JSON.
    log.info("Temporal %s, UI %s, data %s", server.address, server.ui_url, settings.data_dir.resolve())
    log.info("answers: %s; store: %s", answer_mode(settings), store_description(settings))
    if codec_url:
        log.info("payloads encrypted; the UI decodes them through %s", codec_url)
    log.info("worker: serving %s (Ctrl-C to stop)", ", ".join(settings.task_queues))
    try:
        asyncio.run(_serve(settings, codec_port if codec_url else None, ui_port))
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


async def _serve(settings: Settings, codec_port: int | None, ui_port: int) -> None:
    from ragstate.temporal.connection import connect
    from ragstate.workers.runtime import ROLES, serve

    codec = _codec_server(settings, codec_port, ui_port) if codec_port else None
    codec_task = asyncio.create_task(codec.serve()) if codec else None
    try:
        await serve(await connect(settings), settings, ROLES)
    finally:
        if codec and codec_task:
            codec.should_exit = True
            await asyncio.wait([codec_task], timeout=5)


def _codec_server(settings: Settings, port: int, ui_port: int) -> Any:
    """The codec server beside the worker, on loopback (the local UI is loopback too), as a
    uvicorn server to ``serve()``; None when the gateway extra is missing."""
    try:
        import uvicorn

        from ragstate.security.codec_server import create_codec_app
    except ImportError as e:
        log.warning("no codec server (%s): pip install 'ragstate[gateway]'", e)
        return None
    from ragstate.cli.codec import codec_keys
    from ragstate.gateway import GatewaySettings
    from ragstate.security.codec import codec_for

    class BesideWorker(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # Ctrl-C belongs to the worker's drain, which stops this after

    codec = codec_for(settings)
    assert codec is not None  # only started when keys are set
    origins = [f"http://localhost:{ui_port}", f"http://127.0.0.1:{ui_port}"]
    app = create_codec_app(codec, codec_keys(GatewaySettings()), origins)
    return BesideWorker(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))


def worker(
    roles: str = typer.Option(
        "workflows,embeddings,llm", help="comma-separated: workflows, embeddings, llm, gpu-embeddings"
    ),
) -> None:
    """Run a worker against an existing Temporal server (RAGSTATE_TEMPORAL_* settings)."""
    import argparse

    from ragstate.workers.registry import ALL_ROLES, parse_roles

    try:
        chosen = parse_roles(roles, ALL_ROLES)
    except argparse.ArgumentTypeError as e:
        raise typer.BadParameter(str(e), param_hint="--roles") from None
    from ragstate.observability.logs import configure_logging

    settings = cli_settings()
    configure_logging(settings)
    asyncio.run(_worker(settings, chosen))


async def _worker(settings: Settings, roles: list[str]) -> None:
    from ragstate.workers.runtime import serve

    rag = await connect_client(settings)
    await serve(rag.client, settings, roles)


def demo(
    data_dir: Path | None = typer.Option(
        None, help="where the demo keeps its server and index (default: .ragstate/demo)"
    ),
    corpus: Path = typer.Option(
        EXAMPLE_CORPUS, help="the folder to ingest (default: the repository's examples/corpus)"
    ),
    keep: bool = typer.Option(False, help="keep the server and UI running after the demo (Ctrl-C to stop)"),
) -> None:
    """Start a local stack, ingest the example corpus and ask a few questions."""
    with local_server(cli_settings(data_dir or Path(".ragstate") / "demo")) as settings:
        console.print(
            f"[bold]ragstate demo[/bold]: Temporal dev server {settings.temporal_address}, "
            f"web UI {settings.temporal_ui_url}"
        )
        asyncio.run(_demo(settings, corpus, keep))


async def _demo(settings: Settings, corpus: Path, keep: bool) -> None:
    from ragstate.workers.runtime import running_workers

    rag = await connect_client(settings)
    console.print(f"answers: {answer_mode(settings)}; store: {store_description(settings)}")
    async with running_workers(rag.client, settings):
        await run_ingest(rag, [str(corpus)], None)
        for question in DEMO_QUESTIONS:
            console.rule()
            await run_ask(rag, question, None, None, False)
        await _demo_conversation(rag)
        console.rule()
        stats = await rag.stats()
        console.print(
            f"index: {stats.documents} documents, {stats.chunks} chunks. "
            f"Browse every step of these runs at {settings.temporal_ui_url}"
        )
        if keep:
            console.print("serving until Ctrl-C …")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()


async def _demo_conversation(rag) -> None:
    """Two turns of one session (`ragstate chat`): the follow-up is searched as what it stands for."""
    from ragstate.cli.render import print_answer

    chat = rag.session()
    for question in DEMO_CONVERSATION:
        console.rule(f"session {chat.id}")
        answer = await chat.ask(question)
        if answer.standalone_question and answer.standalone_question != question:
            console.print(f"[dim]searched as: {answer.standalone_question}[/dim]")
        print_answer(console, answer, rag.ui_link(answer.workflow_id, answer.run_id))
