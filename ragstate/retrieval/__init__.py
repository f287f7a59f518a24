"""Retrieval: the analyzer, BM25 sparse vectors, the embedding model and the fusion of the
vector and keyword branches. Pure helpers except :mod:`.embedding`, which loads the model.

Each module is imported by its full path; this package imports nothing, so that importing one
piece never loads the others."""
