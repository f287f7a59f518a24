"""What can be checked of the deployment here, without Docker or a cloud:

- deploy/docker-compose.yml and the Cloud Run manifests parse; every service built from
  deploy/Dockerfile names a target the Dockerfile has; every container command names a module
  under workers/ (or a `ragstate` subcommand) that exists and answers ``--help``;
- every RAGSTATE_* name in the deploy files and docs/deploy.md is a real Settings field;
- the light worker never imports torch; questions sharing forward passes; the LLM
  worker's flags;
- the Cloud Run entry point against the real local Temporal server: /healthz on $PORT, the
  identity from Cloud Run's variables, and on SIGTERM a drain that lets an in-flight LLM call
  finish before the process exits 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from temporalio import workflow
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from fake_anthropic import FakeAnthropic, ok
from ragstate.devserver import free_port
from ragstate.models import AnswerMode, Source, SynthesisInput, SynthesisResult
from ragstate.settings import Settings
from paths import ROOT

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
MANIFESTS = sorted((DEPLOY / "cloudrun").glob("*.yaml"))
DOCS = ROOT / "docs" / "deploy.md"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def manifests() -> list[dict]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifest_containers() -> list[dict]:
    return [c for m in manifests() for c in m["spec"]["template"]["spec"]["containers"]]


def dockerfile_targets() -> set[str]:
    return set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", DOCKERFILE.read_text(), re.M | re.I))


def dockerfile_cmds() -> list[list[str]]:
    return [json.loads(m) for m in re.findall(r"^CMD\s+(\[.*\])\s*$", DOCKERFILE.read_text(), re.M)]


def as_list(value) -> list[str]:
    if value is None:
        return []
    return value.split() if isinstance(value, str) else [str(v) for v in value]


def container_commands() -> list[list[str]]:
    """Every command line a container of ours runs: compose services built from the Dockerfile
    (entrypoint + command), the Dockerfile's CMDs, the Cloud Run containers (command + args)."""
    commands = [cmd for cmd in dockerfile_cmds()]
    for svc in compose()["services"].values():
        if "build" in svc:
            commands.append(as_list(svc.get("entrypoint")) + as_list(svc.get("command")))
    commands += [as_list(c.get("command")) + as_list(c.get("args")) for c in manifest_containers()]
    return commands


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RAGSTATE_") and k not in ("K_SERVICE", "K_REVISION", "CLOUD_RUN_WORKER_POOL", "PORT")}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


# ---------------------------------------------------------------------------------------------
# The files
# ---------------------------------------------------------------------------------------------


def test_compose_and_manifests_parse():
    services = compose()["services"]
    for name in ("postgresql", "temporal", "temporal-ui", "register-search-attributes", "qdrant",
                 "worker-light", "worker-embeddings", "worker-llm"):
        assert name in services, name
    assert services["register-search-attributes"]["command"] == ["ragstate", "register-search-attributes"]
    for name in ("worker-light", "worker-embeddings", "worker-llm"):
        env = services[name]["environment"]
        assert env["RAGSTATE_STORE_BACKEND"] == "qdrant"
        assert env["RAGSTATE_QDRANT_URL"] == "http://qdrant:6333"
        assert env["RAGSTATE_TEMPORAL_ADDRESS"] == "temporal:7233"

    docs = manifests()
    assert {(d["apiVersion"], d["kind"]) for d in docs} >= {("serving.knative.dev/v1", "Service"),
                                                          ("run.googleapis.com/v1", "WorkerPool")}
    for doc in docs:
        for c in doc["spec"]["template"]["spec"]["containers"]:
            env = {e["name"]: e for e in c["env"]}
            # Keys come from Secret Manager, never as literal values.
            for name, e in env.items():
                if name.endswith("_API_KEY"):
                    assert "value" not in e and e["valueFrom"]["secretKeyRef"]["name"], name
            # A drain must fit in Cloud Run's 10 s between SIGTERM and SIGKILL.
            assert float(env["RAGSTATE_WORKER_SHUTDOWN_GRACE_S"]["value"]) < 10
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "ragstate-worker")
    annotations = service["spec"]["template"]["metadata"]["annotations"]
    assert annotations["run.googleapis.com/cpu-throttling"] == "false"
    assert "autoscaling.knative.dev/minScale" in annotations
    (container,) = service["spec"]["template"]["spec"]["containers"]
    assert "--service" in container["args"]
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    # The request-driven HTTP gateway scales to zero.
    gateway = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "ragstate-gateway")
    assert gateway["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/minScale"] == "0"
    assert container["ports"][0]["containerPort"] == 8080


