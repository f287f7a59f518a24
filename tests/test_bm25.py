"""The BM25 encoder, and BM25 ranking by both store backends against rank-bm25.

The store computes BM25 from sparse vectors (document side: saturated term frequency; query
side: term counts; Qdrant multiplies in its own IDF). These tests check that the ranking it
produces is BM25 exactly, by comparing it with ``rank_bm25`` over the same analyzer tokens.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter

import pytest
from paths import EXAMPLES_CORPUS
from rank_bm25 import BM25Okapi

from ragstate.retrieval.analyzer import STOP_WORDS, analyze, term_index
from ragstate.retrieval.bm25 import Bm25Encoder
from ragstate.store.records import ChunkRecord, chunk_id

K1, B = 1.2, 0.75
# qdrant-client local mode warns that payload indexes are no-ops there.
pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")
TOP = 10

# --- encoder ---------------------------------------------------------------------------------


def test_document_values_follow_bm25_saturation():
    enc = Bm25Encoder(k1=1.2, b=0.75, avg_len=4.0)
    # "running runs dog cat cats" -> run, run, dog, cat, cat: length 5.
    vec = enc.encode_document("running runs dog cat cats")
    values = dict(zip(vec.indices, vec.values))
    assert vec.indices == sorted(vec.indices) and len(vec) == 3
    # norm = k1 * (1 - b + b * len / avg_len) = 1.2 * (0.25 + 0.75 * 5 / 4) = 1.425
    # tf=2: 2 * 2.2 / (2 + 1.425) = 1.28467...; tf=1: 2.2 / 2.425 = 0.90721...
    assert values[term_index("run")] == pytest.approx(4.4 / 3.425, abs=1e-12)
    assert values[term_index("run")] == pytest.approx(1.2846715, abs=1e-6)
    assert values[term_index("cat")] == pytest.approx(1.2846715, abs=1e-6)
    assert values[term_index("dog")] == pytest.approx(0.9072165, abs=1e-6)


def test_document_values_saturate_and_normalise_length():
    enc = Bm25Encoder(k1=1.2, b=0.75, avg_len=10.0)
    one = enc.encode_document("zebra").values[0]
    many = dict(
        zip(
            *[
                enc.encode_document(" ".join(["zebra"] * 50)).indices,
                enc.encode_document(" ".join(["zebra"] * 50)).values,
            ]
        )
    )[term_index("zebra")]
    assert one < many < K1 + 1  # saturates below k1 + 1
    # The same term count weighs less in a longer document.
    short = enc.encode_document("zebra lion").values
    long_ = enc.encode_document("zebra lion " + " ".join(f"word{i}" for i in range(40)))
    long_values = dict(zip(long_.indices, long_.values))
    assert (
        long_values[term_index("zebra")]
        < dict(zip(enc.encode_document("zebra lion").indices, short))[term_index("zebra")]
    )
    # b = 0 switches length normalisation off.
    flat = Bm25Encoder(k1=1.2, b=0.0, avg_len=10.0)
    a = flat.encode_document("zebra lion")
    c = flat.encode_document("zebra lion " + " ".join(f"word{i}" for i in range(40)))
    assert dict(zip(c.indices, c.values))[term_index("zebra")] == pytest.approx(a.values[0]) == pytest.approx(1.0)


def test_query_counts_repeated_terms():
    enc = Bm25Encoder()
    q = enc.encode_query("running run the dog, the runner")
    values = dict(zip(q.indices, q.values))
    assert values == {term_index("run"): 2.0, term_index("dog"): 1.0, term_index("runner"): 1.0}
    assert q.indices == sorted(q.indices)
    assert enc.encode_terms(["a1", "a1", "a1"]).values == [3.0]
    assert len(enc.encode_query("the of and")) == 0


def test_empty_document_encodes_to_empty_vector():
    vec = Bm25Encoder().encode_document("the of, and")
    assert vec.indices == [] and vec.values == []


# --- store BM25 vs rank-bm25 --------------------------------------------------------------------


class QdrantIdfBM25(BM25Okapi):
    """rank-bm25's Okapi scoring with Qdrant's IDF: ln(1 + (N - n + 0.5) / (n + 0.5))."""

    def _calc_idf(self, nd):
        for word, freq in nd.items():
            self.idf[word] = math.log(1.0 + (self.corpus_size - freq + 0.5) / (freq + 0.5))


_SYLLABLES = [
    "ka",
    "lo",
    "ri",
    "mu",
    "ten",
    "sa",
    "vor",
    "pi",
    "dul",
    "ne",
    "zo",
    "gar",
    "fi",
    "bel",
    "tri",
    "ho",
    "quan",
    "yel",
    "dra",
    "mos",
    "cu",
    "wen",
    "jast",
    "plo",
]
_ENGLISH = [
    "running",
    "runs",
    "retrieval",
    "retrieving",
    "indexes",
    "indexing",
    "documents",
    "documented",
    "vectors",
    "vector",
    "ranking",
    "ranked",
    "temporal",
    "workflows",
    "queries",
    "queried",
    "durable",
    "durability",
    "chunks",
    "chunking",
    "fusion",
    "fused",
    "search",
    "searching",
]
_FILLER = ["the", "of", "and", "a", "is", "to", "in", "it", "was", "for", "with", "on", "as", "by"]


def _corpus(seed: int = 20240611, n_docs: int = 320) -> tuple[list[str], list[str]]:
    """Seeded documents over a Zipf-distributed vocabulary; varied lengths; stop words and case
    noise that the analyzer must remove; plus the examples corpus. Also returns a query pool."""
    rng = random.Random(seed)
    vocab: list[str] = []
    seen: set[str] = set()
    while len(vocab) < 700:
        w = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        if w not in seen and w not in STOP_WORDS:
            seen.add(w)
            vocab.append(w)
    vocab[3:3] = _ENGLISH  # English words sit among the frequent ranks, so stems merge forms
    weights = [1.0 / (r + 1) ** 1.07 for r in range(len(vocab))]
    docs = []
    for _ in range(n_docs):
        length = max(3, int(rng.lognormvariate(3.6, 0.7)))  # ~5 to ~300 words
        words = []
        for w in rng.choices(vocab, weights=weights, k=length):
            if rng.random() < 0.1:
                w = w.capitalize()
            words.append(w)
            if rng.random() < 0.3:
                words.append(rng.choice(_FILLER))
        docs.append(" ".join(words) + ".")
    root = EXAMPLES_CORPUS
    for f in sorted(root.glob("*")):
        if f.suffix in {".md", ".txt"}:
            docs.append(f.read_text(encoding="utf-8"))
    return docs, vocab


def _queries(vocab: list[str], seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    qs = [
        "running retrieval",
        "durable workflows and temporal",
        "chunking documents",
        "vector search",
        "fusion ranking queries",
        "the search of the indexes",
        f"{vocab[0]} {vocab[400]}",
        f"{vocab[250]}",
        f"{vocab[600]} {vocab[650]} {vocab[690]}",
        f"{vocab[40]} {vocab[40]} {vocab[120]}",  # repeated term counts twice
        f"What is {vocab[90]} and why {vocab[95]}?",
        "reciprocal rank fusion",
        "BM25 saturation term frequency",
        "dense embeddings cosine",
        "zzzunknownterm " + vocab[300],
    ]
    while len(qs) < 22:
        k = rng.randint(1, 5)
        qs.append(" ".join(rng.choice(vocab[: rng.choice([30, 150, 700])]) for _ in range(k)))
    return qs


@pytest.fixture(scope="module")
def bm25_setup(tmp_path_factory):
    from ragstate.store.edge import EdgeStore
    from ragstate.store.qdrant_server import QdrantServerStore, connect

    docs, vocab = _corpus()
    tokens = [analyze(d) for d in docs]
    assert all(tokens)
    # No two distinct analyzed terms share a sparse dimension in this corpus (else the
    # store would merge them and the reference would not).
    distinct = {t for toks in tokens for t in toks}
    assert len({term_index(t) for t in distinct}) == len(distinct)

    avg_len = sum(map(len, tokens)) / len(tokens)
    enc = Bm25Encoder(k1=K1, b=B, avg_len=avg_len)
    records = [
        ChunkRecord(
            chunk_id=chunk_id(f"d{i}", "v1", 0),
            doc_id=f"d{i}",
            version="v1",
            title="",
            text=d,
            source="synthetic",
            position=0,
            sparse=enc.encode_document(d),
        )
        for i, d in enumerate(docs)
    ]
    base = tmp_path_factory.mktemp("bm25")
    edge = EdgeStore(base / "edge", dim=8)
    client = connect(path=str(base / "local"))
    server = QdrantServerStore(client, "bm25", dim=8)
    for store in (edge, server):
        for i in range(0, len(records), 100):  # several batches, like ingestion
            store.upsert(records[i : i + 100])
    edge.optimize()
    ref = QdrantIdfBM25(tokens, k1=K1, b=B)
    plain = BM25Okapi(tokens, k1=K1, b=B)
    assert ref.avgdl == pytest.approx(avg_len)
    yield {"edge": edge, "qdrant": server}, enc, ref, plain, _queries(vocab), len(docs)
    edge.close()
    client.close()


def _doc_index(doc_id: str) -> int:
    return int(doc_id[1:])


@pytest.mark.parametrize("backend", ["edge", "qdrant"])
def test_store_bm25_equals_rank_bm25_with_qdrant_idf(bm25_setup, backend):
    stores, enc, ref, _, queries, n_docs = bm25_setup
    store = stores[backend]
    exact_order = compared = 0
    for q in queries:
        terms = analyze(q)
        ref_scores = ref.get_scores(terms)
        ref_top = sorted(range(n_docs), key=lambda i: -ref_scores[i])[:TOP]
        hits = store.search_sparse(enc.encode_terms(terms), limit=TOP)
        matching = [i for i in range(n_docs) if ref_scores[i] > 0]
        assert len(hits) == min(TOP, len(matching)), q
        got = [_doc_index(h.doc_id) for h in hits]
        # Every returned score is the reference BM25 score of that document ...
        for h in hits:
            assert h.score == pytest.approx(ref_scores[_doc_index(h.doc_id)], rel=1e-4, abs=1e-4), (q, h)
        # ... scores come best first, and no document left out scores higher than one returned
        # (so the returned list is a correct top-k; equal scores may come in either order).
        assert all(a.score >= b.score - 1e-4 for a, b in itertools.pairwise(hits)), q
        if hits:
            floor = hits[-1].score
            left_out = [i for i in range(n_docs) if i not in set(got)]
            assert max(ref_scores[i] for i in left_out) <= floor + 1e-4, q
            # The ranked ids agree, up to the order of (near-)equal scores.
            for pos, (g, r) in enumerate(zip(got, ref_top[: len(got)])):
                assert ref_scores[g] == pytest.approx(ref_scores[r], rel=1e-4, abs=1e-4), (q, pos)
            exact_order += got == ref_top[: len(got)]
            compared += 1
    assert compared >= 20
    # Ties aside the order is identical; allow at most a couple of tie-order swaps.
    assert exact_order >= compared - 2, (exact_order, compared)


@pytest.mark.parametrize("backend", ["edge", "qdrant"])
def test_store_bm25_overlaps_plain_bm25okapi(bm25_setup, backend):
    """Sanity check against unmodified rank-bm25 (its IDF differs only for very common terms)."""
    stores, enc, _, plain, queries, n_docs = bm25_setup
    overlaps = []
    for q in queries:
        terms = analyze(q)
        scores = plain.get_scores(terms)
        want = {i for i in sorted(range(n_docs), key=lambda i: -scores[i])[:TOP] if scores[i] > 0}
        got = {_doc_index(h.doc_id) for h in stores[backend].search_sparse(enc.encode_terms(terms), TOP)}
        if want:
            overlaps.append(len(want & got) / len(want))
    assert len(overlaps) >= 20
    assert sum(overlaps) / len(overlaps) >= 0.8, overlaps


def test_backends_agree_with_each_other(bm25_setup):
    stores, enc, _, _, queries, _ = bm25_setup
    for q in queries:
        vec = enc.encode_query(q)
        a = stores["edge"].search_sparse(vec, TOP)
        b = stores["qdrant"].search_sparse(vec, TOP)
        assert [h.score for h in a] == pytest.approx([h.score for h in b], rel=1e-4, abs=1e-4), q


def test_corpus_statistics_are_realistic(bm25_setup):
    """The comparison exercises common terms (IDF below rank-bm25's epsilon floor) and rare ones."""
    _, _, _ref, plain, _, n_docs = bm25_setup
    df = Counter({w: sum(1 for d in plain.doc_freqs if w in d) for w in plain.idf})
    assert max(df.values()) > n_docs / 2  # some term in more than half the documents
    assert sum(1 for n in df.values() if n == 1) > 50  # and many singletons
    lengths = plain.doc_len
    assert min(lengths) < 15 and max(lengths) > 150
