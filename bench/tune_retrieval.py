"""Offline grid over the retrieval knobs on a BEIR-layout directory, in-process (no Temporal),
to choose defaults (chunk size, BM25 k1/b, RRF k, depth, weights, query encoding). Fused runs print nDCG@10 over all queries and over the two halves of the
queries (even and odd positions): a setting is worth keeping only if it helps both halves,
which guards against fitting one collection's quirks. Mirrors the engine's pipeline: the same analyzer, chunker, BM25 encoding
with Qdrant's IDF, the packaged embedding model and RRF; the final figures of record come from
`ragstate eval`, which runs the real workflows.

    python bench/tune_retrieval.py ../shared/datasets/cisi
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from scipy import sparse

from ragstate.evaluation.beir import BeirDataset, scores
from ragstate.ingest.chunking import chunk_text
from ragstate.retrieval.analyzer import analyze
from ragstate.retrieval.fusion import reciprocal_rank_fusion
from ragstate.settings import QueryEncoding
from ragstate.store.records import indexed_text


def load_corpus(ds: BeirDataset):
    docs = []
    with ds.corpus.open() as f:
        for line in f:
            d = json.loads(line)
            docs.append((str(d["_id"]), d.get("title") or "", d.get("text") or ""))
    return docs


def mean(runs: list[dict[str, float]]) -> dict[str, float]:
    return {m: round(sum(r[m] for r in runs) / len(runs), 4) for m in runs[0]}


def ndcg_halves(runs: list[dict[str, float]]) -> str:
    """nDCG@10 as "all (even half / odd half)"."""
    return " ".join(
        (f"{mean(runs)['ndcg@10']:.4f}", f"({mean(runs[0::2])['ndcg@10']:.4f}", f"/ {mean(runs[1::2])['ndcg@10']:.4f})")
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("directory", type=Path)
    ap.add_argument("--chunk-tokens", default="200")
    ap.add_argument("--k1", default="0.9,1.2,1.5")
    ap.add_argument("--b", default="0.4,0.75")
    ap.add_argument("--rrf-k", default="20,60")
    ap.add_argument("--depth", default="100", help="candidates taken from each branch before fusion")
    ap.add_argument("--cache", default=None, help="directory to keep chunk embeddings between runs")
    ap.add_argument("--binary-query", action="store_true", help="count each query term once")
    ap.add_argument("--weights", default="1/1,1/0.8,1.2/1", help="vector/keyword weight pairs")
    ap.add_argument(
        "--query-encoding",
        default="whole,sentences",
        help="how questions are embedded (settings.query_encoding): whole, sentences",
    )
    args = ap.parse_args()
    try:
        encodings = [QueryEncoding(e.strip()) for e in args.query_encoding.split(",")]
    except ValueError as e:
        ap.error(str(e))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ragstate.retrieval.embedding import get_embedder

    ds = BeirDataset.load(args.directory)
    docs = load_corpus(ds)
    qids = list(ds.queries)
    emb = get_embedder("cpu")
    t = time.time()
    # Through the engine's own query path, concurrently so that questions share passes as they do.
    with ThreadPoolExecutor(16) as pool:
        qvecs = {
            enc.value: np.array(
                list(
                    pool.map(
                        lambda q: emb.encode_query(ds.queries[q], by_sentence=enc is QueryEncoding.sentences), qids
                    )
                )
            )
            for enc in encodings
        }
    print(f"queries embedded in {time.time() - t:.1f}s; {len(qids)} queries, {len(docs)} docs")

    for chunk_tokens in [int(x) for x in args.chunk_tokens.split(",")]:
        chunks = []  # (doc_id, title, text)
        for doc_id, title, text in docs:
            for c in chunk_text(text, chunk_tokens, min(40, chunk_tokens // 4), title=title) or []:
                chunks.append((doc_id, title, c.text))
        chunk_doc = [c[0] for c in chunks]
        t = time.time()
        cache = Path(args.cache) / f"{args.directory.resolve().name}-{chunk_tokens}.npy" if args.cache else None
        if cache and cache.exists():
            cvec = np.load(cache)
        else:
            cvec = np.array(emb.encode([indexed_text(ti, tx) for _, ti, tx in chunks]))
            if cache:
                cache.parent.mkdir(parents=True, exist_ok=True)
                np.save(cache, cvec)
        print(f"\nchunk_tokens={chunk_tokens}: {len(chunks)} chunks, embedded in {time.time() - t:.1f}s")
        analyzed = [analyze(indexed_text(ti, tx)) for _, ti, tx in chunks]
        true_avg = sum(map(len, analyzed)) / len(analyzed)
        vocab: dict[str, int] = {}
        for toks in analyzed:
            for w in toks:
                vocab.setdefault(w, len(vocab))
        df = Counter(w for toks in analyzed for w in set(toks))
        n = len(chunks)
        idf = np.zeros(len(vocab))
        for w, i in vocab.items():
            idf[i] = math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))

        def bm25_matrix(k1, b, avg):
            rows, cols, vals = [], [], []
            for r, toks in enumerate(analyzed):
                norm = k1 * (1 - b + b * len(toks) / avg)
                for w, tf in Counter(toks).items():
                    rows.append(r)
                    cols.append(vocab[w])
                    vals.append(tf * (k1 + 1) / (tf + norm))
            return sparse.csr_matrix((vals, (rows, cols)), shape=(n, len(vocab)))

        qterm = sparse.lil_matrix((len(qids), len(vocab)))
        for qi, q in enumerate(qids):
            for w, c in Counter(analyze(ds.queries[q])).items():
                if w in vocab:
                    qterm[qi, vocab[w]] = (1 if args.binary_query else c) * idf[vocab[w]]
        qterm = qterm.tocsr()

        def ranked_docs(row: np.ndarray, depth: int) -> list[str]:
            top = np.argsort(-row)[:depth]
            return list(dict.fromkeys(chunk_doc[i] for i in top))

        dense = {enc: qvec @ cvec.T for enc, qvec in qvecs.items()}
        for enc, dense_scores in dense.items():
            dense_rank = [ranked_docs(dense_scores[qi], 300) for qi in range(len(qids))]
            print(
                f"vector, query encoding {enc}:",
                ndcg_halves([scores(dense_rank[qi], ds.qrels[q]) for qi, q in enumerate(qids)]),
            )
        floats = lambda v: [float(x) for x in v.split(",")]  # noqa: E731
        weights = [tuple(float(x) for x in w.split("/")) for w in args.weights.split(",")]
        for k1, b, avg in itertools.product(floats(args.k1), floats(args.b), (true_avg, 100.0)):
            kw = (qterm @ bm25_matrix(k1, b, avg).T).toarray()
            kw_rank = [ranked_docs(kw[qi], 300) for qi in range(len(qids))]
            res = {"keyword": ndcg_halves([scores(kw_rank[qi], ds.qrels[q]) for qi, q in enumerate(qids)])}
            grid = itertools.product(
                weights,
                [int(x) for x in args.rrf_k.split(",")],
                [int(x) for x in args.depth.split(",")],
                ("chunk", "doc"),
                dense,
            )
            for (wv, wk), rrf_k, depth, level, enc in grid:
                dense_scores = dense[enc]
                runs = []
                for qi, q in enumerate(qids):
                    if level == "doc":  # as the engine's fusion_unit=document: `depth` chunks per branch
                        fused = reciprocal_rank_fusion(
                            [(ranked_docs(dense_scores[qi], depth), wv), (ranked_docs(kw[qi], depth), wk)], k=rrf_k
                        )
                        ranking = [d for d, _ in fused]
                    else:
                        dtop = np.argsort(-dense_scores[qi])[:depth]
                        ktop = np.argsort(-kw[qi])[:depth]
                        fused = reciprocal_rank_fusion([(list(dtop), wv), (list(ktop), wk)], k=rrf_k)
                        ranking = list(dict.fromkeys(chunk_doc[i] for i, _ in fused))
                    runs.append(scores(ranking, ds.qrels[q]))
                res[f"w={wv}/{wk} k={rrf_k} d={depth} {level} q={enc}"] = ndcg_halves(runs)
            print(f"k1={k1} b={b} avg={avg:.1f}", json.dumps(res))


if __name__ == "__main__":
    main()
