"""The `ragstate` command line against the real dev server: as a person runs it (a subprocess)
where the test is about the process (its exit, its arguments' bytes, a hang), in the test's
process (``run_cli_in_process``) where it is about what a command does."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from temporalio.client import Client

from ragstate import __version__
from ragstate.client import RagClient
from ragstate.models import IngestRequest
from ragstate.settings import Settings
from ragstate.temporal.devserver import free_port
from ragstate.testing import run_cli, run_cli_in_process
from ragstate.workers.runtime import running_workers


async def test_version(settings: Settings):
    assert await run_cli(settings, "--version") == (0, f"ragstate {__version__}\n")


async def test_status_exits_cleanly_every_time(settings: Settings):
    """Before: SIGABRT (PyGILState_Release at interpreter teardown) in 3 of 11 runs under load."""
    results = await asyncio.gather(*(run_cli(settings, "status") for _ in range(6)))
    for code, out in results:
        assert code == 0, out
        assert "no worker" in out and "Traceback" not in out


async def test_a_question_that_is_not_utf8_is_a_clear_error_not_a_traceback(settings: Settings):
    code, out = await run_cli(settings, "ask", b"caf\xe9?")
    assert code == 1
    assert "not valid UTF-8" in out and "Traceback" not in out


@pytest.mark.timeout(240)
async def test_ingest_exits_2_when_documents_failed_and_lists_them(client: Client, settings: Settings, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("Hybrid retrieval fuses keyword and vector rankings.")
    (docs / "empty.md").write_text("  \n")
    (docs / "report.pdf").write_bytes(b"%PDF-1.4")  # skipped with its reason: not a failure, not silent
    async with running_workers(client, settings):
        code, out = await run_cli_in_process(settings, "ingest", str(docs))
        assert code == 2, out
        # rich wraps at the terminal's width, and folds a path longer than a line (a test
        # worker's tmp path can be) anywhere, even inside a file's name: compare without spaces.
        bare = "".join(out.split())
        assert "empty.md" in bare and "emptydocument" in bare
        assert "skipped" in bare and "report.pdf:unsupportedfiletype'.pdf'" in bare
        (docs / "empty.md").unlink()
        code, out = await run_cli_in_process(settings, "ingest", str(docs))
        assert code == 0, out
        assert "report.pdf:unsupportedfiletype'.pdf'" in "".join(out.split())


async def test_ask_without_a_workflow_worker_says_so_at_once(settings: Settings):
    """Before: `ragstate ask` with no worker on the workflow queue hung silently (killed after 40 s)."""
    code, out = await run_cli(settings, "ask", "What is BM25?", limit_s=30)
    assert code == 1
    assert f"no worker polls task queue {settings.workflow_task_queue!r}" in out and "ragstate up" in out


async def test_status_json_without_workers_and_without_temporal(settings: Settings):
    code, out = await run_cli_in_process(settings, "status", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["temporal"]["up"] is True and report["temporal"]["address"] == settings.temporal_address
    assert [(q["name"], q["kind"], q["pollers"]) for q in report["task_queues"]] == [
        (settings.workflow_task_queue, "workflows", 0),
        (settings.workflow_task_queue, "activities", 0),
        (settings.embeddings_task_queue, "activities", 0),
        (settings.llm_task_queue, "activities", 0),
    ]
    assert report["index"] is None and report["index_error"] == "no worker running"

    nowhere = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    code, out = await run_cli_in_process(nowhere, "status", "--json")
    assert code == 1, out
    report = json.loads(out)
    assert report["temporal"]["up"] is False and report["temporal"]["error"]
    code, out = await run_cli_in_process(settings, "status", "--collection", "../x")
    assert code == 2 and "invalid collection name" in out  # a usage error, from the option itself


@pytest.mark.timeout(240)
async def test_status_and_ask_use_the_collection_of_the_option_or_of_RAGSTATE_COLLECTION(
    client: Client, settings: Settings, tmp_path
):
    """Before: `status` counted the worker's default collection whatever RAGSTATE_COLLECTION said,
    and `ask` had no --collection."""
    other = f"{settings.collection}-other"
    doc = tmp_path / "walrus.md"
    doc.write_text("# Walrus facts\n\nWalruses haul out on sea ice to rest between dives.")
    async with running_workers(client, settings):
        result = await RagClient(client, settings).ingest(IngestRequest(paths=[str(doc)], collection=other))
        assert result.documents == 1, result.failures
        in_other = settings.model_copy(update={"collection": other})

        code, out = await run_cli_in_process(in_other, "status", "--json")  # RAGSTATE_COLLECTION=other
        assert code == 0, out
        assert json.loads(out)["index"] | {"chunks": 0} == {
            "backend": "edge",
            "collection": other,
            "documents": 1,
            "chunks": 0,
        }
        code, out = await run_cli_in_process(settings, "status", "--collection", other)
        flat = " ".join(out.split())
        assert code == 0 and "index: 1 document, " in flat and f"in collection {other!r}" in flat, out
        code, out = await run_cli_in_process(settings, "status", "--json")
        assert json.loads(out)["index"]["collection"] == settings.collection
        assert json.loads(out)["index"]["documents"] == 0

        question = "Where do walruses rest between dives?"
        code, out = await run_cli_in_process(settings, "ask", "--json", "--collection", other, question)
        assert code == 0, out
        assert [c["source"] for c in json.loads(out)["citations"]][:1] == [str(doc)]
        code, out = await run_cli_in_process(in_other, "ask", "--json", question)  # RAGSTATE_COLLECTION=other
        assert code == 0 and json.loads(out)["citations"][0]["source"] == str(doc), out
        code, out = await run_cli_in_process(settings, "ask", "--json", question)  # the default collection is empty
        assert code == 0 and json.loads(out)["citations"] == [], out


def _commands(command, path: tuple[str, ...] = ()):
    from typer.core import TyperGroup

    yield path, command
    if isinstance(command, TyperGroup):
        for name, sub in sorted(command.commands.items()):
            yield from _commands(sub, (*path, name))


#: Python types and Typer's raw names as 0.29 prints them: `<bool>`, `<list[Path]>`, `{paths}...`.
PYTHON_TYPES = re.compile(r"<(?:bool|str|int|float|Path|list\[[^\]]*\]|[a-z_]+)>|\{[A-Za-z_.]+\}")


def test_every_command_help_is_conventional_and_documents_every_option():
    """Before: `ragstate ingest --help` showed `{paths}...`, `<list[Path]>`, `--sync <bool>` and
    options without a word of help. Every command's --help, as a person runs it (in process, wide
    enough not to wrap), has no Python type, and every argument and option says what it is for."""
    import typer.main
    from typer.testing import CliRunner

    from ragstate.cli import app

    runner = CliRunner()
    undocumented, typed = [], []
    commands = list(_commands(typer.main.get_command(app)))
    assert len(commands) > 20  # groups included: documents, collections, schedule
    for path, command in commands:
        result = runner.invoke(app, [*path, "--help"], terminal_width=200, env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        typed += [f"{' '.join(path)}: {m}" for m in PYTHON_TYPES.findall(result.output)]
        for param in command.params:
            if not (param.help or "").strip():
                undocumented.append(f"ragstate {' '.join(path)} {param.name}")
    assert typed == [], typed
    assert undocumented == [], f"options and arguments without help text: {undocumented}"


def test_help_shows_value_names_flags_without_values_and_plain_usage():
    from typer.testing import CliRunner

    from ragstate.cli import app

    out = CliRunner().invoke(app, ["schedule", "add", "--help"], terminal_width=200, env={"COLUMNS": "200"}).output
    assert re.search(r"schedule add \[OPTIONS\] PATH\.\.\. *\n", out)
    assert re.search(r"--every\s+INTERVAL", out) and re.search(r"--sync\s+each run", out)
    out = CliRunner().invoke(app, ["ask", "--help"], terminal_width=200, env={"COLUMNS": "200"}).output
    assert re.search(r"ask \[OPTIONS\] QUESTION\s*\n", out) and re.search(r"--top-k\s+INTEGER", out)


async def test_ask_prints_the_answers_cost_and_json_carries_it(client: Client, settings: Settings):
    """Offline mode costs nothing and says why, in the text output and in --json."""
    from paths import EXAMPLES_CORPUS

    async with running_workers(client, settings):
        await RagClient(client, settings).ingest([str(EXAMPLES_CORPUS)])
        code, out = await run_cli_in_process(settings, "ask", "--json", "What is BM25?")
        assert code == 0, out
        cost = json.loads(out)["cost"]
        assert cost["usd"] == 0 and cost["priced"] and "offline extractive mode" in cost["reason"]
        code, out = await run_cli_in_process(settings, "ask", "What is BM25?")
    assert code == 0 and "cost: $0 (offline extractive mode: no LLM call" in " ".join(out.split()), out
