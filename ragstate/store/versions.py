"""Collection versions for blue/green re-indexing: a name (what queries and ingests use) points
at one physical collection, and the pointer switches atomically.

On a Qdrant server (or qdrant-client's local mode) the pointer is a collection alias, which
Qdrant resolves on every request, so every worker sees a switch at once. The embedded store
has no aliases: the pointer is a small JSON file beside the shards (``<name>.alias.json``),
replaced atomically (``os.replace``) and read by :func:`ragstate.store.open_store`. Each
version records its indexing parameters (collection metadata; ``<version>.index.json``).

A collection made before any re-index is its own physical collection. On a server an alias
cannot share a collection's name, so the first switch deletes that collection and creates the
alias in the same breath: queries in between fail once and are retried by their activities,
and that old version gets no grace period.

Example::

    live = live_version(settings, "docs")        # "docs", later "docs.v3f2a9c1d"
    previous = switch(settings, "docs", "docs.v3f2a9c1d")
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ragstate.settings import Settings, StoreBackend
from ragstate.store.answer_cache import forget
from ragstate.store.registry import drop_physical, qdrant_client

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

#: Collection metadata key (server) holding a version's indexing parameters.
PARAMS_KEY = "ragstate_index"
_VERSION = re.compile(r"^(?P<name>.+)\.v[0-9a-f]{8}$")


def version_name(collection: str, tag: str) -> str:
    """The physical name of a new version of ``collection`` (``tag``: 8 hex digits)."""
    return f"{collection}.v{tag}"


def base_name(physical: str) -> str:
    """The collection a version belongs to (a physical name that is no version: itself)."""
    m = _VERSION.match(physical)
    return m.group("name") if m else physical


def edge_root(settings: Settings) -> Path:
    return settings.data_dir / "qdrant-edge"


def _pointer(root: Path, name: str) -> Path:
    return root / f"{name}.alias.json"


def edge_target(root: Path, name: str) -> str:
    """The physical collection the embedded store's ``name`` points at (itself without a pointer)."""
    try:
        return json.loads(_pointer(root, name).read_text())["collection"]
    except FileNotFoundError:
        return name


def _write_atomically(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)  # readers see the old file or the new one, never half of one


def _server(settings: Settings) -> QdrantClient:
    return qdrant_client(settings)


def _aliases(client: QdrantClient) -> dict[str, str]:
    return {a.alias_name: a.collection_name for a in client.get_aliases().aliases}


def live_version(settings: Settings, name: str) -> str:
    """The physical collection serving ``name`` now."""
    if settings.store_backend is StoreBackend.edge:
        return edge_target(edge_root(settings), name)
    return _aliases(_server(settings)).get(name, name)


def exists(settings: Settings, physical: str) -> bool:
    if settings.store_backend is StoreBackend.edge:
        from ragstate.store.edge import is_collection

        return is_collection(edge_root(settings) / physical)
    return physical not in _aliases(_server(settings)) and _server(settings).collection_exists(physical)


def switch(settings: Settings, name: str, target: str) -> str:
    """Point ``name`` at the physical collection ``target``, atomically; returns the version
    it pointed at before. Idempotent: switching to the current target changes nothing."""
    previous = live_version(settings, name)
    if previous == target:
        return previous
    if settings.store_backend is StoreBackend.edge:
        _write_atomically(_pointer(edge_root(settings), name), {"collection": target})
        return previous
    from qdrant_client import models as qm

    client = _server(settings)
    if name not in _aliases(client) and client.collection_exists(name):
        client.delete_collection(name)  # a collection from before aliases: see the module docstring
    client.update_collection_aliases(
        change_aliases_operations=[
            qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=name)),
            qm.CreateAliasOperation(create_alias=qm.CreateAlias(collection_name=target, alias_name=name)),
        ]
    )
    return previous


def remove_pointer(settings: Settings, name: str) -> str:
    """Remove ``name``'s pointer (alias) if it has one; returns what it pointed at (``name`` itself if none)."""
    target = live_version(settings, name)
    if target == name:
        return name
    if settings.store_backend is StoreBackend.edge:
        _pointer(edge_root(settings), name).unlink(missing_ok=True)
    else:
        from qdrant_client import models as qm

        _server(settings).update_collection_aliases(
            change_aliases_operations=[qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=name))]
        )
    return target


def drop_version(settings: Settings, physical: str) -> bool:
    """Delete one physical version (never the one its name points at); False when it is gone."""
    if live_version(settings, base_name(physical)) == physical:
        raise ValueError(f"{physical!r} is the live version of {base_name(physical)!r}: switch away from it first")
    if settings.store_backend is StoreBackend.edge:
        edge_root(settings).joinpath(f"{physical}.index.json").unlink(missing_ok=True)
    elif physical in _aliases(_server(settings)):
        return False  # the collection from before aliases went at the switch; this is the alias now
    forget(settings, physical)  # its cached answers go with it
    return drop_physical(settings, physical)


def read_params(settings: Settings, physical: str) -> dict:
    """The indexing parameters recorded with a version ({} for one made before re-indexing)."""
    if settings.store_backend is StoreBackend.edge:
        try:
            return json.loads(edge_root(settings).joinpath(f"{physical}.index.json").read_text())
        except FileNotFoundError:
            return {}
    client = _server(settings)
    if not client.collection_exists(physical):
        return {}
    metadata = client.get_collection(physical).config.metadata or {}
    return dict(metadata.get(PARAMS_KEY) or {})


def write_params(settings: Settings, physical: str, params: dict) -> None:
    """Record a version's parameters (its collection must exist)."""
    if settings.store_backend is StoreBackend.edge:
        _write_atomically(edge_root(settings) / f"{physical}.index.json", params)
        return
    _server(settings).update_collection(physical, metadata={PARAMS_KEY: params})
