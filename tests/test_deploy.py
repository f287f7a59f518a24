"""What can be checked of the deployment files here, without Docker or a cloud:

- deploy/docker-compose.yml, the Cloud Run manifests and the SAM template parse; every service
  built from deploy/Dockerfile names a target the Dockerfile has;
- every command a container runs names an installed entry point that answers ``--help`` and
  takes the flags given, and every (entry point, role set) that deploy/ starts (Dockerfile CMDs,
  compose commands, Cloud Run command + args, SAM handlers) is a case of the entry-point tests
  (``test_workers.ENTRY_POINTS``);
- every RAGSTATE_* name in the deploy files and docs/deploy.md is a real Settings field.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import yaml  # the dev extra has pyyaml: a missing one must fail, not skip
from deploy_files import sam_template
from entry_points import ENTRY_POINTS, EntryPoint
from paths import ROOT

from ragstate.settings import Settings
from ragstate.testing import clean_env

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


def test_compose_and_manifests_parse():
    services = compose()["services"]
    for name in (
        "postgresql",
        "temporal",
        "temporal-ui",
        "register-search-attributes",
        "qdrant",
        "worker-light",
        "worker-embeddings",
        "worker-llm",
    ):
        assert name in services, name
    assert services["register-search-attributes"]["command"] == ["ragstate", "register-search-attributes"]
    for name in ("worker-light", "worker-embeddings", "worker-llm"):
        env = services[name]["environment"]
        assert env["RAGSTATE_STORE_BACKEND"] == "qdrant"
        assert env["RAGSTATE_QDRANT_URL"] == "http://qdrant:6333"
        assert env["RAGSTATE_TEMPORAL_ADDRESS"] == "temporal:7233"

    docs = manifests()
    assert {(d["apiVersion"], d["kind"]) for d in docs} >= {
        ("serving.knative.dev/v1", "Service"),
        ("run.googleapis.com/v1", "WorkerPool"),
    }
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


#: ``ragstate`` commands that run once and exit (jobs, tools), not long-running entry points.
ONE_SHOT_COMMANDS = {"register-search-attributes", "status", "ingest", "ask"}


def sam_handlers() -> list[tuple[str, dict[str, str]]]:
    """Each Lambda function's handler string and environment (its own over the Globals')."""
    template = sam_template()
    shared = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    return [
        (r["Properties"]["Handler"], {**shared, **r["Properties"].get("Environment", {}).get("Variables", {})})
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    ]


def _roles_of_module(module: str, argv: list[str]) -> tuple[str, list[str]]:
    """(entry point name, roles) of ``python -m module *argv``, read with the module's own parser."""
    args = importlib.import_module(module).parser().parse_args(argv)
    if module == "ragstate.workers.embeddings":
        from ragstate.workers.embeddings import QUEUE_ROLES

        return module, QUEUE_ROLES[args.queue]
    if module == "ragstate.workers.llm":
        return module, ["llm"]
    if module == "ragstate.workers.cloud_run" and args.service:
        return f"{module} --service", args.roles
    return module, list(getattr(args, "roles", []))


def _roles_of_command(argv: list[str]) -> tuple[str, list[str]]:
    """(entry point name, roles) of ``ragstate *argv`` (``worker`` and ``serve``)."""
    name = f"ragstate {argv[0]}"
    if argv[0] != "worker":
        return name, []
    from ragstate.workers.registry import ROLES

    roles = argv[argv.index("--roles") + 1] if "--roles" in argv else ",".join(ROLES)
    return name, [r.strip() for r in roles.split(",") if r.strip()]


