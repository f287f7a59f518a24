"""Answers: citations as search-result blocks, abstention, deduplication of cited text, and the
price of an answer. Pure helpers that workflows may import.

Each module is imported by its full path; this package imports nothing, so that importing one
piece never loads the others."""
