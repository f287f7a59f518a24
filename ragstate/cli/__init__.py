"""The `ragstate` command line, one module per command group.

ragstate up                         # Temporal dev server (UI on :8233) + one worker, foreground
ragstate ingest examples/corpus     # with a progress bar
ragstate ask "What is BM25?"
ragstate ask --stream "What is BM25?"   # steps and answer text as they are produced
ragstate status
ragstate ingest --sync docs/         # also remove documents whose files are gone
ragstate documents list --source docs/
ragstate collections list
ragstate schedule add docs/ --every 1h --sync   # a Temporal Schedule; never two runs at once
ragstate feedback rag-query-what-is-bm25-3f2a9c1d --bad --source /docs/bm25.md
ragstate feedback export judged/    # the ratings as a judged set for eval and reindex --gate
ragstate chat                       # a conversation: follow-ups retrieved with the earlier turns
ragstate sessions list              # and `sessions show|delete ID`
ragstate keys create --tenant acme --scopes query,ingest   # and `keys list|revoke`, `tenants set|show`
ragstate demo                       # everything above in one go, on the embedded defaults
"""

from __future__ import annotations

from typing import NoReturn

import typer

from ragstate.cli._common import cli_settings, console, fail
from ragstate.cli.ask import ask
from ragstate.cli.chat import chat, sessions_app
from ragstate.cli.codec import codec_server
from ragstate.cli.collections import collections_app
from ragstate.cli.documents import documents_app
from ragstate.cli.evaluate import eval_
from ragstate.cli.feedback import feedback_app
from ragstate.cli.help import ConventionalGroup
from ragstate.cli.ingest import ingest
from ragstate.cli.keys import keys_app, tenants_app
from ragstate.cli.local import demo, up, worker
from ragstate.cli.mcp import mcp
from ragstate.cli.reindex import reindex_app
from ragstate.cli.schedule import schedule_app
from ragstate.cli.serve import serve
from ragstate.cli.status import register_search_attributes, status
from ragstate.temporal.process import exit_code, exit_now

__all__ = ["app", "main"]

# ConventionalGroup: help without Python types (`--sync`, not `--sync <bool>`; `PATHS...`).
app = typer.Typer(
    cls=ConventionalGroup,
    add_completion=False,
    no_args_is_help=True,
    help="Durable hybrid RAG on Temporal and Qdrant.",
)


def _version(value: bool) -> None:
    if value:
        from ragstate import __version__

        console.print(f"ragstate {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """Durable hybrid RAG on Temporal and Qdrant."""
    from pydantic import ValidationError

    from ragstate.observability.logs import configure_logging

    try:
        settings = cli_settings()
        # Interactive commands print their own results: library INFO lines would interleave with
        # them, so they log warnings and up unless RAGSTATE_LOG_LEVEL asks otherwise; the
        # long-running `up` and `worker` reconfigure at the settings' level (INFO by default).
        configure_logging(settings, level=None if "log_level" in settings.model_fields_set else "WARNING")
    except ValidationError as e:
        fail(f"invalid settings: {e}")


for command in (up, worker, ingest, ask, status, serve, demo):
    app.command()(command)
app.command("register-search-attributes")(register_search_attributes)
app.command("eval")(eval_)
app.command("codec-server")(codec_server)
app.command("mcp")(mcp)
app.command("chat")(chat)
app.add_typer(documents_app, name="documents")
app.add_typer(collections_app, name="collections")
app.add_typer(schedule_app, name="schedule")
app.add_typer(reindex_app, name="reindex")
app.add_typer(feedback_app, name="feedback")
app.add_typer(sessions_app, name="sessions")
app.add_typer(keys_app, name="keys")
app.add_typer(tenants_app, name="tenants")


def main() -> NoReturn:
    """The `ragstate` console script: the app, then an immediate exit with its code.

    Skipping interpreter finalisation is the point: the Temporal core's native threads can
    still call into Python while it tears down, which aborted `ragstate status` with SIGABRT
    ("PyGILState_Release: thread state must be current") in 3 of 11 runs under load
    (temporalio/sdk-python#300). Output is flushed first."""
    from rich.markup import escape

    from ragstate.errors import ServerUnavailableError

    code: int = 0
    try:
        app()
    except SystemExit as e:
        code = exit_code(e)
    except KeyboardInterrupt:
        code = 130
    except ServerUnavailableError as e:  # the run goes on on the server: a message, not a traceback
        console.print(f"[red]error:[/red] {escape(str(e))}")
        code = 1
    exit_now(code)
