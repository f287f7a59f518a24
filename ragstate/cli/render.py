"""Printing answers, ingest results and document lists for people (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ragstate.contracts import Activity
from ragstate.models import AnswerMode, Cost, DocumentList, IngestResult, RagAnswer, StreamEvent, StreamEventType

MODE_LABEL = {
    AnswerMode.llm: "LLM ({model})",
    AnswerMode.offline_extractive: "OFFLINE extractive mode (no Anthropic API key): quoted sentences, not generated",
    AnswerMode.retrieval_only: "retrieval only",
}


def count(n: int, noun: str) -> str:
    """``count(1, "document")`` -> "1 document", ``count(2, "document")`` -> "2 documents"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def print_answer(console: Console, answer: RagAnswer, ui_link: str | None = None) -> None:
    console.print(f"[bold]Q:[/bold] {answer.question}")
    _print_mode(console, answer)
    console.print(Text.assemble(("A:", "bold"), " ", answer.answer))
    console.print()
    print_answer_details(console, answer, ui_link)


#: An extractive answer because the LLM step failed for good (RAGSTATE_LLM_FALLBACK=extractive).
FALLBACK_LABEL = "extractive FALLBACK (the LLM step failed, see below): quoted sentences, not generated"


def _is_llm_fallback(answer: RagAnswer) -> bool:
    return answer.mode is AnswerMode.offline_extractive and any(
        reason.startswith(f"{Activity.SYNTHESIZE} failed") for reason in answer.degraded_reasons
    )


def _print_mode(console: Console, answer: RagAnswer) -> None:
    label = FALLBACK_LABEL if _is_llm_fallback(answer) else MODE_LABEL[answer.mode].format(model=answer.model)
    console.print(f"[dim]mode: {label}[/dim]")
    if answer.degraded:
        console.print(f"[yellow]degraded: {'; '.join(answer.degraded_reasons)}[/yellow]")
    if answer.truncated:
        console.print("[yellow]truncated: the LLM stopped at its token limit (RAGSTATE_ANTHROPIC_MAX_TOKENS)[/yellow]")
    if answer.no_answer:
        best = f" (best similarity {answer.best_score:.2f})" if answer.best_score is not None else ""
        console.print(f"[yellow]no answer: nothing retrieved supports one{best}[/yellow]")


def print_answer_details(console: Console, answer: RagAnswer, ui_link: str | None = None) -> None:
    """Everything after the answer text: citations table, step timings, token usage, UI link."""
    if answer.citations:
        table = Table(title="citations", show_lines=False, expand=False)
        for col in ("#", "document", "snippet", "score"):
            table.add_column(col, overflow="fold")
        for c in answer.citations:
            table.add_row(f"[{c.number}]", c.title, c.snippet, f"{c.score:.4f}")
        console.print(table)
    steps = "  ".join(
        f"{t.step} {t.duration_ms:.0f} ms" + ("" if t.status == "ok" else f" ({t.status})") for t in answer.timings
    )
    console.print(f"[dim]steps: {steps}[/dim]")
    if answer.usage.input_tokens or answer.usage.output_tokens:
        console.print(f"[dim]tokens: {answer.usage.input_tokens} in, {answer.usage.output_tokens} out[/dim]")
    console.print(f"[dim]cost: {describe_cost(answer.cost)}[/dim]", highlight=False)
    if ui_link:
        console.print(f"[dim]Temporal UI:[/dim] {ui_link}")


def describe_cost(cost: Cost) -> str:
    """``$0.0033 (claude-sonnet-5-5, list prices of 2026-12-01)``, or 0 with the reason."""
    if not cost.priced:
        return f"unknown ({cost.reason})"
    if cost.usd == 0 and cost.reason:
        return f"$0 ({cost.reason})"
    taken = f", list prices of {cost.prices_taken}" if cost.prices_taken else ""
    return f"${cost.usd:.4f} ({cost.model or 'LLM'}{taken})"


