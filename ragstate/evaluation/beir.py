"""Retrieval evaluation on any BEIR-layout directory (corpus.jsonl, queries.jsonl, qrels/test.tsv).

The corpus goes through the ingestion workflow and every query through the query workflow's
retrieval path (``RagQuery(synthesize=False)``: the same ParseQuery, VectorSearch,
KeywordSearch and Merge activities). Chunk rankings become document rankings by each
document's best chunk. Relevance grades in qrels count as graded gains in nDCG.

Example::

    report = await evaluate(rag, BeirDataset.load(Path("../shared/datasets/cisi")))
    report.summary()  # {"keyword": {"ndcg@10": ...}, "vector": {...}, "hybrid": {...}}
"""

from __future__ import annotations

import asyncio
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from ragstate.evaluation.ranking_metrics import document_ranking, mrr_at, ndcg_at, recall_at, scores  # noqa: F401 - re-exported
from ragstate.models import Branch, RagQuery

RUNS = ("keyword", "vector", "hybrid")


@dataclass
class BeirDataset:
    root: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    @property
    def corpus(self) -> Path:
        return self.root / "corpus.jsonl"

    @classmethod
    def load(cls, root: Path, split: str = "test") -> BeirDataset:
        root = Path(root)
        missing = [p for p in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv") if not (root / p).is_file()]
        if missing:
            raise FileNotFoundError(f"{root} is not a BEIR-layout directory: missing {', '.join(missing)}")
        qrels: dict[str, dict[str, int]] = {}
        with (root / "qrels" / f"{split}.tsv").open(newline="") as f:
            for row in csv.reader(f, delimiter="\t"):
                if len(row) < 3 or row[0] == "query-id":
                    continue
                qrels.setdefault(row[0], {})[row[1]] = int(float(row[2]))
        queries = {}
        with (root / "queries.jsonl").open() as f:
            for line in f:
                if line.strip():
                    q = json.loads(line)
                    if str(q["_id"]) in qrels:
                        queries[str(q["_id"])] = q["text"]
        return cls(root=root, queries=queries, qrels=qrels)


# --- metrics (pure, in ragstate.evaluation.ranking_metrics so workflows may use them) ---------------------


@dataclass
class EvalReport:
    per_query: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # qid -> run -> metric
    failures: dict[str, str] = field(default_factory=dict)
    documents: int = 0
    chunks: int = 0

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean of each metric per run over all judged queries (a failed query scores 0)."""
        n = len(self.per_query) + len(self.failures)
        out = {}
        for run in RUNS:
            out[run] = {
                m: round(sum(q[run][m] for q in self.per_query.values()) / n, 4) if n else 0.0
                for m in ("ndcg@10", "recall@100", "mrr@10")
            }
        return out


async def evaluate(
    rag, dataset: BeirDataset, collection: str, depth: int | None = None, concurrency: int = 8
) -> EvalReport:
    """Ingest ``dataset`` into ``collection`` and score every judged query for each run.

    ``depth`` (candidates per branch) defaults to the engine's ``search_depth``, so the figures
    are those of a default query. A branch's ranking holds at most ``depth`` chunks, which may
    be fewer than 100 documents: pass a larger depth for a Recall@100 of the whole branch."""
    from ragstate.models import IngestRequest

    ingest = await rag.ingest(IngestRequest(paths=[str(dataset.corpus)], collection=collection))
    report = EvalReport(documents=ingest.documents, chunks=ingest.chunks)
    gate = asyncio.Semaphore(concurrency)

    async def one(qid: str, text: str) -> None:
        async with gate:
            try:
                answer = await rag.ask(RagQuery(question=text, collection=collection, synthesize=False, depth=depth))
            except Exception as e:
                report.failures[qid] = str(e)
                return
        rels = dataset.qrels[qid]
        report.per_query[qid] = {
            "keyword": scores(document_ranking(answer.branch_rankings.get(Branch.keyword, [])), rels),
            "vector": scores(document_ranking(answer.branch_rankings.get(Branch.vector, [])), rels),
            "hybrid": scores(document_ranking(answer.ranking), rels),
        }

    await asyncio.gather(*(one(qid, text) for qid, text in dataset.queries.items()))
    return report