def test_every_build_names_a_dockerfile_target():
    targets = dockerfile_targets()
    assert {"light", "embeddings-cpu", "embeddings-cuda", "gateway"} <= targets
    built = {name: svc["build"] for name, svc in compose()["services"].items() if "build" in svc}
    assert built
    for name, build in built.items():
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE, name
        assert build["target"] in targets, f"{name}: no target {build['target']!r} in deploy/Dockerfile"
    # The light image never installs the embeddings extra (no torch in it).
    light = DOCKERFILE.read_text().split("AS light", 1)[1].split("\nFROM ", 1)[0]
    assert "embeddings]" not in light and "torch" not in light
    assert DOCKERFILE.read_text().count("USER ragstate") == len(targets - {"source", "base"})  # all non-root
    assert "HF_HUB_OFFLINE=1" in DOCKERFILE.read_text()


def test_every_container_command_names_a_real_entry_point():
    from typer.testing import CliRunner

    from ragstate.cli import app

    commands = container_commands()
    modules = sorted({cmd[cmd.index("-m") + 1] for cmd in commands if "-m" in cmd})
    assert {"ragstate.workers.light", "ragstate.workers.embeddings", "ragstate.workers.llm", "ragstate.workers.cloud_run",
            "ragstate.gateway"} <= set(modules)
    for module in modules:
        assert module.startswith("workers.") or module == "ragstate.gateway", module
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), module
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, env=subprocess_env(),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (module, done.stderr[-2000:])
        assert "usage:" in done.stdout and time.monotonic() - started < 30, module
    # Flags given in the files are flags the entry points accept.
    for cmd in commands:
        if "-m" in cmd:
            module, argv = cmd[cmd.index("-m") + 1], cmd[cmd.index("-m") + 2:]
            __import__(module)
            sys.modules[module].parser().parse_args(argv)
    for cmd in commands:
        if cmd and cmd[0] == "ragstate":
            sub = cmd[1] if len(cmd) > 1 else "--help"
            result = CliRunner().invoke(app, [sub, "--help"])
            assert result.exit_code == 0, (cmd, result.output)


def test_ragstate_env_names_are_settings_fields():
    texts = {p: p.read_text() for p in [COMPOSE, DOCKERFILE, *MANIFESTS, DOCS] if p.exists()}
    assert DOCS in texts, "docs/deploy.md is missing"
    from ragstate.gateway import GatewaySettings

    fields = {f"RAGSTATE_{f.upper()}" for f in Settings.model_fields}
    fields |= {f"RAGSTATE_GATEWAY_{f.upper()}" for f in GatewaySettings.model_fields}
    seen = set()
    for path, text in texts.items():
        for name in re.findall(r"\bRAGSTATE_[A-Z0-9_]+", text):
            if name.endswith("_"):  # a prefix in prose (RAGSTATE_TEMPORAL_...)
                continue
            seen.add(name)
            assert name in fields, f"{path.relative_to(ROOT)}: {name} is not a setting"
    assert {"RAGSTATE_STORE_BACKEND", "RAGSTATE_QDRANT_URL", "RAGSTATE_TEMPORAL_ADDRESS"} <= seen


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def test_light_worker_never_imports_torch(temporal_address: str):
    code = (
        "import asyncio, json, sys\n"
        "import ragstate.workers.light, ragstate.workers.embeddings, ragstate.workers.llm, ragstate.workers.cloud_run\n"
        "from ragstate.settings import Settings\n"
        "from ragstate.temporal import connect\n"
        "from ragstate.workers.runtime import build_workers\n"
        "async def main():\n"
        "    s = Settings(temporal_address=sys.argv[1], _env_file=None)\n"
        "    built = build_workers(await connect(s), s, ragstate.workers.light.LIGHT_ROLES)\n"
        "    print(json.dumps({'workers': len(built), 'heavy': ragstate.workers.light.heavy_modules_loaded(),\n"
        "                      'torch': 'torch' in sys.modules}))\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", code, temporal_address], cwd=ROOT, env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"workers": 2, "heavy": [], "torch": False}


