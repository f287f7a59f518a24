"""The AWS Lambda handlers, run in-process with a fake Lambda context against the real local
Temporal dev server: SQS-triggered ingestion (partial batch failures, duplicates join one
workflow), the Lambda worker (a versioned worker that serves an ingest and a query, Synthesize
on its companion LLM worker, and returns before the deadline), and the SAM template."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from deploy_files import sam_template
from entry_points import ACTIVITY, WORKFLOW, EntryPoint, lambda_handler_cases
from paths import EXAMPLES_CORPUS
from pydantic import SecretStr, ValidationError
from temporalio import activity
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client
from temporalio.common import VersioningBehavior
from temporalio.worker import Worker

from ragstate.activities import anthropic_llm
from ragstate.client import RagClient
from ragstate.models import AnswerMode, Branch, BranchResult, EmbedInput, EmbedResult, IngestResult, ParsedQuery
from ragstate.settings import Settings, WorkflowVersioning
from ragstate.temporal.conventions import ingest_workflow_id
from ragstate.testing import clean_env, settings_env
from ragstate.testing.probes import pollers
from ragstate.workers import aws_lambda, lambda_setup, sqs_ingest

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:ragstate-ingest"


class FakeLambdaContext:
    """The attributes and method of the Python runtime's context object."""

    def __init__(self, timeout_s: float, function_name: str = "ragstate-worker"):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = "1024"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "2026/01/01/[$LATEST]0123456789abcdef"
        self.identity = self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_record(body: str, message_id: str | None = None) -> dict:
    """One record as Lambda's SQS event source mapping delivers it."""
    now = str(int(time.time() * 1000))
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "AQEB" + uuid.uuid4().hex * 3,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": now,
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": now,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


async def _runs(client: Client, workflow_id: str, at_least: int = 1) -> list:
    """Runs with this id, from visibility (which may lag a moment behind the start)."""
    for _ in range(50):
        runs = [w async for w in client.list_workflows(f'WorkflowId = "{workflow_id}"')]
        if len(runs) >= at_least:
            return runs
        await asyncio.sleep(0.1)
    return runs


def handler_named(entry: EntryPoint) -> Callable:
    """The callable a Lambda handler string names, resolved as the Python runtime does."""
    module, attr = entry.name.rsplit(".", 1)
    return getattr(importlib.import_module(module), attr)


# --- SQS-triggered ingestion ---------------------------------------------------------------------


@pytest.fixture
def sqs_env(settings: Settings, monkeypatch):
    """The ingest function's environment for this test's server, queue and collection."""
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    sqs_ingest.reset()
    yield
    sqs_ingest.reset()


@pytest.mark.parametrize("entry", lambda_handler_cases("ragstate.workers.sqs_ingest.handler"), ids=str)
async def test_sqs_batch_reports_only_bad_records_and_duplicates_join(
    client: Client, settings: Settings, sqs_env, entry: EntryPoint
):
    path = str(EXAMPLES_CORPUS / "bm25.md")
    body = json.dumps({"paths": [path]})
    first, duplicate, bad = (str(uuid.uuid4()) for _ in range(3))
    event = {"Records": [sqs_record(body, first), sqs_record(body, duplicate), sqs_record("{not json", bad)]}

    handler = handler_named(entry)
    response = await asyncio.to_thread(handler, event, FakeLambdaContext(30, "ragstate-sqs-ingest"))

    assert response == {"batchItemFailures": [{"itemIdentifier": bad}]}
    workflow_id = ingest_workflow_id([path], settings.collection)
    runs = await _runs(client, workflow_id)
    assert len(runs) == 1 and runs[0].workflow_type == "Ingest"
    assert runs[0].task_queue == settings.workflow_task_queue

    # A warm invocation reuses the client; the same document delivered again joins the run.
    cached = sqs_ingest._client
    again = await asyncio.to_thread(handler, {"Records": [sqs_record(body)]}, FakeLambdaContext(30))
    assert again == {"batchItemFailures": []}
    assert sqs_ingest._client is cached
    # The id's latest run, from the server (not visibility, which may lag): still the first one.
    assert (await client.get_workflow_handle(workflow_id).describe()).run_id == runs[0].run_id
    assert [r.run_id for r in await _runs(client, workflow_id)] == [runs[0].run_id]
    await client.get_workflow_handle(workflow_id).terminate("test done")


