"""Missing workers and bad input: a queue nobody polls (the answer comes degraded within seconds,
or the CLI says at once that no worker polls), bad files (each reported, the rest ingested, no
hang) and bad HTTP requests against `ragstate serve` (never a 500, never a hang)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

from ragstate.models import AnswerMode

from .answers import ANSWER_TIMEOUT_S, question
from .bad_requests import EOF_CASES, bad_requests, send
from .report import Result
from .stack import ChaosStack, bin_path

#: A degraded answer must come within the schedule-to-start bound (5 s) and this much more.
DEGRADED_WITHIN_S = 15.0


async def degraded_answer(stack: ChaosStack, r: Result, what: str, mode: AnswerMode, reason: str) -> None:
    t0 = time.monotonic()
    try:
        answer = await asyncio.wait_for(stack.rag.ask(question(what)), ANSWER_TIMEOUT_S)
    except TimeoutError:
        r.hangs += 1
        r.attempt(False, f"{what}: no answer in {ANSWER_TIMEOUT_S:.0f} s")
        return
    took = time.monotonic() - t0
    # The reason starts with ``reason``; what follows may say more (how long ago a worker polled).
    said = any(why.startswith(reason) for why in answer.degraded_reasons)
    ok = answer.degraded and answer.mode is mode and said and took <= DEGRADED_WITHIN_S
    r.attempt(ok, f"{what}: {answer.mode.value} in {took:.1f} s, {answer.degraded_reasons}")


async def no_worker(stack: ChaosStack) -> Result:
    """No LLM worker; no embeddings worker (``--roles workflows`` only, as issue 11 ran it); no
    workflow worker at all (`ragstate ask` on a queue nobody ever polled)."""
    r = Result("queue with no worker")
    s = stack.settings
    await stack.wait_ready("main", "llm")
    stack.stop_worker("llm")
    await degraded_answer(
        stack, r, "no LLM worker", AnswerMode.offline_extractive, f"Synthesize failed: no worker on {s.llm_task_queue}"
    )
    stack.start_worker("llm")
    stack.stop_worker("main")  # the store has one owner: the light worker takes it over
    stack.start_worker("light", roles="workflows")
    await stack.wait_ready("light", "llm")
    await degraded_answer(
        stack, r, "no embeddings worker", AnswerMode.llm, f"VectorSearch failed: no worker on {s.embeddings_task_queue}"
    )
    stack.stop_worker("light")
    stack.start_worker("main")
    nobody = f"{s.workflow_task_queue}-nobody"
    code, out, took = await stack.cli(
        "ask", question("no workflow worker"), timeout_s=30, RAGSTATE_WORKFLOW_TASK_QUEUE=nobody
    )
    if code is None:
        r.hangs += 1
    said = "no worker polls" in out and "ragstate worker" in out
    r.attempt(
        code not in (0, None) and said and took < DEGRADED_WITHIN_S,
        f"no workflow worker: `ragstate ask` exit {code} in {took:.1f} s",
    )
    return r


def make_bad_files(root: Path) -> dict[str, Path]:
    """One good file and each bad kind issue 11 found, in one folder."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "good.txt").write_text("Reciprocal rank fusion adds one over k plus rank for every list.\n")
    bad_name = os.fsencode(root) + b"/name\xe9.txt"
    with open(bad_name, "wb") as f:
        f.write(b"A file whose name is Latin-1, not UTF-8.\n")
    lines = [
        {"_id": "a", "title": "First", "text": "BM25 ranks documents by term frequency."},
        {"_id": "b", "title": "Second", "text": "Dense retrieval embeds the question."},
        {"_id": "a", "title": "Again", "text": "The same id a second time."},
    ]
    (root / "dup.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    os.mkfifo(root / "fifo.txt")
    (root / "loop.txt").symlink_to(root / "loop.txt")
    (root / "x.txt").mkdir()
    return {
        "folder": root,
        "fifo": root / "fifo.txt",
        "symlink loop": root / "loop.txt",
        "folder named x.txt": root / "x.txt",
        "duplicate _id": root / "dup.jsonl",
    }


def reason(out: str, path: Path) -> str:
    """What the CLI said about ``path`` (its failure line without the path), else its last line."""
    for line in out.splitlines():
        if "failed" in line and str(path) in line:
            return "'" + line.split(str(path), 1)[1].lstrip(": ").strip() + "'"
    lines = out.strip().splitlines()
    return lines[-1][-160:] if lines else "no output"


async def bad_files(stack: ChaosStack) -> Result:
    """The folder as a whole (every bad item reported, the good ones ingested), then each bad item
    named on the command line (a clear message, no 'no such file', no traceback, no hang)."""
    r = Result("bad files")
    await stack.wait_ready("main")
    paths = make_bad_files(stack.scratch / "bad-files")
    collection = f"{stack.settings.collection}-bad"
    code, out, took = await stack.cli("ingest", str(paths["folder"]), "--collection", collection, timeout_s=90)
    flat = " ".join(out.split())
    if code is None:
        r.hangs += 1
    failed = [k for k in ("name\\xe9.txt", "dup.jsonl:3") if k in flat]
    mentioned = [k for k in ("fifo.txt", "loop.txt", "x.txt") if k in flat]
    # good.txt and the two distinct ids of dup.jsonl; the other kinds are not documents, so a
    # folder walk passes them over (listed or not: `mentioned` says which the output names).
    ok = code == 2 and "ingested 3 documents" in flat and len(failed) == 2 and "Traceback" not in out
    r.attempt(ok, f"folder: exit {code} in {took:.0f} s, failures {failed}, also named {mentioned}")
    for what, path in paths.items():
        if what == "folder":
            continue
        code, out, took = await stack.cli("ingest", str(path), "--collection", collection, timeout_s=60)
        if code is None:
            r.hangs += 1
        flat = " ".join(out.split())
        ok = code in (1, 2) and "Traceback" not in out and "no such file" not in flat.lower()
        r.attempt(ok, f"{what}: exit {code}, {reason(out, path)}")
    # A non-UTF-8 name on the command line: refused with the reason before anything starts.
    raw = os.fsencode(paths["folder"]) + b"/name\xe9.txt"
    proc = await asyncio.create_subprocess_exec(
        bin_path("ragstate"),
        "ingest",
        raw,
        env=stack.env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        data, _ = await asyncio.wait_for(proc.communicate(), 60)
        flat = " ".join(data.decode(errors="replace").split())
        ok = proc.returncode == 1 and "UTF-8" in flat
        r.attempt(ok, f"non-UTF-8 name: exit {proc.returncode}, {flat.split(':')[1].strip() if ':' in flat else flat}")
    except TimeoutError:
        proc.kill()
        r.hangs += 1
        r.attempt(False, "non-UTF-8 name: no exit in 60 s")
    return r


async def bad_http(stack: ChaosStack) -> Result:
    """`ragstate serve` on a free port, every request of :func:`bad_requests.bad_requests`: each
    answered within its timeout with the expected status class and never a 500."""
    r = Result("bad HTTP input")
    await stack.wait_ready("main", "llm")
    async with stack.gateway() as port:
        statuses: dict[int | str, int] = {}
        for name, raw, allowed in bad_requests(question("http")):
            status, took = await send("127.0.0.1", port, raw, timeout_s=20, eof=name in EOF_CASES)
            statuses[status] = statuses.get(status, 0) + 1
            if status == "hang":
                r.hangs += 1
            ok = status in allowed
            r.attempt(ok, None if ok else f"{name}: {status} (expected {sorted(allowed, key=str)}) in {took:.1f} s")
        r.notes.append("statuses " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str)))
    return r
