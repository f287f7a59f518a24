"""Printing answers and ingest results for people (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ragstate.models import AnswerMode, IngestResult, RagAnswer

MODE_LABEL = {
    AnswerMode.llm: "LLM ({model})",
    AnswerMode.offline_extractive: "OFFLINE extractive mode (no Anthropic API key): quoted sentences, not generated",
    AnswerMode.retrieval_only: "retrieval only",
}


def print_answer(console: Console, answer: RagAnswer, ui_link: str | None = None) -> None:
    console.print(f"[bold]Q:[/bold] {answer.question}")
    console.print(f"[dim]mode: {MODE_LABEL[answer.mode].format(model=answer.model)}[/dim]")
    if answer.degraded:
        console.print(f"[yellow]degraded: {'; '.join(answer.degraded_reasons)}[/yellow]")
    console.print(f"[bold]A:[/bold] {answer.answer}\n")
    if answer.citations:
        table = Table(title="citations", show_lines=False, expand=False)
        for col in ("#", "document", "snippet", "score"):
            table.add_column(col, overflow="fold")
        for c in answer.citations:
            table.add_row(f"[{c.number}]", c.title, c.snippet, f"{c.score:.4f}")
        console.print(table)
    steps = "  ".join(f"{t.step} {t.duration_ms:.0f} ms" + ("" if t.status == "ok" else f" ({t.status})")
                      for t in answer.timings)
    console.print(f"[dim]steps: {steps}[/dim]")
    if answer.usage.input_tokens or answer.usage.output_tokens:
        console.print(f"[dim]tokens: {answer.usage.input_tokens} in, {answer.usage.output_tokens} out[/dim]")
    if ui_link:
        console.print(f"[dim]Temporal UI:[/dim] {ui_link}")


def print_ingest(console: Console, result: IngestResult, ui_link: str | None = None) -> None:
    console.print(f"ingested {result.documents} documents ({result.unchanged} unchanged), {result.chunks} chunks, "
                  f"{result.failed} failed, in {result.duration_ms / 1000:.1f} s")
    for f in result.failures[:20]:
        console.print(f"  [red]failed[/red] {f.doc_id}: {f.reason}")
    if result.failed > 20:
        console.print(f"  … and {result.failed - 20} more (see the workflow result)")
    if ui_link:
        console.print(f"[dim]Temporal UI:[/dim] {ui_link}")
