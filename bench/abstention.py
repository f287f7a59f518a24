"""Calibrate the abstention threshold (``RAGSTATE_ABSTAIN_MIN_SIMILARITY``) on BEIR collections.

The signal is the vector branch's best raw cosine similarity between the question and any
chunk of the collection: independent of fusion (RRF or score-normalised) and of the other
branch, comparable across collections and questions. A question below the threshold is still
answered when one chunk holds its terms (:func:`ragstate.answers.abstention.covered`); here over every
chunk of the collection, in the engine over the sources packed for the answer (a subset), so
the "OOD abstained" figures are lower bounds of the engine's, and the "answered by similarity
alone" column is a lower bound of its in-domain answered share. For every ordered pair (A, B) of the
collections given, A's questions against A's chunks are in-domain (they should be answered)
and B's questions against A's chunks are out-of-domain (they should abstain). Target, per
pair: at least 95 % of in-domain questions answered, at least 80 % of out-of-domain ones
abstained, with one threshold for every collection.

Mirrors the engine: documents read by ``ragstate.ingest.documents.load``, chunked with the default
chunk size and overlap, chunks embedded as ``indexed_text(title, text)`` by the packaged
model, questions encoded as ``settings.query_encoding`` says (``--query-encoding`` to
override). Everything runs in-process; embeddings are cached under ``--cache`` (the same
files as bench/_retrieval_data.py, so either computes them once).

    python bench/abstention.py ../shared/datasets/cisi ../shared/datasets/med ../shared/datasets/npl

Prints, per pair, the threshold's in-domain answered % and out-of-domain abstained %, the
feasible threshold range, the chosen threshold (the highest that still answers 96 % of every
pair's in-domain questions, see :func:`choose`), and a
leave-one-collection-out check: the threshold chosen without a collection, applied to the
pairs that involve it.
"""

from __future__ import annotations

import argparse
import itertools
import os
from pathlib import Path

import numpy as np
from _retrieval_data import _embeddings  # the same cache files as the retrieval bench

ANSWERED_TARGET = 0.95
ABSTAINED_TARGET = 0.80
#: Kept above the answer target when choosing: one question in a hundred, for the noise of a
#: few dozen questions per collection.
ANSWER_MARGIN = 0.01
GRID = np.round(np.arange(0.0, 1.0, 0.005), 3)


def chunk_vectors(root: Path, cache: Path) -> np.ndarray:
    """The collection's chunk embeddings, as ingest indexes them."""
    from ragstate.evaluation.beir import BeirDataset
    from ragstate.ingest.chunking import chunk_text
    from ragstate.ingest.documents import Document, load
    from ragstate.models import SourceRef
    from ragstate.settings import Settings
    from ragstate.store.records import indexed_text

    s = Settings()
    ds = BeirDataset.load(root)
    loaded = [d for d in load(SourceRef(path=str(ds.corpus)), s.max_document_bytes) if isinstance(d, Document)]
    docs = list({d.doc_id: d for d in loaded}.values())
    texts = [
        indexed_text(d.title, c.text)
        for d in docs
        for c in chunk_text(d.text, s.chunk_tokens, s.chunk_overlap, title=d.title)
    ]
    return _embeddings(f"{root.resolve().name}-chunks-{s.chunk_tokens}-{s.chunk_overlap}", texts, cache)


def question_vectors(root: Path, cache: Path, encoding: str) -> np.ndarray:
    """The collection's questions encoded as the vector branch encodes them."""
    from ragstate.evaluation.beir import BeirDataset
    from ragstate.ingest.chunking import sentences

    ds = BeirDataset.load(root)
    questions = [ds.queries[q] for q in ds.queries]
    name = root.resolve().name
    if encoding == "whole":
        return _embeddings(f"{name}-queries", questions, cache)
    parts = [sentences(q) or [q] for q in questions]
    flat = _embeddings(f"{name}-sentences", [p for ps in parts for p in ps], cache)
    offsets = np.cumsum([0] + [len(p) for p in parts])
    means = np.stack([flat[offsets[i] : offsets[i + 1]].mean(axis=0) for i in range(len(parts))])
    return means / np.linalg.norm(means, axis=1, keepdims=True)


def covered_chunks(root: Path, questions_root: Path) -> np.ndarray:
    """Per question of ``questions_root``: whether a chunk of ``root`` holds the terms
    :func:`ragstate.answers.abstention.terms_needed` asks (title and text, as indexed)."""
    from scipy import sparse

    from ragstate.answers.abstention import terms_needed
    from ragstate.evaluation.beir import BeirDataset
    from ragstate.ingest.chunking import chunk_text
    from ragstate.ingest.documents import Document, load
    from ragstate.models import SourceRef
    from ragstate.retrieval.analyzer import analyze
    from ragstate.settings import Settings
    from ragstate.store.records import indexed_text

    s = Settings()
    ds, qs = BeirDataset.load(root), BeirDataset.load(questions_root)
    loaded = [d for d in load(SourceRef(path=str(ds.corpus)), s.max_document_bytes) if isinstance(d, Document)]
    docs = list({d.doc_id: d for d in loaded}.values())
    chunk_terms = [
        set(analyze(indexed_text(d.title, c.text)))
        for d in docs
        for c in chunk_text(d.text, s.chunk_tokens, s.chunk_overlap, title=d.title)
    ]
    question_terms = [set(analyze(qs.queries[q])) for q in qs.queries]
    vocab: dict[str, int] = {}

    def matrix(rows: list[set[str]]) -> tuple[list[int], list[int]]:
        r = [i for i, terms in enumerate(rows) for _ in terms]
        c = [vocab.setdefault(t, len(vocab)) for terms in rows for t in terms]
        return r, c

    cr, cc = matrix(chunk_terms)
    qr, qc = matrix(question_terms)
    shape = len(vocab)
    chunks = sparse.csr_matrix((np.ones(len(cr)), (cr, cc)), shape=(len(chunk_terms), shape))
    questions = sparse.csr_matrix((np.ones(len(qr)), (qr, qc)), shape=(len(question_terms), shape))
    held = (questions @ chunks.T).max(axis=1).toarray().ravel()
    need = np.array([terms_needed(len(t)) if t else np.inf for t in question_terms])
    return held >= need