def test_llm_worker_flags_override_settings(client: Client, monkeypatch):
    from ragstate.workers.llm import parser, settings_from_args
    from ragstate.workers.runtime import build_workers

    monkeypatch.setenv("RAGSTATE_LLM_MAX_CONCURRENT", "3")
    monkeypatch.setenv("RAGSTATE_LLM_QUEUE_RATE_PER_S", "5")
    assert (settings_from_args(parser().parse_args([])).llm_max_concurrent,
            settings_from_args(parser().parse_args([])).llm_queue_rate_per_s) == (3, 5.0)
    s = settings_from_args(parser().parse_args(["--max-concurrent", "2", "--rate-per-s", "0.5"]))
    assert (s.llm_max_concurrent, s.llm_queue_rate_per_s) == (2, 0.5)
    (worker,) = build_workers(client, s, ["llm"])
    config = worker.config()
    assert (config["max_concurrent_activities"], config["max_task_queue_activities_per_second"]) == (2, 0.5)
    assert config["graceful_shutdown_timeout"] == timedelta(seconds=s.worker_shutdown_grace_s)
    with pytest.raises(SystemExit):
        parser().parse_args(["--max-concurrent", "0"])


# ---------------------------------------------------------------------------------------------
# Questions share forward passes (Embedder.encode_query)
# ---------------------------------------------------------------------------------------------


class SlowModel:
    """A stand-in model: one vector per text, each pass takes a while, passes recorded."""

    def __init__(self, pass_s: float = 0.05, fail_on: str | None = None):
        self.pass_s, self.fail_on = pass_s, fail_on
        self.passes: list[list[str]] = []
        self.lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int = 64, **options):
        import numpy as np

        with self.lock:
            self.passes.append(list(texts))
            time.sleep(self.pass_s)
        if self.fail_on in texts:
            raise RuntimeError("model failed")
        return np.array([[float(len(t)), float(sum(map(ord, t)))] + [0.0] * 382 for t in texts])


