"""`ragstate chat` (a conversation at a prompt, answers streamed) and `ragstate sessions
list|show|delete`.

ragstate chat                        # a new session; its id is printed, to come back to it
ragstate chat --session s-1a2b3c     # go on with that one (its earlier turns are the context)
  > What is BM25?
  > How are its parameters tuned?    # retrieved as "How are BM25's parameters tuned?"
  > /sources   /history   /new   /quit
ragstate sessions show s-1a2b3c --json
"""

from __future__ import annotations

import asyncio
import sys

import typer

from ragstate.cli._common import cli_settings, collection_option, connect_client, console, fail

sessions_app = typer.Typer(no_args_is_help=True, help="List, show or delete conversations (ragstate chat).")

HELP_LINE = "/sources: the last answer's sources · /history: the transcript · /new: a new session · /quit"


def _checked(session_id: str) -> str:
    from ragstate.models.session import check_id

    try:
        return check_id(session_id)
    except ValueError as e:
        fail(str(e))


def chat(
    session: str | None = typer.Option(None, "--session", help="go on with this session (default: a new one)"),
    collection: str | None = collection_option(),
) -> None:
    """A conversation at the prompt: each line a turn of one durable session, answers streamed.
    Follow-up questions are retrieved with the earlier turns as context."""
    if session is not None:
        _checked(session)
    asyncio.run(_chat(session, collection))


async def _chat(session_id: str | None, collection: str | None) -> None:
    from ragstate.cli.render import StreamPrinter, print_answer_details
    from ragstate.errors import RagError
    from ragstate.models import RagAnswer, StreamEventType

    rag = await connect_client(cli_settings())
    chat = rag.session(session_id, collection)
    console.print(f"session [bold]{chat.id}[/bold] ({rag.ui_link(chat.workflow_id)})\n[dim]{HELP_LINE}[/dim]")
    last: RagAnswer | None = None
    while True:
        line = await asyncio.to_thread(_read_line)
        if line is None or line.strip() in ("/quit", "/exit"):
            return
        text = line.strip()
        if not text:
            continue
        if text == "/new":
            chat = rag.session(None, collection)
            console.print(f"session [bold]{chat.id}[/bold]")
        elif text == "/sources":
            if last is None:
                console.print("[dim]no answer yet[/dim]")
            else:
                print_answer_details(console, last)
        elif text == "/history":
            _print_transcript(await chat.transcript())
        elif text.startswith("/"):
            console.print(f"[dim]unknown command {text!r}; {HELP_LINE}[/dim]")
        else:
            printer = StreamPrinter(console, text)
            try:
                async for event in chat.ask_stream(text):
                    printer.event(event, rag.ui_link(event.answer.workflow_id) if event.answer else None)
                    if event.type is StreamEventType.final:
                        last = event.answer
            except (RagError, ValueError) as e:  # the turn failed: the session goes on
                console.print(f"[red]error:[/red] {e}")


def _read_line() -> str | None:
    """One line from the prompt (or a pipe); None at its end."""
    if sys.stdin.isatty():
        try:
            return input("> ")
        except EOFError:
            return None
    line = sys.stdin.readline()
    return line or None


def _print_transcript(transcript) -> None:
    if not transcript.turns:
        console.print("[dim]no turns[/dim]")
    for t in transcript.turns:
        standalone = f" [dim](as: {t.standalone})[/dim]" if t.standalone else ""
        console.print(f"[bold]{t.turn}.[/bold] {t.question}{standalone}")
        console.print(f"   [red]failed: {t.error}[/red]" if t.error else f"   {t.answer}")


def _run(coro_factory):
    async def run():
        return await coro_factory(await connect_client(cli_settings()))

    return asyncio.run(run())


@sessions_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="print a JSON array")) -> None:
    """Sessions, newest first."""
    sessions = _run(lambda rag: rag.sessions())
    if as_json:
        print("[" + ",".join(s.model_dump_json() for s in sessions) + "]")
        return
    for s in sessions:
        console.print(f"{s.session_id}  {s.ended or 'running'}")


@sessions_app.command("show")
def show(
    session_id: str = typer.Argument(..., metavar="ID", help="the session's id (`ragstate sessions list`)"),
    as_json: bool = typer.Option(False, "--json", help="print the transcript as JSON"),
) -> None:
    """A session's transcript: every turn, the standalone question it became, its answer."""
    _checked(session_id)
    transcript = _run(lambda rag: rag.session(session_id).transcript())
    if as_json:
        print(transcript.model_dump_json())
    else:
        _print_transcript(transcript)


@sessions_app.command("delete")
def delete(
    session_id: str = typer.Argument(..., metavar="ID", help="the session's id (`ragstate sessions list`)"),
) -> None:
    """End a session and erase its transcript."""
    _checked(session_id)
    _run(lambda rag: rag.session(session_id).delete())
    console.print(f"deleted session {session_id}: transcript erased, session ended")
