"""Ingestion: finding and reading documents (:mod:`.discovery`, :mod:`.documents`), chunking,
summaries, redrive of failed documents and scheduled re-ingests.

Each module is imported by its full path; this package imports nothing, so that importing one
piece never loads the others."""