def test_concurrent_questions_share_forward_passes_and_keep_each_answer():
    from ragstate.embedding import Embedder

    model = SlowModel()
    embedder = Embedder(model=model, max_query_batch=4)
    texts = [f"question number {i}" * (i + 1) for i in range(10)]
    results: dict[str, list[float]] = {}

    def ask(t: str) -> None:
        results[t] = embedder.encode_query(t)

    threads = [threading.Thread(target=ask, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert {t: v[:2] for t, v in results.items()} == {t: [float(len(t)), float(sum(map(ord, t)))] for t in texts}
    assert len(model.passes) < len(texts)                     # shared passes
    assert max(len(p) for p in model.passes) <= 4             # never above max_query_batch
    assert sorted(x for p in model.passes for x in p) == sorted(texts)  # each text encoded once
    assert list(embedder.query_batch_sizes) == [len(p) for p in model.passes]


def test_a_lone_question_waits_for_nothing_and_errors_reach_the_caller():
    from ragstate.embedding import Embedder

    model = SlowModel(pass_s=0.0, fail_on="boom")
    embedder = Embedder(model=model)
    started = time.perf_counter()
    assert embedder.encode_query("alone")[:1] == [5.0]
    assert time.perf_counter() - started < 0.5
    with pytest.raises(RuntimeError, match="model failed"):
        embedder.encode_query("boom")
    assert embedder.encode_query("after")[:1] == [5.0]  # the encode thread survived the error
    with pytest.raises(ValueError, match="max_query_batch"):
        Embedder(model=model, max_query_batch=0)


@pytest.mark.parametrize("preset, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_embedding_module_stops_openmp_spinning_unless_told_otherwise(preset, expected):
    # Checked in a fresh interpreter: the policy only works if set before torch loads OpenMP.
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = "import os, sys, ragstate.embedding; print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=60, check=True).stdout.split()
    assert out == [expected, "False"]  # and importing the module did not load torch yet


class OneHotModel:
    """A stand-in model: each known text is a unit vector along its own axis."""

    def __init__(self, axes: dict[str, int]):
        self.axes = axes
        self.passes: list[list[str]] = []

    def encode(self, texts: list[str], batch_size: int = 64, **options):
        import numpy as np

        self.passes.append(list(texts))
        out = np.zeros((len(texts), 384))
        for row, text in enumerate(texts):
            out[row, self.axes[text]] = 1.0
        return out


def test_a_question_of_several_sentences_searches_the_mean_of_its_sentences():
    from ragstate.embedding import Embedder

    question = "What is BM25? How are k1 and b tuned?"
    model = OneHotModel({question: 0, "What is BM25?": 1, "How are k1 and b tuned?": 2, "Just one.": 3})
    embedder = Embedder(model=model)
    vector = embedder.encode_query(question, by_sentence=True)
    assert model.passes == [["What is BM25?", "How are k1 and b tuned?"]]  # both sentences, one pass
    assert vector[:4] == pytest.approx([0.0, 2 ** -0.5, 2 ** -0.5, 0.0])  # their mean, unit length
    assert embedder.encode_query(question)[:3] == [1.0, 0.0, 0.0] and model.passes[-1] == [question]
    # A one-sentence question is encoded as it is.
    assert embedder.encode_query("Just one.", by_sentence=True)[:4] == [0.0, 0.0, 0.0, 1.0]
    assert model.passes[-1] == ["Just one."]


def test_query_encoding_names_the_choices():
    from ragstate.settings import QueryEncoding

    assert Settings(query_encoding="whole", _env_file=None).query_encoding is QueryEncoding.whole
    assert Settings(_env_file=None).query_encoding is QueryEncoding.sentences
    with pytest.raises(ValueError, match="choose one of \\['sentences', 'whole'\\]"):
        QueryEncoding("tokens")


@pytest.mark.parametrize("encoding, expected_pass", [
    ("sentences", ["What is BM25?", "How is it tuned?"]),
    ("whole", ["What is BM25? How is it tuned?"]),
])
def test_vector_search_encodes_the_question_as_configured(tmp_path, monkeypatch, encoding, expected_pass):
    from ragstate.activities.embeddings import EmbeddingActivities
    from ragstate.activities.query_parsing import build_routing
    from ragstate import embedding
    from ragstate.models import ParsedQuery
    from ragstate.store import close_stores

    settings = Settings(data_dir=tmp_path / "data", collection="encoding", query_encoding=encoding, _env_file=None)
    model = SlowModel(pass_s=0.0)
    monkeypatch.setattr(embedding, "_embedders", {settings.embedding_device: embedding.Embedder(model=model)})
    question = "What is BM25? How is it tuned?"
    query = ParsedQuery(question=question, top_k=3, depth=5, terms=["bm25"], collection="encoding",
                        routing=build_routing(settings))
    try:
        EmbeddingActivities(settings).vector_search(query)
    finally:
        close_stores()
    assert model.passes == [expected_pass]


def test_vector_search_encodes_through_the_query_path(tmp_path, monkeypatch):
    from ragstate.activities.embeddings import EmbeddingActivities
    from ragstate.activities.query_parsing import build_routing
    from ragstate import embedding
    from ragstate.models import Branch, ParsedQuery
    from ragstate.store import close_stores

    settings = Settings(data_dir=tmp_path / "data", collection="batched", _env_file=None)
    model = SlowModel(pass_s=0.0)
    embedder = embedding.Embedder(model=model)
    monkeypatch.setattr(embedding, "_embedders", {settings.embedding_device: embedder})
    acts = EmbeddingActivities(settings)
    query = ParsedQuery(question="what is bm25?", top_k=3, depth=5, terms=["bm25"], collection="batched",
                        routing=build_routing(settings))
    try:
        result = acts.vector_search(query)
    finally:
        close_stores()
    assert result.branch is Branch.vector and result.hits == []
    assert model.passes == [["what is bm25?"]] and list(embedder.query_batch_sizes) == [1]
    # Several texts (EmbedChunks) go to the model in one call.
    assert len(acts.embedder.encode(["a", "b"], batch_size=2)) == 2 and model.passes[-1] == ["a", "b"]


# ---------------------------------------------------------------------------------------------
# Cloud Run entry point against the real Temporal server
# ---------------------------------------------------------------------------------------------

KEY = "sk-ant-test-deploy"
SOURCES = [Source(number=1, chunk_id="c1", doc_id="d1", title="BM25", source="bm25.md",
                  text="BM25 ranks documents by term frequency and inverse document frequency.", score=0.9)]


@workflow.defn(name="DrainProbe")
class DrainProbeWorkflow:
    """Calls only Synthesize, once: a call cut off by the drain would fail the workflow."""

    @workflow.run
    async def run(self, inp: SynthesisInput, llm_task_queue: str) -> SynthesisResult:
        return await workflow.execute_activity(
            "Synthesize", inp, result_type=SynthesisResult, task_queue=llm_task_queue,
            start_to_close_timeout=timedelta(seconds=60), retry_policy=RetryPolicy(maximum_attempts=1))


def healthz(port: int) -> tuple[int, dict] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return None


async def wait_for(predicate, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


async def pollers(client: Client, queue: str, kind: TaskQueueType.ValueType) -> list[str]:
    resp = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind))
    return [p.identity for p in resp.pollers]


def cloud_run_env(settings: Settings, tmp_path: Path, **extra: str) -> dict[str, str]:
    return subprocess_env(
        RAGSTATE_TEMPORAL_ADDRESS=settings.temporal_address, RAGSTATE_DATA_DIR=str(tmp_path / "worker-data"),
        RAGSTATE_COLLECTION=settings.collection, RAGSTATE_WORKFLOW_TASK_QUEUE=settings.workflow_task_queue,
        RAGSTATE_EMBEDDINGS_TASK_QUEUE=settings.embeddings_task_queue, RAGSTATE_LLM_TASK_QUEUE=settings.llm_task_queue,
        **extra)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


async def test_cloud_run_service_health_and_drain_on_sigterm(client: Client, settings: Settings, tmp_path: Path,
                                                             fake_anthropic: FakeAnthropic):
    port = free_port()
    fake_anthropic.plan(ok("BM25 weighs terms [1].", delay_s=3.0))
    env = cloud_run_env(settings, tmp_path, PORT=str(port), K_SERVICE="ragstate-test", K_REVISION="ragstate-test-00007",
                        RAGSTATE_ANTHROPIC_API_KEY=KEY, RAGSTATE_ANTHROPIC_BASE_URL=fake_anthropic.url,
                        RAGSTATE_ANTHROPIC_MODEL="claude-test-model", RAGSTATE_ANTHROPIC_STREAM="false",
                        RAGSTATE_WORKER_SHUTDOWN_GRACE_S="10")
    proc = subprocess.Popen([sys.executable, "-m", "ragstate.workers.cloud_run", "--service", "--roles", "llm"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        status, body = await wait_for(lambda: (h := healthz(port)) and h[0] == 200 and h, 30, "/healthz 200")
        assert body["status"] == "running" and body["roles"] == ["llm"]
        # Identity from Cloud Run's variables (the metadata server is out of reach here).
        assert body["identity"].endswith("@ragstate-test-00007")
        assert body["identity"] in await pollers(client, settings.llm_task_queue,
                                                 TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)

        async with Worker(client, task_queue=settings.workflow_task_queue, workflows=[DrainProbeWorkflow],
                          workflow_runner=UnsandboxedWorkflowRunner()):
            handle = await client.start_workflow(
                DrainProbeWorkflow.run, args=[SynthesisInput(question="What is BM25?", sources=SOURCES),
                                              settings.llm_task_queue],
                id=f"drain-probe-{uuid.uuid4().hex}", task_queue=settings.workflow_task_queue,
                execution_timeout=timedelta(seconds=60))
            await wait_for(lambda: len(fake_anthropic.requests) >= 1, 20, "the LLM call to start")
            proc.send_signal(signal.SIGTERM)
            # Draining: the health endpoint says so while the in-flight call finishes.
            status, body = await wait_for(lambda: (h := healthz(port)) and h[0] == 503 and h, 3, "/healthz 503")
            assert body["status"] == "draining"
            assert await asyncio.to_thread(proc.wait, 20) == 0
            result = await asyncio.wait_for(handle.result(), 20)
        assert result.mode is AnswerMode.llm and result.answer == "BM25 weighs terms [1]."
        assert len(fake_anthropic.requests) == 1  # finished during the drain, not retried
        assert healthz(port) is None  # the endpoint is gone with the process
    finally:
        stop(proc)
        output = proc.stdout.read() if proc.stdout else ""
    assert "draining" in output and "Traceback" not in output, output[-3000:]


async def test_cloud_run_worker_pool_polls_and_exits_0_on_sigterm(client: Client, settings: Settings,
                                                                  tmp_path: Path):
    env = cloud_run_env(settings, tmp_path, CLOUD_RUN_WORKER_POOL="ragstate-pool", CLOUD_RUN_REVISION="ragstate-pool-001")
    proc = subprocess.Popen([sys.executable, "-m", "ragstate.workers.cloud_run", "--roles", "workflows"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        async def polling():
            return await pollers(client, settings.workflow_task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)

        deadline = time.monotonic() + 30
        while not (identities := await polling()) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            await asyncio.sleep(0.2)
        assert identities and all(i.endswith("@ragstate-pool-001") for i in identities), identities
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.to_thread(proc.wait, 20)
        output = proc.stdout.read()
        assert rc == 0, output[-3000:]
        assert "Traceback" not in output, output[-3000:]
    finally:
        stop(proc)
