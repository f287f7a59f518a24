"""One Synthesize call through the real Anthropic SDK, as the LLM tests make it: a fixed
question and two sources, settings pointing at a fake Messages API with a test key, and the
activity run in an :class:`ActivityEnvironment` (tests/test_anthropic.py,
tests/test_llm_reliability.py)."""

from __future__ import annotations

from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment

from ragstate.activities.anthropic_llm import AnthropicActivities
from ragstate.models import Source, SynthesisInput, SynthesisResult
from ragstate.settings import Settings
from ragstate.testing import FakeAnthropic

KEY = "sk-ant-test-0123456789"
MODEL = "claude-test-model"

SOURCES = [
    Source(
        number=1,
        chunk_id="c1",
        doc_id="d1",
        title="BM25 basics",
        source="bm25.md",
        text="BM25 ranks documents by term frequency and inverse document frequency. "
        "Long documents are normalised by their length.",
        score=0.9,
    ),
    Source(
        number=2,
        chunk_id="c2",
        doc_id="d2",
        title="Dense retrieval",
        source="dense.md",
        text="Dense retrieval embeds the query and the documents as vectors. "
        "Nearest neighbours are found by cosine similarity.",
        score=0.7,
    ),
]
QUESTION = "How does BM25 rank documents?"


def synthesis_input() -> SynthesisInput:
    return SynthesisInput(question=QUESTION, sources=SOURCES)


def llm_settings(server: FakeAnthropic | None, base: Settings | None = None, **update) -> Settings:
    """Settings pointing at the fake server with a key (unless overridden)."""
    base = base or Settings(_env_file=None)
    values = {
        "anthropic_api_key": SecretStr(KEY),
        "anthropic_model": MODEL,
        "anthropic_stream": False,
        "anthropic_timeout_s": 10.0,
    }
    if server is not None:
        values["anthropic_base_url"] = server.url
    values.update(update)
    return base.model_copy(update=values)


async def synthesize(settings: Settings, env: ActivityEnvironment | None = None) -> SynthesisResult:
    env = env or ActivityEnvironment()
    return await env.run(AnthropicActivities(settings).synthesize, synthesis_input())
