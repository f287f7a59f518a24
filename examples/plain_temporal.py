"""The workflows are ordinary Temporal workflows: start them with any Temporal client.
Needs a running stack: `ragstate up` in another shell.

    python examples/plain_temporal.py
"""

import asyncio
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from ragstate.models import IngestRequest, RagAnswer, RagQuery
from ragstate.workflows.ingest import IngestWorkflow
from ragstate.workflows.query import RagQueryWorkflow


async def main() -> None:
    # The pydantic data converter is required: inputs and results are pydantic models.
    client = await Client.connect("localhost:7233", data_converter=pydantic_data_converter)

    await client.execute_workflow(
        IngestWorkflow.run,
        IngestRequest(paths=[str(Path(__file__).parent / "corpus")]),
        id=f"rag-ingest-example-{uuid.uuid4().hex[:6]}",
        task_queue="ragstate",
    )

    answer: RagAnswer = await client.execute_workflow(
        RagQueryWorkflow.run,
        RagQuery(question="What do BM25's k1 and b control?", top_k=3),
        id=f"rag-query-example-{uuid.uuid4().hex[:6]}",
        task_queue="ragstate",
    )
    print(answer.answer)
    for c in answer.citations:
        print(f"  [{c.number}] {c.title} ({c.score:.4f})")


if __name__ == "__main__":
    asyncio.run(main())
