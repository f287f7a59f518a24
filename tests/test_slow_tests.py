"""tests/slow_tests.py names real tests: a renamed or removed test would otherwise slip back
into `make check` (renamed) or leave a dead name behind (removed)."""

from __future__ import annotations

import importlib
import inspect

import pytest
from slow_tests import SLOW


def test_every_slow_name_is_a_test_of_its_module():
    missing = []
    for module_file, names in SLOW.items():
        module = importlib.import_module(module_file.removesuffix(".py"))
        missing += [f"{module_file}::{n}" for n in names if not inspect.isfunction(getattr(module, n, None))]
    assert not missing, f"tests/slow_tests.py names tests that do not exist: {missing}"


def test_the_list_is_a_registered_plugin_with_its_marker(request: pytest.FixtureRequest):
    """Else `-m "not slow"` would deselect nothing and warn of an unknown mark."""
    assert request.config.pluginmanager.has_plugin("slow_tests")
    assert any(line.startswith("slow:") for line in request.config.getini("markers"))
