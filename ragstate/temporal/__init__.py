"""Temporal plumbing: connecting (:mod:`.connection`), workflow ids and conventions
(:mod:`.conventions`), the local dev server (:mod:`.devserver`), ending processes that hold a
client or worker (:mod:`.process`) and riding out a server outage (:mod:`.outage`).

Each module is imported by its full path; this package imports nothing, so that importing one
piece never loads the others."""
