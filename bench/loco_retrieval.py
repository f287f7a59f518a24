"""Leave-one-collection-out choice of the retrieval defaults (fusion method, RRF k, branch
weights, the keyword branch's whole-document evidence, query encoding), in-process on cached
scores (bench/_retrieval_data.py).

Every setting of the grid is scored (hybrid nDCG@10) on every collection, with the same fusion
code the Merge activity runs (``ragstate.retrieval.fusion.fuse`` and ``document_evidence``) over each
branch's top ``depth`` chunks collapsed to documents. For each fold, the setting is chosen on the
other collections only, by each rule of ``--choose`` in turn (see :func:`choose`), and its score
on the held-out collection is printed next to that collection's anchor and best branch. A
default is worth shipping only if it holds on every fold.
The anchor is the issue's: rank-bm25 and all-MiniLM-L6-v2 over whole documents, RRF k 60.
Figures of record come from ``ragstate eval``, which runs the real workflows.

    python bench/loco_retrieval.py ../shared/datasets/{cisi,med,npl}
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _retrieval_data import DEFAULT_CACHE, Prepared, prepare

from ragstate.evaluation.beir import ndcg_at
from ragstate.retrieval.fusion import document_evidence, fuse
from ragstate.settings import FusionMethod


@dataclass(frozen=True)
class Setting:
    encoding: str  # whole | sentences | both (whole and sentence-mean vectors summed) | autoN (sentences from N)
    method: FusionMethod
    rrf_k: int
    keyword_weight: float  # the vector branch weighs 1
    other_chunks: float = 0.0  # keyword_other_chunks: 0, the best chunk alone

    def __str__(self) -> str:
        k = f" k={self.rrf_k}" if self.method is FusionMethod.rrf else ""
        return f"{self.encoding:9} {self.method.value}{k} w_kw={self.keyword_weight} other={self.other_chunks}"


def top_chunks(row: np.ndarray, chunk_doc: np.ndarray | None, depth: int) -> list[tuple[int, float]]:
    """The best ``depth`` rows as (document, score), best first (a document once per chunk)."""
    top = np.argpartition(-row, min(depth, len(row) - 1))[:depth]
    top = top[np.argsort(-row[top], kind="stable")]
    return [(int(chunk_doc[i]) if chunk_doc is not None else int(i), float(row[i])) for i in top]


def top_docs(row: np.ndarray, chunk_doc: np.ndarray | None, depth: int) -> list[tuple[int, float]]:
    """The best ``depth`` rows' (document, score), best first; chunk rows as their documents."""
    return document_evidence(top_chunks(row, chunk_doc, depth))


class Collection:
    """One prepared collection with each branch's candidates per query computed once."""

    def __init__(self, p: Prepared, depth: int, other_chunks: list[float]):
        self.p = p
        dense = {"whole": p.dense_whole, "sentences": p.dense_sentences, "both": p.dense_whole + p.dense_sentences}
        for n in (2, 3, 4):  # sentence by sentence only for questions of at least n sentences
            several = np.asarray(p.sentence_count)[:, None] >= n
            dense[f"auto{n}"] = np.where(several, p.dense_sentences, p.dense_whole)
        self.dense = {e: [top_docs(r, p.chunk_doc, depth) for r in m] for e, m in dense.items()}
        self.keyword = [top_docs(r, p.chunk_doc, depth) for r in p.keyword]
        keyword_chunks = [top_chunks(r, p.chunk_doc, depth) for r in p.keyword]
        # Whole-document evidence, as fuse_hits builds it: the best chunk plus a share of the rest.
        self.keyword_documents = {f: [document_evidence(c, f) for c in keyword_chunks] for f in other_chunks if f}
        self.rels = [p.dataset.qrels[q] for q in p.qids]
        anchor_dense = [top_docs(r, None, 100) for r in p.anchor_dense]
        anchor_bm25 = [top_docs(r, None, 100) for r in p.anchor_bm25]
        self.anchor = self.mean(
            [fuse([(d, 1.0), (k, 1.0)], FusionMethod.rrf, 60) for d, k in zip(anchor_dense, anchor_bm25)]
        )
        self.anchor_branches = (self.mean(anchor_bm25), self.mean(anchor_dense))
        self.branch = {e: self.mean(v) for e, v in self.dense.items()} | {"keyword": self.mean(self.keyword)}

    def mean(self, rankings: list[list[tuple[int, float]]]) -> float:
        ids = self.p.doc_ids
        return float(np.mean([ndcg_at([ids[d] for d, _ in r], rels) for r, rels in zip(rankings, self.rels)]))

    def hybrid(self, s: Setting) -> float:
        if not s.other_chunks:
            return self.mean(
                [
                    fuse([(d, 1.0), (k, s.keyword_weight)], s.method, s.rrf_k)
                    for d, k in zip(self.dense[s.encoding], self.keyword)
                ]
            )
        w = s.keyword_weight / 2  # half by the best chunk, half by the whole document
        return self.mean(
            [
                fuse([(d, 1.0), (k, w), (kd, w)], s.method, s.rrf_k)
                for d, k, kd in zip(self.dense[s.encoding], self.keyword, self.keyword_documents[s.other_chunks])
            ]
        )

    def best_branch(self, s: Setting) -> float:
        return max(self.branch[s.encoding], self.branch["keyword"])


