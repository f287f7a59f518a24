"""``python -m ragstate.gateway``: the gateway on uvicorn (``--help`` for the flags)."""

from __future__ import annotations

from ragstate.gateway.app import main

if __name__ == "__main__":
    main()