def deployed_entry_points() -> Iterator[tuple[str, tuple[str, frozenset[str]]]]:
    """(where, (entry point, role set)) for everything deploy/ starts that runs until stopped."""
    for cmd in container_commands():
        if "-m" in cmd:
            name, roles = _roles_of_module(cmd[cmd.index("-m") + 1], cmd[cmd.index("-m") + 2 :])
        elif cmd[:1] == ["ragstate"] and cmd[1:2] and cmd[1] not in ONE_SHOT_COMMANDS:
            name, roles = _roles_of_command(cmd[1:])
        else:
            continue
        yield " ".join(cmd), (name, frozenset(roles))
    for handler, env in sam_handlers():
        roles = (
            Settings(_env_file=None, lambda_roles=env["RAGSTATE_LAMBDA_ROLES"]).lambda_roles
            if handler == "ragstate.workers.aws_lambda.handler"
            else ()
        )
        yield f"Handler {handler}", (handler, frozenset(roles))


def uncovered(deployed: dict[str, tuple[str, frozenset[str]]], table: list[EntryPoint]) -> dict[str, str]:
    """Where deploy/ starts a case that no entry-point test starts: {where: "name [roles]"}."""
    covered = {e.key for e in table}
    return {
        where: f"{name} [{','.join(sorted(roles))}]"
        for where, (name, roles) in deployed.items()
        if (name, roles) not in covered
    }


def test_every_deployed_entry_point_and_role_set_is_started_by_a_test():
    deployed = dict(deployed_entry_points())
    missing = uncovered(deployed, ENTRY_POINTS)
    assert not missing, f"deploy/ starts cases no test starts (add them to test_workers.ENTRY_POINTS): {missing}"
    # Every shape deploy/ uses, at least: the table is not checked against an empty list.
    assert {name for name, _ in deployed.values()} >= {
        "ragstate.workers.light",
        "ragstate.workers.embeddings",
        "ragstate.workers.llm",
        "ragstate.workers.cloud_run",
        "ragstate.workers.cloud_run --service",
        "ragstate.gateway",
        "ragstate.workers.aws_lambda.handler",
        "ragstate.workers.sqs_ingest.handler",
    }


def test_a_new_role_set_or_entry_point_in_deploy_is_reported():
    deployed = {
        "light --roles llm": _roles_of_module("ragstate.workers.light", ["--roles", "llm"]),
        "cloud_run --service --roles embeddings": _roles_of_module(
            "ragstate.workers.cloud_run", ["--service", "--roles", "embeddings"]
        ),
        "ragstate worker --roles embeddings": _roles_of_command(["worker", "--roles", "embeddings"]),
        "light --roles workflows": _roles_of_module("ragstate.workers.light", ["--roles", "workflows"]),
    }
    deployed = {where: (name, frozenset(roles)) for where, (name, roles) in deployed.items()}
    assert uncovered(deployed, ENTRY_POINTS) == {
        "light --roles llm": "ragstate.workers.light [llm]",
        "cloud_run --service --roles embeddings": "ragstate.workers.cloud_run --service [embeddings]",
        "ragstate worker --roles embeddings": "ragstate worker [embeddings]",
    }


def test_every_container_command_names_a_real_entry_point(tmp_path: Path):
    from typer.testing import CliRunner

    from ragstate.cli import app

    commands = container_commands()
    modules = sorted({cmd[cmd.index("-m") + 1] for cmd in commands if "-m" in cmd})
    for module in modules:
        assert module.startswith("ragstate."), f"{module}: deploy files name modules as ragstate.X"
        spec = importlib.util.find_spec(module)
        assert spec is not None, f"{module} is not installed"
        if spec.submodule_search_locations is not None:  # a package runs as its __main__
            assert importlib.util.find_spec(f"{module}.__main__") is not None, module
        # No clock bound on the start (bench/cold_start.py measures the import cost): it flakes on a loaded machine.
        done = subprocess.run(
            [sys.executable, "-m", module, "--help"],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, (module, done.stderr[-2000:])
        assert "usage:" in done.stdout, module
    for cmd in commands:
        if cmd and cmd[0] == "ragstate":
            assert cmd[1] in ONE_SHOT_COMMANDS or cmd[1] in ("worker", "serve"), cmd
            result = CliRunner().invoke(app, [cmd[1], "--help"])
            assert result.exit_code == 0, (cmd, result.output)
    for handler, _ in sam_handlers():
        assert importlib.util.find_spec(handler.rsplit(".", 1)[0]) is not None, handler


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