def grid(
    weights: list[float], ks: list[int], encodings: list[str], other_chunks: list[float], methods: list[FusionMethod]
) -> list[Setting]:
    out = []
    for enc, w, f, m in itertools.product(encodings, weights, other_chunks, methods):
        out += [Setting(enc, m, k, w, f) for k in ks] if m is FusionMethod.rrf else [Setting(enc, m, 60, w, f)]
    return out


#: How a fold may pick its setting (see :func:`choose`).
RULES = ("min", "mean", "margin", "plateau")


def choose(
    settings: list[Setting], table: dict[Setting, list[float]], cols: list[Collection], train: list[int], rule: str
):
    """The setting a fold picks from the ``train`` collections by ``rule``:

    - ``min``: the largest smallest gain over the anchor, ``mean``: the largest mean gain, both
      preferring settings that beat the anchor and the best branch on each training collection;
    - ``margin``: the largest smallest margin over the better of the anchor and the best branch;
    - ``plateau``: as ``margin``, each setting judged by its worst keyword-weight neighbour too
      (the weights next to its own in the grid, same family), so a pick sits on a plateau
      rather than on a peak one collection's quirks made.
    """

    def margin(s: Setting) -> float:
        return min(table[s][i] - max(cols[i].anchor, cols[i].best_branch(s)) for i in train)

    def gain(s: Setting) -> float:
        gains = [table[s][i] - cols[i].anchor for i in train]
        return min(gains) if rule == "min" else float(np.mean(gains))

    if rule == "margin":
        return max(settings, key=margin)
    if rule == "plateau":
        weights = sorted({s.keyword_weight for s in settings})

        def neighbours(s: Setting) -> list[Setting]:
            i = weights.index(s.keyword_weight)
            near = [replace(s, keyword_weight=w) for w in weights[max(i - 1, 0) : i + 2]]
            return [n for n in near if n in table]

        return max(settings, key=lambda s: min(margin(n) for n in neighbours(s)))
    return max(settings, key=lambda s: (margin(s) >= 0, gain(s)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("directories", type=Path, nargs="+")
    ap.add_argument("--depth", type=int, default=200, help="candidates (chunks) per branch, as search_depth")
    ap.add_argument("--weights", default="0.4,0.5,0.6,0.7,0.8,0.9,1.0,1.2", help="keyword weights (vector: 1)")
    ap.add_argument(
        "--other-chunks",
        default="0.25,0.5,1.0",
        help="keyword_other_chunks values (0: the best chunk alone; add it to the list to let a fold switch the "
        "whole-document evidence off)",
    )
    ap.add_argument("--rrf-k", default="10,20,40,60,100")
    ap.add_argument("--methods", default="rrf,max,minmax,zscore", help="fusion methods of the grid")
    ap.add_argument(
        "--encodings",
        default="whole,sentences,both,auto3,auto4",
        help="autoN: sentence by sentence from N sentences, else whole (query_encoding=auto, query_sentences_min=N)",
    )
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument(
        "--bm25-avg-len",
        type=float,
        default=None,
        help="BM25 average length of the keyword branch (default: as the engine's settings; 0: each collection's "
        "real average analysed chunk length, as the store keeps it with bm25_collection_avg_len)",
    )
    ap.add_argument(
        "--choose",
        default=",".join(RULES),
        help="rules, comma-separated, each reported (see choose()): min, the largest smallest gain over the "
        "anchor on the training collections; mean, the largest mean gain; margin; plateau",
    )
    ap.add_argument("--top", type=int, default=10, help="settings printed by mean gain over the anchor")
    args = ap.parse_args()
    rules = args.choose.split(",")
    if unknown := [r for r in rules if r not in RULES]:
        ap.error(f"--choose: unknown rule(s) {', '.join(unknown)}; choose from {', '.join(RULES)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    other_chunks = [float(f) for f in args.other_chunks.split(",")]
    cols = [Collection(prepare(d, args.cache, args.bm25_avg_len), args.depth, other_chunks) for d in args.directories]
    names = [c.p.name for c in cols]
    settings = grid(
        [float(w) for w in args.weights.split(",")],
        [int(k) for k in args.rrf_k.split(",")],
        args.encodings.split(","),
        other_chunks,
        [FusionMethod(m) for m in args.methods.split(",")],
    )
    table = {s: [c.hybrid(s) for c in cols] for s in settings}

    print("collection  anchor (bm25 / dense)      engine branches: keyword / " + " / ".join(cols[0].dense))
    for c in cols:
        a_kw, a_dn = c.anchor_branches
        branches = " / ".join(f"{c.branch[e]:.4f}" for e in ["keyword", *c.dense])
        print(f"{c.p.name:10}  {c.anchor:.4f} ({a_kw:.4f} / {a_dn:.4f})  {branches}")
    anchor_mean = float(np.mean([c.anchor for c in cols]))
    print(f"\ntop settings by mean gain over the anchor (anchor mean {anchor_mean:.4f}):")
    print(f"{'setting':46} " + " ".join(f"{n:>8}" for n in names) + "     mean  min margin")
    for s in sorted(settings, key=lambda s: -np.mean(table[s]))[: args.top]:
        margin = min(table[s][i] - max(c.anchor, c.best_branch(s)) for i, c in enumerate(cols))
        print(f"{s!s:46} " + " ".join(f"{v:8.4f}" for v in table[s]) + f"  {np.mean(table[s]):.4f}  {margin:+.4f}")

    if len(cols) < 2:
        return
    for rule in rules:
        leave_one_out(settings, table, cols, rule)


def leave_one_out(
    settings: list[Setting], table: dict[Setting, list[float]], cols: list[Collection], rule: str
) -> None:
    """Print each fold's pick by ``rule`` (see :func:`choose`), scored on its held-out collection."""
    print(f"\nleave one collection out ({rule}): the setting chosen on the others, scored on the held-out one")
    print(f"{'held out':10} {'chosen on the others':46} {'hybrid':>7} {'anchor':>7} {'branch':>7}  holds")
    held = []
    for h, c in enumerate(cols):
        s = choose(settings, table, cols, [i for i in range(len(cols)) if i != h], rule)
        v = table[s][h]
        ok = v >= c.anchor and v >= c.best_branch(s)
        held.append(v - c.anchor)
        print(f"{c.p.name:10} {s!s:46} {v:7.4f} {c.anchor:7.4f} {c.best_branch(s):7.4f}  {'yes' if ok else 'NO'}")
    print(f"held-out mean gain over the anchor: {np.mean(held):+.4f}")
    s = choose(settings, table, cols, list(range(len(cols))), rule)
    print(f"chosen on all: {s}: " + ", ".join(f"{c.p.name} {v:.4f}" for c, v in zip(cols, table[s])))


if __name__ == "__main__":
    main()