class StreamPrinter:
    """Prints a streamed answer as it comes (``ragstate ask --stream``): steps dimmed, answer
    text as it is produced, then what :func:`print_answer` prints after the answer."""

    def __init__(self, console: Console, question: str):
        self.console = console
        self.text = ""  # answer text printed since the answer last (re)started
        console.print(f"[bold]Q:[/bold] {question}")

    def _end_line(self) -> None:
        if self.text:
            self.console.print()

    def event(self, event: StreamEvent, ui_link: str | None = None) -> None:
        c = self.console
        if event.type is StreamEventType.step:
            attempt = int(event.detail.get("attempt", 1))
            if event.step == "synthesizing" and attempt > 1:
                self._end_line()
                c.print(f"[yellow]Synthesize failed and is retried (attempt {attempt}): the answer restarts[/yellow]")
                self.text = ""
                return
            details = ", ".join(f"{k} {v}" for k, v in event.detail.items())
            c.print(f"[dim]· {event.step}{f' ({details})' if details else ''}[/dim]")
        elif event.type is StreamEventType.token and event.text:
            if not self.text:
                c.print("[bold]A:[/bold] ", end="")
            c.print(event.text, end="", markup=False, highlight=False, soft_wrap=True)
            self.text += event.text
        elif event.type is StreamEventType.final and event.answer is not None:
            answer = event.answer
            if not self.text and answer.answer:  # nothing streamed (e.g. the stream was unreachable)
                c.print("[bold]A:[/bold] ", end="")
                c.print(answer.answer, end="", markup=False, highlight=False, soft_wrap=True)
                self.text = answer.answer
            self._end_line()
            _print_mode(c, answer)
            c.print()
            print_answer_details(c, answer, ui_link)
        elif event.type is StreamEventType.error:
            self._end_line()


def print_ingest(console: Console, result: IngestResult, ui_link: str | None = None) -> None:
    removed = f", {count(result.removed, 'document')} removed (files gone)" if result.removed else ""
    console.print(
        f"ingested {count(result.documents, 'document')} ({result.unchanged} unchanged), "
        f"{count(result.chunks, 'chunk')}, {result.failed} failed{removed}, in {result.duration_ms / 1000:.1f} s"
    )
    if (sm := result.summaries) is not None:
        console.print(
            f"summarized {count(sm.summarized, 'document')} ({sm.mode or 'none needed'}; {sm.already} had one), "
            f"{sm.failed} failed, {sm.usage.input_tokens + sm.usage.output_tokens} tokens, ${sm.cost_usd:.6f}"
            + (f", batches {', '.join(sm.batch_ids)}" if sm.batch_ids else "")
        )
        for f in sm.failures[:10]:
            console.print(f"  [red]not summarized[/red] {escape(f.doc_id)}: {escape(f.reason)}", highlight=False)
    for f in result.failures[:20]:
        console.print(f"  [red]failed[/red] {f.doc_id}: {f.reason}")
    if result.failed > 20:
        console.print(f"  … and {result.failed - 20} more (see the workflow result)")
    # Not failures (the folder's other files were what was asked for), but never dropped silently.
    for skipped in result.skipped_files[:20]:
        console.print(f"  [yellow]skipped[/yellow] {escape(skipped.path)}: {escape(skipped.reason)}", highlight=False)
    if result.skipped > 20:
        console.print(f"  … {count(result.skipped, 'file')} skipped in all (see the workflow result)")
    if ui_link:
        console.print(f"[dim]Temporal UI:[/dim] {ui_link}")


def print_documents(console: Console, listing: DocumentList) -> None:
    """``ragstate documents list``: one row per document, then how many there are."""
    if listing.documents:
        table = Table(show_lines=False, expand=False)
        summaries = any(d.summary for d in listing.documents)  # a column only when there are some
        columns = ["doc id", "title", "source", "chunks", "version", "ingested at"] + ["summary"] * summaries
        for col in columns:
            table.add_column(col, overflow="fold")
        for d in listing.documents:
            row = [d.doc_id, d.title, d.source, str(d.chunks), d.version, d.ingested_at or ""]
            if summaries:
                row.append(f"[{d.summary.mode}] {d.summary.text[:160]}" if d.summary else "")
            table.add_row(*row)
        console.print(table)
    shown = "" if len(listing.documents) == listing.total else f" ({len(listing.documents)} shown)"
    console.print(f"{count(listing.total, 'document')} in collection {listing.collection!r}{shown}")
