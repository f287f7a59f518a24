"""The rule for a collection name, checked wherever a name enters: the models a caller builds
(a query, an ingest, a lifecycle request), the CLI's options, the gateway, queue events, and the
store itself before a name becomes a folder or a Qdrant collection.

A name is a folder of the embedded store, beside its pointer (``<name>.alias.json``) and its
parameters (``<version>.index.json``): so no separators, no ``..``, no hidden names, and no
name ending in ``.json`` (``ragstate.alias.json`` would shadow the pointer of ``ragstate``).

Example::

    >>> check_collection_name("docs")
    'docs'
    >>> check_collection_name("../x")  # also "", "/abs", ".hidden", "ragstate.alias.json"
    Traceback (most recent call last):
    ValueError: invalid collection name '../x': use 1-128 letters, digits, ...
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["CollectionName", "check_collection_name", "name_rule"]

_COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def name_rule(pattern: str, what: str, rule: str) -> Callable[[str], str]:
    """A checker for names that must match ``pattern`` whole: returns the name, or raises
    ValueError ``invalid <what> '<name>': <rule>`` (tenant names, access groups, session ids)."""
    compiled = re.compile(pattern)

    def check(name: str) -> str:
        if not isinstance(name, str) or not compiled.fullmatch(name):
            raise ValueError(f"invalid {what} {name!r}: {rule}")
        return name

    return check


def check_collection_name(name: str) -> str:
    """``name`` if it can name a collection on every backend, else ValueError saying why."""
    if not isinstance(name, str) or not _COLLECTION_NAME.fullmatch(name) or name.lower().endswith(".json"):
        raise ValueError(
            f"invalid collection name {name!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, not ending in '.json'"
        )
    return name


#: A field type that refuses a name :func:`check_collection_name` refuses.
CollectionName = Annotated[str, AfterValidator(check_collection_name)]
