"""Helpers for testing applications built on ragstate (like :mod:`temporalio.testing`): real
servers and real processes, configured the way production configures them.

- :func:`start_dev_environment`: a local Temporal dev server with ragstate's search attributes
  and data converter; :class:`RestartableServer`: one a test kills (SIGKILL) and starts again
  on the same database and ports.
- :class:`FakeAnthropic`: a local server speaking the Anthropic Messages API (and Message
  Batches), scripted with :func:`ok`, :func:`error`, :func:`stream_error`, :func:`drop`,
  :func:`cut`, :func:`max_tokens` and :func:`refusal`; every request recorded.
- :func:`isolated_settings`: :class:`~ragstate.settings.Settings` with a private data directory,
  collection and task queues.
- :func:`settings_env`, :func:`process_env`, :func:`worker_env`, :func:`clean_env`: the
  environment of a started worker, CLI or gateway (``RAGSTATE_*`` from a Settings, nothing of
  the caller's own configuration); :func:`run_cli` runs ``ragstate ...`` with it, and
  :func:`run_cli_in_process` runs it in the caller's process where the process is not the point.
- :mod:`ragstate.testing.pytest_plugin`: the same as pytest fixtures.

Usage::

    from ragstate.testing import FakeAnthropic, isolated_settings, ok, run_cli

    with FakeAnthropic() as api:
        api.plan(ok("BM25 ranks by term frequency [1]."))
        settings = isolated_settings(tmp_path, "127.0.0.1:7233", anthropic_base_url=api.url)
        code, out = await run_cli(settings, "ask", "What is BM25?")

``pytest`` is needed only by the plugin; nothing here is imported by ragstate itself.
"""

# The fake Messages API: FakeAnthropic, Planned, RecordedRequest, ok, error, stream_error, ...
from ragstate.testing.anthropic import *  # noqa: F403
from ragstate.testing.anthropic import __all__ as _fake_anthropic
from ragstate.testing.cli import RAGSTATE, run_cli, run_cli_in_process
from ragstate.testing.environment import clean_env, process_env, settings_env, worker_env
from ragstate.testing.isolated import isolated_settings
from ragstate.testing.servers import RestartableServer, start_dev_environment

__all__ = [
    *_fake_anthropic,
    "RAGSTATE",
    "RestartableServer",
    "clean_env",
    "isolated_settings",
    "process_env",
    "run_cli",
    "run_cli_in_process",
    "settings_env",
    "start_dev_environment",
    "worker_env",
]
