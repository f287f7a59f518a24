"""The fault suite (``make chaos``): a private local stack broken in every way issue 11 lists
(workers and the Temporal server SIGKILLed mid-run, every fault of the LLM API, no worker, bad
files, bad HTTP), and a pass/fail table of what survived. Run as ``python -m chaos`` from
tests/; pytest does not collect it (no test_*.py here), tests/test_chaos_report.py checks its
verdicts. Built on :mod:`ragstate.testing`.

Modules: :mod:`.suite` (the scenarios and the run), :mod:`.stack` (the stack),
:mod:`.fake` (the fake Messages API, counting paid answers), :mod:`.answers`, :mod:`.ingest`,
:mod:`.llm`, :mod:`.inputs` and :mod:`.bad_requests` (the scenarios), :mod:`.report` (the
verdicts), :mod:`.snapshot` (``--snapshot REV``).
"""