async def test_sqs_unreachable_temporal_fails_every_startable_record(settings: Settings):
    good, skipped, bad = (str(uuid.uuid4()) for _ in range(3))
    event = {
        "Records": [
            sqs_record(json.dumps({"paths": ["/a.md"]}), good),
            sqs_record(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}), skipped),
            sqs_record("[1, 2]", bad),
        ]
    }
    response = await sqs_ingest.handle_event(event, None, settings)
    assert response == {"batchItemFailures": [{"itemIdentifier": good}, {"itemIdentifier": bad}]}


def _s3_event(key: str, event_name: str = "ObjectCreated:Put") -> dict:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": event_name,
                "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "docs"}, "object": {"key": key, "size": 12}},
            }
        ]
    }


@pytest.mark.parametrize(
    "body, paths",
    [
        ({"paths": ["/x/a.md", "/x/b.txt"], "collection": "c1"}, ["/x/a.md", "/x/b.txt"]),
        (_s3_event("guides/BM25+notes%282%29.md"), ["/mnt/documents/guides/BM25 notes(2).md"]),
        ({"Type": "Notification", "Message": json.dumps(_s3_event("a.md"))}, ["/mnt/documents/a.md"]),
        (
            {
                "source": "aws.s3",
                "detail-type": "Object Created",
                "detail": {"bucket": {"name": "docs"}, "object": {"key": "b.md"}},
            },
            ["/mnt/documents/b.md"],
        ),
        (_s3_event("a.md", "ObjectRemoved:Delete"), None),
        ({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "docs"}, None),
    ],
)
def test_sqs_body_shapes(settings: Settings, body: dict, paths: list[str] | None):
    request = sqs_ingest.parse_body(json.dumps(body), settings)
    assert (request.paths if request else None) == paths
    if request and "collection" in body:
        assert request.collection == body["collection"]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("{not json", "not JSON"),
        ("[1]", "not an object"),
        ('{"path": "/a.md"}', "unknown body"),
        ('{"paths": []}', "at least one"),
        ('{"paths": ["/a"], "batch_docs": 0}', "invalid ingest request"),
        ('{"paths": ["/a"], "carry": {}}', "continue-as-new"),
        (json.dumps({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {}}]}), "S3 event"),
    ],
)
def test_sqs_bad_bodies(settings: Settings, text: str, reason: str):
    with pytest.raises(sqs_ingest.RecordError, match=reason):
        sqs_ingest.parse_body(text, settings)


# --- the Lambda worker ----------------------------------------------------------------------------


@activity.defn(name="EmbedChunks")
async def fake_embed_chunks(inp: EmbedInput) -> EmbedResult:
    return EmbedResult(embedded=sum(d.chunks for d in inp.documents))


@activity.defn(name="VectorSearch")
async def fake_vector_search(q: ParsedQuery) -> BranchResult:
    return BranchResult(branch=Branch.vector, hits=[])


