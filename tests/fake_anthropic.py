"""Moved to :mod:`ragstate.testing` (the fake Messages API is now ``ragstate.testing.anthropic``).

Kept only while test modules that other changes are editing still import it from here; it goes
when the last of them imports ``ragstate.testing``."""

from ragstate.testing.anthropic import *  # noqa: F403
from ragstate.testing.anthropic.handler import Handler as _Handler  # noqa: F401
from ragstate.testing.anthropic.handler import Server as _Server  # noqa: F401
