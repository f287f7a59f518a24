"""Ratings of answers as a BEIR-layout judged set: what ``ragstate feedback export DIR`` writes,
so a team's own questions are scored by ``ragstate eval DIR`` and gate ``ragstate reindex --gate DIR``.

- ``queries.jsonl``: ``{"_id": <query run id>, "text": <question>}`` per judged question
- ``qrels/test.tsv``: ``query-id  corpus-id  score`` (grade 1): the documents a good answer
  cited, and the documents a rating gave as right (``--source``), good or bad
- ``corpus.jsonl``: ``{"_id", "title", "text"}`` per document of the collection, read from its
  source as ingest reads it, with the collection's own document ids as ``_id``: a fresh ingest of
  it (``eval``) and a rebuild of the collection (``reindex``) name every document as qrels do

A bad answer rated without the right sources says nothing about which documents are relevant:
it contributes no qrels, and a question with none is left out (the summary counts them).

Example::

    judged = judge(records, known_doc_ids)
    corpus = read_corpus(documents, settings.max_document_bytes)
    write(Path("judged"), judged, corpus)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ragstate.ingest.documents import Document, DocumentError, load
from ragstate.models import DocumentSummary, FeedbackRecord, SourceRef


@dataclass
class JudgedSet:
    """The judged questions of a collection's ratings, and what was left out."""

    queries: dict[str, str] = field(default_factory=dict)
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Query ids of bad ratings that named no right document (nothing to judge by).
    unjudged: list[str] = field(default_factory=list)
    #: Document ids rated relevant that the collection no longer holds (left out of qrels).
    unknown_docs: set[str] = field(default_factory=set)


def judge(records: Iterable[FeedbackRecord], known: set[str]) -> JudgedSet:
    """The judged set of ``records``: relevant are the documents a good answer cited and those
    given as right, when the collection holds them (``known``)."""
    out = JudgedSet()
    for r in records:
        relevant = [*r.sources, *(r.cited if r.good else [])]
        out.unknown_docs.update(d for d in relevant if d not in known)
        grades = {d: 1 for d in relevant if d in known}
        if not grades:
            out.unjudged.append(r.query_id)
            continue
        out.queries[r.query_id] = r.question
        out.qrels[r.query_id] = grades
    return out


def read_corpus(documents: Iterable[DocumentSummary], max_bytes: int) -> Iterator[Document | DocumentError]:
    """The text of each document, read from its source as ingest reads it (each source once: a
    .jsonl source holds many documents). A document whose source is gone or changed beyond
    recognition is yielded as a DocumentError (the export reports it)."""
    by_source: dict[str, set[str]] = {}
    for d in documents:
        by_source.setdefault(d.source, set()).add(d.doc_id)
    for source, wanted in by_source.items():
        found: set[str] = set()
        for item in load(SourceRef(path=source), max_bytes):
            if isinstance(item, Document) and item.doc_id in wanted and item.doc_id not in found:
                found.add(item.doc_id)
                yield item
        for doc_id in sorted(wanted - found):
            yield DocumentError(doc_id, source, "not found in its source any more")


def write(directory: Path, judged: JudgedSet, corpus: Iterable[Document]) -> int:
    """Write the BEIR layout into ``directory`` (made if missing); returns the documents written."""
    (directory / "qrels").mkdir(parents=True, exist_ok=True)
    with (directory / "queries.jsonl").open("w", encoding="utf-8") as f:
        for qid, text in judged.queries.items():
            f.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
    with (directory / "qrels" / "test.tsv").open("w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, grades in judged.qrels.items():
            f.writelines(f"{qid}\t{doc_id}\t{grade}\n" for doc_id, grade in grades.items())
    written = 0
    with (directory / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for doc in corpus:
            f.write(json.dumps({"_id": doc.doc_id, "title": doc.title, "text": doc.text}, ensure_ascii=False) + "\n")
            written += 1
    return written
