"""Temporal activities, one module per external system they touch.

- ``query_parsing``: ParseQuery (no external system; pure validation)
- ``files``: discovering documents on the worker's file system
- ``qdrant``: keyword search, merge (reads chunk texts), indexing, commit, stats
- ``embeddings``: the sentence-transformers model (vector search, chunk embedding)
- ``anthropic_llm``: synthesis through the Anthropic Messages API
"""
