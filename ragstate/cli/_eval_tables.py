"""The tables `ragstate eval` prints: one per collection, the nDCG@10 of every run per
collection with their mean, and the gate's verdicts."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

METRICS = ("ndcg@10", "recall@100", "mrr@10")
LABELS = {
    "bm25_exact_reference": "anchor: bm25 exact",
    "dense_document_reference": "anchor: dense document",
    "anchor_reference": "anchor: RRF k 60",
}


def mean_summary(summaries: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Each run's metrics averaged over the collections (each collection weighs the same)."""
    runs = [r for r in next(iter(summaries.values())) if all(r in s for s in summaries.values())]
    return {
        run: {m: round(sum(s[run][m] for s in summaries.values()) / len(summaries), 4) for m in METRICS} for run in runs
    }


def print_tables(console: Console, datasets, reports, summaries, depth: int, settings) -> None:
    for name, summary in summaries.items():
        report = reports[name]
        table = Table(
            title=f"{name} — {len(datasets[name].queries)} queries, {report.documents} documents, "
            f"{report.chunks} chunks, depth {depth}"
        )
        for col in ("run", "nDCG@10", "Recall@100", "MRR@10"):
            table.add_column(col)
        for run, m in summary.items():
            table.add_row(LABELS.get(run, run), *(f"{m[k]:.4f}" for k in METRICS))
        console.print(table)
        for qid, err in list(report.failures.items())[:10]:
            console.print(f"[red]{name}: query {qid} failed:[/red] {err}")
    runs = list(mean_summary(summaries))
    table = Table(
        title=f"nDCG@10 — fusion {settings.fusion_method.value}"
        + (f" k {settings.rrf_k}" if settings.fusion_method.value == "rrf" else "")
        + f", weights vector {settings.vector_weight} / keyword {settings.keyword_weight}"
        + f" (other chunks {settings.keyword_other_chunks}), "
        f"query encoding {settings.query_encoding.value}"
    )
    table.add_column("collection")
    for run in runs:
        table.add_column(LABELS.get(run, run))
    for name, summary in summaries.items():
        table.add_row(name, *(f"{summary[r]['ndcg@10']:.4f}" for r in runs))
    if len(summaries) > 1:
        mean = mean_summary(summaries)
        table.add_row("mean", *(f"{mean[r]['ndcg@10']:.4f}" for r in runs), style="bold")
    console.print(table)


def print_gate(console: Console, verdicts) -> None:
    if not verdicts:
        return
    table = Table(title=f"gate: hybrid nDCG@10 against the baseline (tolerance {verdicts[0].tolerance})")
    for col in ("collection", "baseline", "now", "change", "95% CI (paired bootstrap)", "verdict"):
        table.add_column(col)
    for v in verdicts:
        table.add_row(
            v.collection,
            f"{v.baseline:.4f}",
            f"{v.current:.4f}",
            f"{v.delta:+.4f}",
            f"[{v.low:+.4f}, {v.high:+.4f}]",
            "pass" if v.passed else "[red]FAIL[/red]",
        )
    console.print(table)
