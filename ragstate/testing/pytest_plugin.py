"""Fixtures of :mod:`ragstate.testing` for pytest. Enable them in a ``conftest.py``::

    pytest_plugins = ["ragstate.testing.pytest_plugin"]

- ``fake_anthropic``: a started :class:`~ragstate.testing.FakeAnthropic` for one test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ragstate.testing.anthropic import FakeAnthropic


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """A started :class:`FakeAnthropic` for one test, stopped after it."""
    with FakeAnthropic() as server:
        yield server
