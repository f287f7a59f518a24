"""Evaluation: BEIR-layout collections through the real workflows (:mod:`.beir`), the reference
runs (:mod:`.reference`), trec_eval-style metrics (:mod:`.ranking_metrics`) and the regression
gate (:mod:`.gate`).

Each module is imported by its full path; this package imports nothing, so that importing one
piece never loads the others."""
