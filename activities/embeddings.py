"""Activities on the embeddings task queue: they need the model (and a GPU when there is one).

Vectors never leave this worker through workflow history: query vectors are searched here,
chunk vectors are written straight to the store.
"""

from __future__ import annotations

from temporalio import activity

from ragstate.activities.attempts import current_attempt
from ragstate.activities.expansion import expand_vector
from ragstate.activities.heartbeat import heartbeating
from ragstate.contracts import Activity
from ragstate.ingest.chunking import sentences
from ragstate.models import Branch, BranchResult, CacheProbe, CacheWrite, EmbedInput, EmbedResult, ParsedQuery
from ragstate.retrieval.embedding import get_embedder
from ragstate.settings import QueryEncoding, Settings
from ragstate.store import answer_cache, open_store
from ragstate.store.records import search_filter
from ragstate.store.versions import live_version


def sentence_by_sentence(question: str, s: Settings) -> bool:
    """Whether the vector branch embeds ``question`` sentence by sentence (their mean)."""
    if s.query_encoding is QueryEncoding.auto:
        return len(sentences(question)) >= s.query_sentences_min
    return s.query_encoding is QueryEncoding.sentences


class EmbeddingActivities:
    def __init__(self, settings: Settings):
        self.settings = settings

    @property
    def embedder(self):
        return get_embedder(self.settings.embedding_device)

    @activity.defn(name=Activity.VECTOR_SEARCH)
    def vector_search(self, q: ParsedQuery) -> BranchResult:
        """Embed the question (settings.query_encoding) and search the dense vectors."""
        text = q.standalone or q.question
        if q.context_text and self.settings.followup_embed_context:
            # A follow-up ("What about in children?"): embedded after the earlier turns it leaves out.
            text = f"{q.context_text} {text}"
        vector = self.embedder.encode_query(text, by_sentence=sentence_by_sentence(text, self.settings))
        store, flt, s = open_store(self.settings, q.collection), search_filter(q), self.settings
        hits = store.search_dense(vector, q.depth, flt)
        expanded_from = min(s.prf_vector_chunks, len(hits))
        if expanded_from:
            hits = store.search_dense(expand_vector(store, vector, hits, s), q.depth, flt)
        # The answer cache compares questions, so it keeps the question's own vector.
        return BranchResult(
            branch=Branch.vector,
            hits=hits,
            attempt=current_attempt(),
            cache=self._probe(q, vector),
            expanded_from=expanded_from,
        )

    def _probe(self, q: ParsedQuery, vector: list[float]) -> CacheProbe | None:
        """The answer cache (docs/answer-cache.md): the collection version and generation now,
        and an answered question close enough to this one in them, if any."""
        if q.answer_cache is None:
            return None
        physical = live_version(self.settings, q.collection)
        generation = open_store(self.settings, q.collection).generation()
        hit = answer_cache.lookup(self.settings, physical, q.answer_cache, generation, vector, q.question)
        return CacheProbe(collection=physical, generation=generation, hit=hit)

    @activity.defn(name=Activity.STORE_CACHED_ANSWER)
    def store_cached_answer(self, inp: CacheWrite) -> bool:
        """Keep a finished answer for the questions like it; False (nothing kept) when the
        collection changed since the question was searched: the answer may be stale already."""
        q, probe = inp.query, inp.probe
        if q.answer_cache is None or not probe.generation:
            return False
        if live_version(self.settings, q.collection) != probe.collection:
            return False
        if open_store(self.settings, q.collection).generation() != probe.generation:
            return False
        vector = self.embedder.encode_query(q.question, by_sentence=sentence_by_sentence(q.question, self.settings))
        answer_cache.put(
            self.settings, probe.collection, q.answer_cache, probe.generation, vector, q.question, inp.answer
        )
        return True

    @activity.defn(name=Activity.EMBED_CHUNKS)
    def embed_chunks(self, inp: EmbedInput) -> EmbedResult:
        """Embed every chunk of the given document versions that has no dense vector yet.

        Resumable: a retry (after a worker died) skips chunks an earlier attempt embedded.
        """
        s = self.settings
        store = open_store(s, inp.collection)
        todo = [c for d in inp.documents for c in store.chunks_of(d.doc_id, d.version, without_dense=True)]
        # Similar lengths in one model batch: each batch is padded to its longest text, and in
        # document order that wasted about a third of the encode time on real corpora.
        todo.sort(key=lambda c: len(c.text) + len(c.title))
        # Chunks of the batch that have their vectors (an earlier attempt's included): the
        # heartbeats carry it, so progress moves while a batch embeds, not only when it ends.
        embedded = [sum(d.chunks for d in inp.documents) - len(todo)]
        # Background heartbeats: one encode can outlast the heartbeat timeout on a busy CPU.
        with heartbeating(details=lambda: embedded[0]):
            for i in range(0, len(todo), s.embedding_batch_size):
                batch = todo[i : i + s.embedding_batch_size]
                vectors = self.embedder.encode([c.indexed_text() for c in batch], batch_size=s.embedding_batch_size)
                store.set_dense({c.chunk_id: v for c, v in zip(batch, vectors)})
                embedded[0] += len(batch)
        return EmbedResult(embedded=len(todo))
