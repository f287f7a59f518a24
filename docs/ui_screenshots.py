"""Screenshots of runs in the Temporal web UI's default view, for the README and docs, taken
with headless Chromium (Debian's ``chromium`` package) against a private local stack, with the
workers still running (the UI reads a run's current details through a query a worker answers).

    python docs/ui_screenshots.py              # writes docs/img/ui-*.png

- ``ui-query.png``: a default (local-activity) query run: the details table of its five states.
- ``ui-query-degraded.png``: no worker polls the embeddings queue: VectorSearch fails within
  the schedule-to-start bound, the answer is degraded and says why.
- ``ui-query-llm-retry.png``: an LLM answer whose first attempt's stream broke off: Synthesize
  on its second attempt, tokens and cost (the Messages API is ragstate.testing's local server).
- ``ui-ingest.png``: an ingest run: documents, chunks, failed, batches and rate.
- ``ui-session.png``: a conversation of three turns (a RagSession run, ended): its table of
  turns (question, standalone form, mode, sources, tokens, cost, ms, each turn's RagQuery run).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from screenshots import ROOT, screenshot, stack, take_screenshots

QUESTION = "What do the BM25 parameters k1 and b control?"
#: A conversation: a question, a follow-up that needs the first to make sense, a new topic.
TURNS = [QUESTION, "How are they usually tuned?", "What does reciprocal rank fusion do?"]


def run_url(ui_port: int, workflow_id: str, run_id: str) -> str:
    """The run's "User Metadata" tab: static summary and details, and the current details."""
    return f"http://localhost:{ui_port}/namespaces/default/workflows/{workflow_id}/{run_id}/user-metadata"


async def take(out_dir: Path) -> None:
    from pydantic import SecretStr

    from ragstate.client import RagClient
    from ragstate.settings import Settings
    from ragstate.temporal.connection import connect
    from ragstate.testing import FakeAnthropic, ok, stream_error
    from ragstate.workers.runtime import running_workers

    with (
        tempfile.TemporaryDirectory(prefix="ragstate-shots-") as tmp,
        stack(Path(tmp), None) as (server, ui),
        FakeAnthropic() as llm,
    ):
        settings = Settings(
            data_dir=Path(tmp) / "data",
            temporal_address=server.address,  # type: ignore[attr-defined]
            step_schedule_to_start_s=3.0,
            _env_file=None,
        )
        client = await connect(settings)
        rag = RagClient(client, settings)
        shots: list[tuple[str, str]] = []
        async with running_workers(client, settings):
            handle = await rag.start_ingest([str(ROOT / "examples" / "corpus")])
            await rag.follow(handle)
            desc = await handle.describe()
            shots.append((run_url(ui, handle.id, desc.run_id), "ui-ingest.png"))
            answer = await rag.ask(QUESTION)
            shots.append((run_url(ui, answer.workflow_id, answer.run_id), "ui-query.png"))
            chat = rag.session("docs-chat")
            for i, question in enumerate(TURNS, 1):
                await chat.ask(question, message_id=f"m{i}")
            # Ended: the UI long-polls a running run's history, and headless Chromium's virtual
            # time stands still while a request is open (the picture never comes).
            await chat.end()
            desc = await client.get_workflow_handle(chat.workflow_id).describe()
            shots.append((run_url(ui, chat.workflow_id, desc.run_id), "ui-session.png"))
        async with running_workers(client, settings, roles=["workflows", "llm"]):  # nobody polls embeddings
            answer = await rag.ask(QUESTION)
            shots.append((run_url(ui, answer.workflow_id, answer.run_id), "ui-query-degraded.png"))
        online = settings.model_copy(
            update={"anthropic_api_key": SecretStr("sk-ant-docs"), "anthropic_base_url": llm.url}
        )
        llm.plan(
            stream_error(text_before="BM25's k1 controls"),
            ok(
                "k1 controls how quickly term frequency saturates [1]; b controls how strongly the score is "
                "normalised by document length [1].",
                input_tokens=1450,
                output_tokens=38,
            ),
        )
        async with running_workers(client, online):
            answer = await RagClient(client, online).ask(QUESTION)
            shots.append((run_url(ui, answer.workflow_id, answer.run_id), "ui-query-llm-retry.png"))
            # Every run's details are read by query: take the pictures while the workers run.
            for url, name in shots:
                await asyncio.to_thread(screenshot, url, out_dir / name, 12_000, "1500,1300")


def main() -> None:
    take_screenshots(take, __doc__ or "")


if __name__ == "__main__":
    main()
