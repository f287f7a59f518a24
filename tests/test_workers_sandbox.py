"""Every workflow runs in the workflow sandbox, with ragstate's shared modules passed through
and the workflow modules themselves imported afresh for each run."""

from __future__ import annotations

from temporalio import workflow
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from ragstate.settings import Settings
from ragstate.workers.registry import passthrough_modules, worker_specs
from ragstate.workflows import ALL_WORKFLOWS


def test_no_workflow_opts_out_of_the_sandbox():
    unsandboxed = [cls.__name__ for cls in ALL_WORKFLOWS if not workflow._Definition.must_from_class(cls).sandboxed]
    assert not unsandboxed


def test_the_workflow_worker_passes_shared_modules_through_but_not_the_workflows(settings: Settings):
    spec = worker_specs(settings, {"workflows"})[0]
    runner = spec.worker_config()["workflow_runner"]
    assert isinstance(runner, SandboxedWorkflowRunner)
    passed = runner.restrictions.passthrough_modules
    assert {"ragstate.models", "ragstate.contracts", "ragstate.settings"} <= passed
    # Passing a prefix passes everything under it: neither the package nor its workflows.
    assert not {"ragstate", "ragstate.workflows"} & passed
    assert all(name.startswith("ragstate.") for name in passthrough_modules())
