"""`python -m ragstate.cli`."""

from ragstate.cli import app

app()