@pytest.mark.parametrize("entry", lambda_handler_cases("ragstate.workers.aws_lambda.handler"), ids=str)
async def test_lambda_worker_serves_ingest_and_query_within_one_invocation(
    client: Client, settings: Settings, tmp_path: Path, fake_anthropic, entry: EntryPoint
):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(EXAMPLES_CORPUS / "bm25.md", docs / "bm25.md")
    # Grace 2 s: polling stops 4 s before the deadline; an LLM call is bounded by the grace.
    deployment = f"ragstate-test-{uuid.uuid4().hex[:8]}"
    lambda_settings = settings.model_copy(
        update={
            "anthropic_api_key": SecretStr("sk-test"),
            "anthropic_base_url": fake_anthropic.url,
            "anthropic_timeout_s": 2.0,
            "worker_shutdown_grace_s": 2.0,
            "lambda_roles": tuple(sorted(entry.roles)),
            "deployment_name": deployment,
            "build_id": "build-1",
        }
    )
    handler = aws_lambda.build_handler(lambda_settings, environ={})

    # What a deploy does before any invocation (Serverless Workers: no poller yet).
    await client.workflow_service.set_worker_deployment_current_version(
        SetWorkerDeploymentCurrentVersionRequest(
            namespace=client.namespace,
            deployment_name=deployment,
            build_id="build-1",
            allow_no_pollers=True,
            identity="test",
        )
    )

    # The embedding model runs elsewhere (a long-lived worker); a stand-in here, unversioned.
    embeddings = Worker(
        client, task_queue=settings.embeddings_task_queue, activities=[fake_embed_chunks, fake_vector_search]
    )
    context = FakeLambdaContext(timeout_s=10)
    async with embeddings:
        started = time.monotonic()
        invocation = asyncio.create_task(asyncio.to_thread(handler, {}, context))
        try:
            # The ingest, started the way the SQS function starts it.
            path = str(docs / "bm25.md")
            assert await sqs_ingest.handle_event(
                {"Records": [sqs_record(json.dumps({"paths": [path]}))]}, client, settings
            ) == {"batchItemFailures": []}
            workflow_id = ingest_workflow_id([path], settings.collection)
            result = await asyncio.wait_for(
                client.get_workflow_handle(workflow_id, result_type=IngestResult).result(), 12
            )
            assert (result.documents, result.failed) == (1, 0), result.failures

            answer = await asyncio.wait_for(RagClient(client, settings).ask("What do k1 and b control in BM25?"), 8)
            assert answer.mode is AnswerMode.llm and not answer.degraded, answer
            assert answer.citations and answer.citations[0].title.startswith("BM25")
            assert len(fake_anthropic.requests) == 1  # Synthesize ran on the companion LLM worker

            # Both queues are polled by this invocation, under the contrib's Lambda identity.
            identity = f"{context.aws_request_id}@{context.invoked_function_arn}"
            assert identity in await pollers(client, settings.workflow_task_queue, WORKFLOW)
            assert identity in await pollers(client, settings.llm_task_queue, ACTIVITY)

            # The runs belong to the worker deployment version, auto-upgrade by default.
            info = (await client.get_workflow_handle(workflow_id).describe()).raw_description.workflow_execution_info
            assert info.versioning_info.deployment_version.deployment_name == deployment
            assert info.versioning_info.deployment_version.build_id == "build-1"
            assert info.versioning_info.behavior == VersioningBehavior.AUTO_UPGRADE.value
            served_s = time.monotonic() - started
        finally:
            await asyncio.wait_for(invocation, 25)
            left = context.get_remaining_time_in_millis()
        # It served the runs above while it polled, then drained and returned before the invocation's
        # deadline (Lambda would have killed it there). When it stops polling (grace + 2 s before the
        # deadline) is temporalio's lambda_worker and test_timing_rule's arithmetic, not measured
        # here: a wall-clock window flakes on a loaded machine.
        assert left > 0, (left, served_s)
        assert not anthropic_llm._clients  # closed inside the invocation's loop

        # A warm invocation (same process, a new event loop) answers too: nothing loop-bound
        # (the Anthropic SDK client) is carried over from the first one.
        warm = FakeLambdaContext(timeout_s=10)
        invocation = asyncio.create_task(asyncio.to_thread(handler, {}, warm))
        try:
            again = await asyncio.wait_for(RagClient(client, settings).ask("What does b control?"), 5)
            assert again.mode is AnswerMode.llm and not again.degraded, again
            assert len(fake_anthropic.requests) == 2
        finally:
            await asyncio.wait_for(invocation, 20)


def test_timing_rule(settings: Settings):
    s = settings.model_copy(update={"worker_shutdown_grace_s": 30.0, "anthropic_timeout_s": 100.0})
    assert aws_lambda.shutdown_grace(s, ["workflows"]).total_seconds() == 30
    assert aws_lambda.shutdown_grace(s, ["workflows", "llm"]).total_seconds() == 100
    aws_lambda.check_timing(s, ["workflows", "llm"], 302)  # 100 + 2 + 200
    with pytest.raises(ValueError, match="too short"):
        aws_lambda.check_timing(s, ["workflows", "llm"], 300)
    aws_lambda.check_timing(s, ["workflows"], 92)  # 30 + 2 + max(60, 60)


