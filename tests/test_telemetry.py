"""Traces and metrics (ragstate.observability.telemetry and .metrics, ragstate.gateway.metrics):
one trace per query from the HTTP request to the Anthropic call, ragstate's and the SDK's metrics on a
worker's Prometheus endpoint, the gateway's /metrics, and nothing at all when unconfigured."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import httpx
import pytest
from gateway_client import app_on, app_without_temporal, http
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from paths import EXAMPLES_CORPUS
from pydantic import SecretStr
from temporalio.client import Client

from ragstate.client import RagClient
from ragstate.settings import Settings
from ragstate.temporal.connection import connect
from ragstate.temporal.devserver import free_port
from ragstate.testing import FakeAnthropic, clean_env, ok
from ragstate.workers.runtime import running_workers

_exporter = InMemorySpanExporter()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """Finished spans of this test: an SDK tracer provider for the process (the global one can be
    set only once), exporting to memory as each span ends."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    if not getattr(provider, "_ragstate_test_exporter", False):
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
        provider._ragstate_test_exporter = True  # type: ignore[attr-defined]
    _exporter.clear()
    return _exporter


def sample(metrics_text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels`` (0 when none)."""
    total = 0.0
    for line in metrics_text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


def only(found: list[ReadableSpan], name: str) -> ReadableSpan:
    named = [s for s in found if s.name == name]
    assert len(named) == 1, (name, sorted(s.name for s in found))
    return named[0]


def parent_of(span: ReadableSpan, found: list[ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, f"{span.name} has no parent"
    return next(s for s in found if s.context.span_id == span.parent.span_id)


async def test_one_trace_per_query_and_the_metrics_it_moves(
    settings: Settings, spans: InMemorySpanExporter, fake_anthropic: FakeAnthropic
):
    """HTTP request -> StartWorkflow -> RunWorkflow -> StartActivity/RunActivity -> the GenAI span,
    one trace across the workflow and activity boundaries; then the worker's Prometheus endpoint
    and the gateway's /metrics."""
    from ragstate.activities.anthropic_llm import close_llm_clients

    bind = f"127.0.0.1:{free_port()}"
    settings = settings.model_copy(
        update={
            "anthropic_api_key": SecretStr("sk-test"),
            "metrics_bind": bind,
            "anthropic_base_url": fake_anthropic.url,
        }
    )
    fake_anthropic.plan(ok("RRF sums reciprocal ranks [1].", input_tokens=120, output_tokens=9))
    client = await connect(settings)
    try:
        async with running_workers(client, settings):
            ingested = await RagClient(client, settings).ingest([str(EXAMPLES_CORPUS)])
            spans.clear()  # the ingest's spans are not this test's subject
            async with http(app_on(client, settings)) as gateway:
                r = await gateway.post("/v1/query", json={"question": "How does RRF work?", "top_k": 3})
                assert r.status_code == 200, r.text
                assert r.json()["mode"] == "llm"
                gateway_metrics = (await gateway.get("/metrics")).text
            async with httpx.AsyncClient(timeout=10) as scraper:
                worker_metrics = (await scraper.get(f"http://{bind}/metrics")).text
    finally:
        await close_llm_clients()

    found = list(spans.get_finished_spans())
    llm = only(found, f"chat {settings.anthropic_model}")
    assert llm.attributes["gen_ai.system"] == "anthropic"
    assert llm.attributes["gen_ai.request.model"] == settings.anthropic_model
    assert (llm.attributes["gen_ai.usage.input_tokens"], llm.attributes["gen_ai.usage.output_tokens"]) == (120, 9)
    # Walk up from the Anthropic call to the HTTP request: every hop is a parent link.
    chain = [llm]
    while chain[-1].parent is not None:
        chain.append(parent_of(chain[-1], found))
    names = [s.name for s in reversed(chain)]
    assert names[0] == "POST /v1/query", names
    assert names[-4:] == ["StartWorkflow:RagQuery", "StartActivity:Synthesize", "RunActivity:Synthesize", llm.name], (
        names
    )
    assert len({s.context.trace_id for s in chain}) == 1
    # The SDK's workflow spans hang from the client's StartWorkflow (they are made, zero-length,
    # as the workflow code reaches them, which keeps them replay-safe): RunWorkflow when the run
    # completes, and a StartActivity per step, local activities (ParseQuery, KeywordSearch,
    # Merge, VectorSearch here) as well, each with the worker's RunActivity span under it.
    start_workflow = only(found, "StartWorkflow:RagQuery")
    assert parent_of(only(found, "RunWorkflow:RagQuery"), found) is start_workflow
    for step in ("ParseQuery", "KeywordSearch", "VectorSearch", "Merge"):
        started = only(found, f"StartActivity:{step}")
        assert parent_of(started, found) is start_workflow
        assert parent_of(only(found, f"RunActivity:{step}"), found) is started

    assert sample(worker_metrics, "ragstate_queries_total", mode="llm", status="completed") == 1
    assert sample(worker_metrics, "ragstate_llm_tokens_total", direction="output") == 9
    # The answer's cost, totalled in micro-dollars by model (the fake answers as the model asked).
    assert sample(worker_metrics, "ragstate_llm_cost_microusd_total") > 0
    assert sample(worker_metrics, "ragstate_ingested_documents_total", outcome="indexed") == ingested.documents
    assert sample(worker_metrics, "ragstate_ingested_chunks_total") == ingested.chunks
    assert sample(worker_metrics, "ragstate_step_duration_count", step="Synthesize", status="ok") == 1
    assert sample(worker_metrics, "ragstate_retrieval_hits_count", branch="keyword") == 1
    assert sample(worker_metrics, "ragstate_embedding_batch_size_sum") == ingested.chunks
    assert sample(worker_metrics, "temporal_workflow_completed_total", workflow_type="RagQuery") == 1
    assert sample(gateway_metrics, "ragstate_gateway_requests_total", route="/v1/query", status="200") == 1


async def test_gateway_metrics_count_routes_not_paths_and_need_the_key():
    async with http(app_without_temporal(api_keys="k")) as gateway:
        assert (await gateway.get("/healthz")).status_code == 200
        assert (await gateway.get("/no/such/path", headers={"x-api-key": "k"})).status_code == 404
        assert (await gateway.get("/metrics")).status_code == 401
        text = (await gateway.get("/metrics", headers={"x-api-key": "k"})).text
    assert sample(text, "ragstate_gateway_requests_total", route="/healthz", status="200") == 1
    assert sample(text, "ragstate_gateway_requests_total", route="unmatched", status="404") == 1
    assert sample(text, "ragstate_gateway_requests_total", route="unmatched", status="401") == 1
    assert sample(text, "ragstate_gateway_request_duration_seconds_count", route="/healthz") == 1


#: Run in a fresh interpreter: what connect() and the workers get, optionally with the
#: OpenTelemetry and Prometheus packages made unimportable (a light worker without the extra).
PROBE = """
import asyncio, json, sys
if sys.argv[1] == "hide-extra":
    # The extra's packages; opentelemetry-api itself may be there (FastAPI and temporalio use it).
    HIDDEN = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.instrumentation", "prometheus_client")
    class Hide:
        def find_spec(self, name, path=None, target=None):
            if name.startswith(HIDDEN):
                raise ModuleNotFoundError(f"hidden: {name}")
    sys.meta_path.insert(0, Hide())
from ragstate.gateway import create_app
from ragstate.settings import Settings
from ragstate.observability.telemetry import configure_tracing, metrics_runtime, tracing_interceptors
import httpx
async def metrics_status():
    transport = httpx.ASGITransport(app=create_app(Settings(_env_file=None)))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as gateway:
        return (await gateway.get("/metrics")).status_code
print(json.dumps({"tracing": configure_tracing(), "interceptors": [type(i).__name__ for i in tracing_interceptors()],
                  "runtime": metrics_runtime(Settings(_env_file=None)) is not None,
                  "metrics_route": asyncio.run(metrics_status()) == 200}))
"""


@pytest.mark.parametrize(
    "extra,endpoint,expected",
    [
        ("installed", None, {"tracing": False, "interceptors": [], "metrics_route": True}),
        (
            "installed",
            "http://127.0.0.1:1",
            {"tracing": True, "interceptors": ["TracingInterceptor"], "metrics_route": True},
        ),
        ("hide-extra", "http://127.0.0.1:1", {"tracing": False, "interceptors": [], "metrics_route": False}),
    ],
)
def test_nothing_is_traced_or_served_unless_configured(extra, endpoint, expected):
    env = {k: v for k, v in clean_env().items() if not k.startswith("OTEL_")}
    if endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    out = subprocess.run([sys.executable, "-c", PROBE, extra], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == {**expected, "runtime": False}


async def test_workers_get_no_telemetry_interceptor_when_both_are_off(client: Client, settings: Settings):
    from ragstate.observability.telemetry import worker_interceptors

    # The session's client has the SDK's default runtime (no metrics); tracing may be on in this
    # process (the span fixture), so only the metrics half is asserted off here.
    interceptors = worker_interceptors(client, settings)
    assert all(i.steps is None for i in interceptors)


async def test_an_opentelemetry_plugin_replaces_ragstates_own_telemetry(settings: Settings, spans, monkeypatch):
    """The Cloud Run worker's ``--otel`` plugin brings its interceptor and runtime: connect() adds
    neither (each step would be traced twice)."""
    from temporalio.contrib.opentelemetry import OpenTelemetryPlugin

    import ragstate.temporal.connection

    calls = []
    monkeypatch.setattr(ragstate.temporal.connection, "tracing_interceptors", lambda: calls.append("tracing") or [])
    monkeypatch.setattr(ragstate.temporal.connection, "metrics_runtime", lambda s: calls.append("metrics"))
    await connect(settings, [OpenTelemetryPlugin()])
    assert calls == []
    await connect(settings)
    assert calls == ["tracing", "metrics"]
