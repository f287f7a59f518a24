"""What an ingest run shows in the Temporal UI's "Current Details" (``set_current_details``,
read through the metadata query): documents, chunks, failed, batches done and the rate so far,
updated as each batch ends. Setting the details issues no command (nothing to patch).

Example (what the UI shows mid-run)::

    | phase    | documents                   | chunks                    | failed | batches | rate            |
    | indexing | 640 of 1460 (120 unchanged) | 9,812 embedded of ~22,000 | 0      | 3 of 6+ | 5.2 documents/s |
"""

from __future__ import annotations

from datetime import datetime

from ragstate.models import IngestProgress
from ragstate.workflows.query_details import fixed_width_table


def ingest_details(p: IngestProgress, now: datetime, *, phase: str) -> str:
    """The table for ``p`` at ``now``; ``phase`` (discovering, indexing, pruning, optimizing,
    done) says what the run is doing."""
    total = f" of {p.documents_total}" if p.documents_total is not None else ""
    unchanged = f" ({p.unchanged} unchanged)" if p.unchanged else ""
    estimate = "" if p.discovery_done else "~"
    chunk_total = f" of {estimate}{p.chunks_found:,}" if p.chunks_found else ""
    batches = f"{p.batches_done} of {p.batches_discovered}" + ("" if p.discovery_done else "+")
    elapsed = (now - p.started_at).total_seconds() if p.started_at else 0.0
    rate = f"{p.documents_chunked / elapsed:.1f} documents/s" if elapsed > 0 and p.documents_chunked else ""
    row = [phase, f"{p.documents}{total}{unchanged}", f"{p.chunks_embedded:,} embedded{chunk_total}"]
    row += [str(p.failed), batches, rate]
    lines = [fixed_width_table(["phase", "documents", "chunks", "failed", "batches", "rate"], [row])]
    if p.gpu_fallbacks:
        lines += ["", f"- {p.gpu_fallbacks} embedding batches went to the CPU queue: no GPU worker took them"]
    return "\n".join(lines)
