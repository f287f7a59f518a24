"""Temporal activities, one module per external system they touch.

- ``query_parsing``: ParseQuery (no external system; pure validation)
- ``files``: discovering documents on the worker's file system
- ``qdrant``: keyword search, merge (reads chunk texts), indexing, commit, stats
- ``embeddings``: the sentence-transformers model (vector search, chunk embedding)
- ``anthropic_llm``: synthesis through the Anthropic Messages API (the SDK side in
  ``anthropic_messages``; the request, errors, answer cache and extractive fallback in
  ``llm_request``, ``llm_errors``, ``llm_cache``, ``llm_fallback``)
- ``anthropic_batches`` and ``summaries``: the summarize stage (Message Batches; the store side)
- ``lifecycle``: sync's prune, documents and collections
- ``elsewhere``: stand-ins a workflow worker registers for local steps it does not have
- ``attempts``, ``heartbeat``: shared by the activities above
"""