def test_lambda_options_from_environment(monkeypatch):
    for name in [n for n in os.environ if n.startswith("RAGSTATE_")] + ["AWS_LAMBDA_FUNCTION_VERSION"]:
        monkeypatch.delenv(name, raising=False)
    defaults = Settings(_env_file=None)
    assert (
        defaults.lambda_roles,
        defaults.deployment_name,
        defaults.build_id,
        defaults.versioning_behavior,
        defaults.lambda_timeout_s,
        defaults.lambda_otel,
    ) == (("workflows", "llm"), "ragstate", None, WorkflowVersioning.auto_upgrade, None, False)

    for name, value in {
        "RAGSTATE_LAMBDA_ROLES": " llm, workflows,llm ",
        "RAGSTATE_DEPLOYMENT_NAME": "rag",
        "RAGSTATE_BUILD_ID": "abc123",
        "RAGSTATE_VERSIONING_BEHAVIOR": "PINNED",
        "RAGSTATE_LAMBDA_TIMEOUT_S": "600",
        "RAGSTATE_LAMBDA_OTEL": "true",
    }.items():
        monkeypatch.setenv(name, value)
    s = Settings(_env_file=None)
    assert (
        s.lambda_roles,
        s.deployment_name,
        s.build_id,
        s.versioning_behavior,
        s.lambda_timeout_s,
        s.lambda_otel,
    ) == (("llm", "workflows"), "rag", "abc123", WorkflowVersioning.pinned, 600.0, True)
    assert aws_lambda.VERSIONING_BEHAVIORS[s.versioning_behavior] is VersioningBehavior.PINNED
    # A JSON array, as pydantic-settings (and bench/_stack.settings_env) write list settings, works too.
    monkeypatch.setenv("RAGSTATE_LAMBDA_ROLES", '["workflows"]')
    assert Settings(_env_file=None).lambda_roles == ("workflows",)
    assert aws_lambda.resolve_build_id(s, {"AWS_LAMBDA_FUNCTION_VERSION": "7"}) == "abc123"

    # Without RAGSTATE_BUILD_ID: the published function version, else the package version.
    unset = Settings(_env_file=None, build_id=None)
    assert aws_lambda.resolve_build_id(unset, {"AWS_LAMBDA_FUNCTION_VERSION": "7"}) == "lambda-7"
    assert aws_lambda.resolve_build_id(unset, {"AWS_LAMBDA_FUNCTION_VERSION": "$LATEST"}).startswith("ragstate-")

    # The timing rule is checked when the handler is built from these settings.
    with pytest.raises(ValueError, match="too short"):
        aws_lambda.build_handler(s.model_copy(update={"lambda_timeout_s": 60.0}), environ={})


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("RAGSTATE_VERSIONING_BEHAVIOR", "sticky", "versioning_behavior\n  Input should be 'auto-upgrade' or 'pinned'"),
        ("RAGSTATE_LAMBDA_ROLES", "workflows,embeddings", "embedding model needs a long-lived worker"),
        ("RAGSTATE_LAMBDA_ROLES", " , ", "serves one or both of \\['workflows', 'llm'\\]"),
        ("RAGSTATE_LAMBDA_TIMEOUT_S", "0", "lambda_timeout_s\n  Input should be greater than 0"),
        ("RAGSTATE_LAMBDA_OTEL", "maybe", "lambda_otel\n  Input should be a valid boolean"),
    ],
)
def test_invalid_lambda_options_name_the_choices(monkeypatch, name: str, value: str, message: str):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None)


def test_versioning_behavior_enum():
    assert WorkflowVersioning("Auto_Upgrade") is WorkflowVersioning.auto_upgrade
    with pytest.raises(
        ValueError,
        match=r"unknown versioning behavior 'sticky': "
        r"choose one of \['auto-upgrade', 'pinned'\]",
    ):
        WorkflowVersioning("sticky")


def test_secrets_from_environment():
    secrets = {"arn:anthropic": "sk-ant", "arn:temporal": json.dumps({"api_key": "tk"})}
    environ = {
        "RAGSTATE_ANTHROPIC_API_KEY_SECRET_ARN": "arn:anthropic",
        "RAGSTATE_TEMPORAL_API_KEY_SECRET_ARN": "arn:temporal",
        "RAGSTATE_QDRANT_API_KEY": "already set",
        "RAGSTATE_QDRANT_API_KEY_SECRET_ARN": "arn:qdrant",
    }
    filled = lambda_setup.load_secrets(
        environ,
        read=lambda arn: json.loads(secrets[arn]).get("api_key") if secrets[arn].startswith("{") else secrets[arn],
    )
    assert sorted(filled) == ["RAGSTATE_ANTHROPIC_API_KEY", "RAGSTATE_TEMPORAL_API_KEY", "TEMPORAL_API_KEY"]
    assert (environ["RAGSTATE_ANTHROPIC_API_KEY"], environ["TEMPORAL_API_KEY"]) == ("sk-ant", "tk")
    assert environ["RAGSTATE_QDRANT_API_KEY"] == "already set"