def rates(in_domain: np.ndarray, out_of_domain: np.ndarray, threshold: float) -> tuple[float, float]:
    """(share of in-domain questions answered, share of out-of-domain ones abstained)."""
    return float((in_domain >= threshold).mean()), float((out_of_domain < threshold).mean())


def choose(pairs: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]) -> tuple[float, float | None, float | None]:
    """(threshold, feasible low, feasible high). The threshold is the highest at which every
    pair still answers :data:`ANSWERED_TARGET` plus :data:`ANSWER_MARGIN` of its in-domain
    questions: the most out-of-domain questions withheld that the answer target allows. The
    in-domain side is what transfers: a collection's own questions find chunks about as close
    on every collection (median best cosine 0.68-0.72 here), while how close an out-of-domain
    question comes depends on how near the two domains lie (0.20-0.42), so the middle of the
    range both targets allow moved with the collections it was chosen on (leave-one-out fell
    to 50 % abstained). The feasible range (both targets on every pair) is reported beside it."""
    rate = {t: [rates(i, x, t) for i, x in pairs.values()] for t in GRID}
    feasible = [t for t in GRID if all(a >= ANSWERED_TARGET and o >= ABSTAINED_TARGET for a, o in rate[t])]
    answering = [t for t in GRID if all(a >= ANSWERED_TARGET + ANSWER_MARGIN for a, _ in rate[t])]
    lo, hi = (float(feasible[0]), float(feasible[-1])) if feasible else (None, None)
    return float(answering[-1]) if answering else 0.0, lo, hi


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("directories", type=Path, nargs="+", help="BEIR collections (corpus.jsonl, queries.jsonl)")
    ap.add_argument(
        "--cache", type=Path, default=Path(os.environ.get("RAGSTATE_BENCH_CACHE", "/tmp/ragstate-retrieval-cache"))
    )
    ap.add_argument("--query-encoding", choices=["whole", "sentences"], default=None)
    ap.add_argument("--threshold", type=float, default=None, help="report this threshold instead of the chosen one")
    args = ap.parse_args()
    if len(args.directories) < 2:
        ap.error("give at least two collections (each one's questions are the others' out-of-domain ones)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ragstate.settings import Settings

    s = Settings()
    encoding = args.query_encoding or s.query_encoding.value
    names = [d.resolve().name for d in args.directories]
    chunks = {n: chunk_vectors(d, args.cache) for n, d in zip(names, args.directories)}
    questions = {n: question_vectors(d, args.cache, encoding) for n, d in zip(names, args.directories)}
    # best[(corpus, asker)]: per question of `asker`, its best cosine over `corpus`'s chunks;
    # a question some chunk covers counts as answered whatever its similarity (+inf).
    dirs = dict(zip(names, args.directories))
    cosine = {(a, b): (questions[b] @ chunks[a].T).max(axis=1) for a in names for b in names}
    best = {p: np.where(covered_chunks(dirs[p[0]], dirs[p[1]]), np.inf, v) for p, v in cosine.items()}
    pairs = {(a, b): (best[(a, a)], best[(a, b)]) for a, b in itertools.permutations(names, 2)}

    chosen, lo, hi = choose(pairs)
    threshold = args.threshold if args.threshold is not None else chosen
    print(
        f"signal: best cosine of the vector branch (query encoding {encoding}); setting now {s.abstain_min_similarity}"
    )
    print("feasible range: " + (f"{lo:.3f} .. {hi:.3f}" if lo is not None else "none (closest shown)"))
    chosen_how = f" (chosen: the highest answering >= {ANSWERED_TARGET + ANSWER_MARGIN:.0%} of every pair)"
    print(f"threshold: {threshold:.3f}" + ("" if args.threshold is not None else chosen_how))
    header = f"{'corpus':<8} {'questions':<10} {'threshold':>9} {'in-domain answered':>19} {'OOD abstained':>14}"
    print(f"\n{header}  {'answered by similarity alone':>28}  ok")
    for (a, b), (ind, ood) in pairs.items():
        ans, abst = rates(ind, ood, threshold)
        alone = float((cosine[(a, a)] >= threshold).mean())
        ok = ans >= ANSWERED_TARGET and abst >= ABSTAINED_TARGET
        row = f"{a:<8} {b:<10} {threshold:>9.3f} {ans:>18.1%} {abst:>14.1%}  {alone:>28.1%}"
        print(f"{row}  {'yes' if ok else 'NO'}")
    print("\nbest cosine, median (in-domain / per out-of-domain asker):")
    for a in names:
        others = ", ".join(f"{b} {np.median(cosine[(a, b)]):.3f}" for b in names if b != a)
        print(f"  {a}: {np.median(cosine[(a, a)]):.3f} / {others}")
    if len(names) >= 3:
        print("\nleave one collection out (threshold chosen on the pairs without it, applied to those with it):")
        for held in names:
            t, _, _ = choose({p: v for p, v in pairs.items() if held not in p})
            worst = [rates(*v, t) for p, v in pairs.items() if held in p]
            ans, abst = min(w[0] for w in worst), min(w[1] for w in worst)
            print(
                f"  without {held}: threshold {t:.3f}; on its pairs worst answered {ans:.1%}, worst abstained {abst:.1%}"
            )


if __name__ == "__main__":
    main()
