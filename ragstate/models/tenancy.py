"""Who a request acts for: a tenant's name, an access group's name, and the rule for each,
checked wherever they enter (keys, the CLI, the client, the gateway, the store's payloads).

A tenant's collections live in a namespace of its own: the tenant's name and ``__`` before the
collection's name (:func:`physical_collection`), so two tenants can both call theirs ``docs``.
The default tenant (the deployment's single-key settings) keeps its collections unprefixed, so
no deployment breaks; a name a tenant gives may not hold ``__``, so no tenant reaches into
another's namespace.

Example::

    >>> physical_collection("acme", "docs")
    'acme__docs'
    >>> physical_collection("default", "docs")
    'docs'
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import AfterValidator

from ragstate.models.names import check_collection_name, name_rule

__all__ = [
    "DEFAULT_TENANT",
    "NAMESPACE_SEPARATOR",
    "AccessGroup",
    "TenantName",
    "check_access_group",
    "check_tenant_name",
    "physical_collection",
]

#: The tenant every request of a single-key (or keyless, loopback) deployment acts for.
DEFAULT_TENANT: Final = "default"
#: Between a tenant's name and its collection's name in the store.
NAMESPACE_SEPARATOR: Final = "__"

#: ``name`` if it can name a tenant, else ValueError saying why.
check_tenant_name = name_rule(
    r"[a-z0-9][a-z0-9-]{0,39}",
    "tenant name",
    "use 1-40 lowercase letters, digits or '-', starting with a letter or digit",
)
#: ``name`` if it can name an access group, else ValueError saying why.
check_access_group = name_rule(
    r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}",
    "access group",
    "use 1-128 letters, digits, '.', '_', ':', '@' or '-', starting with a letter or digit",
)


def physical_collection(tenant: str, collection: str) -> str:
    """The store's name for ``tenant``'s ``collection``: ValueError for a name outside its namespace."""
    check_collection_name(collection)
    if NAMESPACE_SEPARATOR in collection:
        raise ValueError(f"invalid collection name {collection!r}: '{NAMESPACE_SEPARATOR}' is reserved")
    if tenant == DEFAULT_TENANT:
        return collection
    return check_collection_name(f"{check_tenant_name(tenant)}{NAMESPACE_SEPARATOR}{collection}")


#: A field type that refuses a name :func:`check_tenant_name` refuses.
TenantName = Annotated[str, AfterValidator(check_tenant_name)]
#: A field type that refuses a name :func:`check_access_group` refuses.
AccessGroup = Annotated[str, AfterValidator(check_access_group)]
