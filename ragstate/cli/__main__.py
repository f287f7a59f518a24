"""`python -m ragstate.cli`."""

from ragstate.cli import main

main()