def test_connection_from_temporal_toml_or_settings(tmp_path: Path):
    toml = tmp_path / "temporal.toml"
    toml.write_text(
        '[profile.default]\naddress = "ns.acct.tmprl.cloud:7233"\nnamespace = "ns.acct"\n'
        '[profile.other]\naddress = "other:7233"\n'
    )
    environ = {"LAMBDA_TASK_ROOT": str(tmp_path)}
    cfg = lambda_setup.connect_config(Settings(_env_file=None), environ)
    assert (cfg["target_host"], cfg["namespace"]) == ("ns.acct.tmprl.cloud:7233", "ns.acct")
    assert cfg["data_converter"].payload_converter_class.__name__ == "PydanticPayloadConverter"
    assert (
        lambda_setup.connect_config(Settings(_env_file=None, temporal_profile="other"), environ)["target_host"]
        == "other:7233"
    )
    assert (
        lambda_setup.connect_config(Settings(_env_file=None, temporal_address="mine:7233"), environ)["target_host"]
        == "mine:7233"
    )
    assert lambda_setup.connect_config(Settings(_env_file=None), {})["target_host"] == "localhost:7233"


# --- the SAM template -----------------------------------------------------------------------------


def test_sam_template():
    template = sam_template()
    resources = template["Resources"]
    functions = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert {p["Handler"] for p in functions.values()} == {
        "ragstate.workers.aws_lambda.handler",
        "ragstate.workers.sqs_ingest.handler",
    }
    assert all("ReservedConcurrentExecutions" in p for p in functions.values())

    ingest = functions["IngestFunction"]
    (source,) = ingest["Events"].values()
    assert source["Type"] == "SQS" and source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]}
    # The mapping never outruns the function's reserved concurrency (throttled messages would
    # count receives and reach the DLQ).
    assert source["Properties"]["ScalingConfig"]["MaximumConcurrency"] == ingest["ReservedConcurrentExecutions"]
    redrive = resources["IngestQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == {"Ref": "IngestMaxReceiveCount"}
    assert resources["IngestQueue"]["Properties"]["VisibilityTimeout"] >= 6 * ingest["Timeout"]

    # Secrets are passed as ARNs and read at cold start, never as plain values.
    worker_env = functions["WorkerFunction"]["Environment"]["Variables"]
    assert "RAGSTATE_ANTHROPIC_API_KEY" not in worker_env and "RAGSTATE_ANTHROPIC_API_KEY_SECRET_ARN" in worker_env
    assert "RAGSTATE_TEMPORAL_API_KEY_SECRET_ARN" in template["Globals"]["Function"]["Environment"]["Variables"]

    # The default timeout, grace and Anthropic timeout satisfy the timing rule.
    params = {k: v.get("Default") for k, v in template["Parameters"].items()}
    s = Settings(
        _env_file=None,
        worker_shutdown_grace_s=params["WorkerShutdownGrace"],
        anthropic_timeout_s=params["AnthropicTimeout"],
    )
    aws_lambda.check_timing(s, worker_env["RAGSTATE_LAMBDA_ROLES"].split(","), params["WorkerTimeout"])


def test_handlers_import_without_torch(tmp_path: Path):
    """In a fresh interpreter, as Lambda loads them: both handler strings of the template
    resolve to callables (which builds the worker handler) and nothing imports torch."""
    handlers = sorted(
        {
            p["Properties"]["Handler"]
            for p in sam_template()["Resources"].values()
            if p["Type"] == "AWS::Serverless::Function"
        }
    )
    script = (
        "import importlib, json, sys\n"
        f"for h in {handlers!r}:\n"
        "    module, attr = h.rsplit('.', 1)\n"
        "    assert callable(getattr(importlib.import_module(module), attr)), h\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'workflows': 'ragstate.workflows.ingest' in sys.modules}))\n"
    )
    env = clean_env(RAGSTATE_BUILD_ID="test")
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"heavy": [], "workflows": True}


def test_the_lambda_worker_with_otel_counts_ragstate_metrics_and_traces_the_llm_call():
    """RAGSTATE_LAMBDA_OTEL: the ADOT runtime's meter carries ragstate's metrics too, and the
    LLM span is on (the global tracer provider apply_defaults installs), as on other workers.
    In a child process: apply_defaults sets the process's global tracer provider."""
    probe = """
from temporalio.contrib.aws.lambda_worker import LambdaWorkerConfig
from ragstate.observability.metrics import ObservingInterceptor
from ragstate.settings import Settings
from ragstate.workers import aws_lambda
aws_lambda._apply_otel(LambdaWorkerConfig())
[observing] = aws_lambda._observing(Settings(_env_file=None))
assert isinstance(observing, ObservingInterceptor)
assert observing.steps is not None and observing.trace_llm
print("observing")
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "observing", done.stderr
