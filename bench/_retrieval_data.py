"""One BEIR collection prepared for in-process retrieval experiments, cached on disk.

Mirrors what the engine indexes: documents read by ``ragstate.ingest.documents.load``, chunked by
``chunk_text`` with the default chunk size and overlap, BM25 as the engine's sparse vectors
(saturated tf with the settings' ``bm25_avg_len`` or the collection's real average, Qdrant's IDF), chunk embeddings of
``indexed_text(title, text)`` by the packaged model. Also what the anchor needs: whole-document
embeddings and rank-bm25 over whole documents. Embeddings are the slow part (minutes for npl
on two CPUs), so they are computed once and kept under ``--cache`` (default /tmp).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from ragstate.evaluation.beir import BeirDataset
from ragstate.ingest.chunking import chunk_text, sentences
from ragstate.ingest.documents import Document, load
from ragstate.models import SourceRef
from ragstate.retrieval.analyzer import analyze
from ragstate.settings import Settings
from ragstate.store.records import indexed_text

DEFAULT_CACHE = Path(os.environ.get("RAGSTATE_BENCH_CACHE", "/tmp/ragstate-retrieval-cache"))


@dataclass
class Prepared:
    """Per query: score arrays over every chunk (engine) or document (anchor)."""

    name: str
    dataset: BeirDataset
    qids: list[str]
    doc_ids: list[str]
    chunk_doc: np.ndarray  # chunk index -> document index
    dense_whole: np.ndarray  # queries x chunks: cosine of the whole question
    dense_sentences: np.ndarray  # queries x chunks: cosine of the mean of its sentences (engine)
    sentence_count: list[int]
    keyword: np.ndarray  # queries x chunks: the engine's BM25
    anchor_dense: np.ndarray  # queries x documents: whole question vs whole document
    anchor_bm25: np.ndarray  # queries x documents: rank-bm25 BM25Okapi


def encoded_matrix(units: list[list[str]], enc) -> tuple[sparse.csr_matrix, dict[int, int]]:
    """units x terms: each unit's BM25 document values as ``enc`` (a Bm25Encoder) encodes its
    analysed terms, and the term index -> column map (the keyword benches' document side)."""
    vocab: dict[int, int] = {}
    rows, cols, vals = [], [], []
    for r, terms in enumerate(units):
        vec = enc.encode_analyzed(terms)
        for i, v in zip(vec.indices, vec.values):
            rows.append(r)
            cols.append(vocab.setdefault(i, len(vocab)))
            vals.append(v)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(units), len(vocab))), vocab


def _documents(ds: BeirDataset) -> list[Document]:
    docs = [d for d in load(SourceRef(path=str(ds.corpus)), Settings().max_document_bytes) if isinstance(d, Document)]
    return list({d.doc_id: d for d in docs}.values())


def _normalised_mean(rows: np.ndarray) -> np.ndarray:
    m = rows.mean(axis=0)
    n = np.linalg.norm(m)
    return m / n if n > 0 else m


def _embeddings(key: str, texts: list[str], cache: Path) -> np.ndarray:
    path = cache / f"{key}-{hashlib.blake2b(chr(0).join(texts).encode(), digest_size=6).hexdigest()}.npy"
    if path.exists():
        return np.load(path)
    from ragstate.retrieval.embedding import get_embedder

    arr = np.asarray(get_embedder("cpu").encode(texts, batch_size=64), dtype=np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, arr)
    return arr


def _bm25_engine(chunk_texts: list[str], queries: list[str], s: Settings, avg_len: float | None = None) -> np.ndarray:
    """queries x chunks; ``avg_len`` None: as the engine's settings (``bm25_avg_len``, or the
    collection's real average with ``bm25_collection_avg_len``), 0: the collection's real average
    analysed chunk length, else that fixed value."""
    analyzed = [analyze(t) for t in chunk_texts]
    real = sum(map(len, analyzed)) / max(len(analyzed), 1)
    if avg_len is None:
        avg_len = 0 if s.bm25_collection_avg_len else s.bm25_avg_len
    avg = avg_len or real
    vocab: dict[str, int] = {}
    for toks in analyzed:
        for w in toks:
            vocab.setdefault(w, len(vocab))
    df = Counter(w for toks in analyzed for w in set(toks))
    n = len(analyzed)
    idf = np.zeros(len(vocab))
    for w, i in vocab.items():  # Qdrant's IDF modifier
        idf[i] = math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5))
    rows, cols, vals = [], [], []
    for r, toks in enumerate(analyzed):
        norm = s.bm25_k1 * (1 - s.bm25_b + s.bm25_b * len(toks) / avg)
        for w, tf in Counter(toks).items():
            rows.append(r)
            cols.append(vocab[w])
            vals.append(tf * (s.bm25_k1 + 1) / (tf + norm))
    docs = sparse.csr_matrix((vals, (rows, cols)), shape=(n, len(vocab)))
    q = sparse.lil_matrix((len(queries), len(vocab)))
    for qi, text in enumerate(queries):
        for w, c in Counter(analyze(text)).items():
            if w in vocab:
                q[qi, vocab[w]] = c * idf[vocab[w]]
    return (q.tocsr() @ docs.T).toarray()


def prepare(root: Path, cache: Path = DEFAULT_CACHE, avg_len: float | None = None) -> Prepared:
    from rank_bm25 import BM25Okapi

    s = Settings()
    ds = BeirDataset.load(root)
    name = Path(root).resolve().name
    docs = _documents(ds)
    doc_index = {d.doc_id: i for i, d in enumerate(docs)}
    chunk_doc, chunk_texts = [], []
    for d in docs:
        for c in chunk_text(d.text, s.chunk_tokens, s.chunk_overlap, title=d.title):
            chunk_doc.append(doc_index[d.doc_id])
            chunk_texts.append(indexed_text(d.title, c.text))
    qids = list(ds.queries)
    questions = [ds.queries[q] for q in qids]
    parts = [sentences(q) or [q] for q in questions]
    cvec = _embeddings(f"{name}-chunks-{s.chunk_tokens}-{s.chunk_overlap}", chunk_texts, cache)
    dvec = _embeddings(f"{name}-documents", [indexed_text(d.title, d.text) for d in docs], cache)
    qvec = _embeddings(f"{name}-queries", questions, cache)
    flat = _embeddings(f"{name}-sentences", [p for ps in parts for p in ps], cache)
    offsets = np.cumsum([0] + [len(p) for p in parts])
    svec = np.stack([_normalised_mean(flat[offsets[i] : offsets[i + 1]]) for i in range(len(parts))])
    doc_terms = [analyze(indexed_text(d.title, d.text)) for d in docs]
    bm25 = BM25Okapi(doc_terms, k1=s.bm25_k1, b=s.bm25_b)
    return Prepared(
        name=name,
        dataset=ds,
        qids=qids,
        doc_ids=[d.doc_id for d in docs],
        chunk_doc=np.asarray(chunk_doc),
        dense_whole=qvec @ cvec.T,
        dense_sentences=svec @ cvec.T,
        sentence_count=[len(p) for p in parts],
        keyword=_bm25_engine(chunk_texts, questions, s, avg_len),
        anchor_dense=qvec @ dvec.T,
        anchor_bm25=np.stack([bm25.get_scores(analyze(q)) for q in questions]),
    )
