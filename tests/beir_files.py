"""BEIR-layout folders for tests (``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``): what
``ragstate eval`` reads and a re-index gate asks, and an ingest source too. ``write_eval_beir``
writes the evaluation tests' set: five documents on unrelated topics, two judged questions and
one without judgements."""

from __future__ import annotations

import json
from pathlib import Path

EVAL_DOCS = {
    "penguins": (
        "Penguins",
        "Penguins are flightless seabirds. They live in the southern hemisphere, "
        "mostly in Antarctica, and swim with their wings instead of flying.",
    ),
    "colonies": (
        "Penguin colonies",
        "Emperor penguins breed in large colonies on the Antarctic sea ice "
        "and keep their eggs warm on their feet through the winter.",
    ),
    "volcanoes": (
        "Volcanoes",
        "A volcano erupts when magma rises through the crust and the pressure of "
        "its gases breaks the rock above; lava, ash and gas pour out.",
    ),
    "sourdough": (
        "Sourdough",
        "Sourdough bread rises with a starter of wild yeast and lactic acid bacteria "
        "instead of baker's yeast, which gives it a sour taste.",
    ),
    "chess": (
        "Chess openings",
        "The Sicilian Defence answers the king's pawn opening with the c-pawn and "
        "leads to sharp, unbalanced positions.",
    ),
}
EVAL_QUERIES = {
    "q-penguins": "Where do penguins live? Can they fly?",
    "q-volcano": "How does a volcano erupt?",
    "q-unjudged": "What is the best chess opening?",  # no qrels: not evaluated
}
EVAL_QRELS = {"q-penguins": {"penguins": 2, "colonies": 1}, "q-volcano": {"volcanoes": 1}}


def write_beir(folder: Path, docs: dict, queries: dict, qrels: dict) -> Path:
    """A BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels/test.tsv): an ingest source and a gate."""
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w") as f:
        for doc_id, (title, text) in docs.items():
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w") as f:
        for qid, text in queries.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    rows = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{g}" for q, rels in qrels.items() for d, g in rels.items()]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n")
    return folder


def write_eval_beir(root: Path) -> Path:
    """The evaluation tests' set under ``root``."""
    return write_beir(root, EVAL_DOCS, EVAL_QUERIES, EVAL_QRELS)
