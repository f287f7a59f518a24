"""`ragstate keys create|list|revoke` (tenant API keys, kept as hashes in the RagKeys workflow)
and `ragstate tenants set|show` (a tenant's request rate and daily LLM budget).

ragstate keys create --tenant acme --scopes query,ingest --json   # the key is printed once
ragstate keys list
ragstate keys revoke 3f2a9c1d0b7e                                  # refused within seconds
ragstate tenants set acme --rpm 60 --usd-per-day 5 --over-budget retrieval-only
ragstate tenants show acme                                         # the day's spend so far

A gateway accepts these keys with RAGSTATE_GATEWAY_TENANT_KEYS=true (docs/security.md).
"""

from __future__ import annotations

import asyncio
import json

import typer

from ragstate.cli._common import cli_settings, connect_client, console, fail

keys_app = typer.Typer(no_args_is_help=True, help="Tenant API keys: create, list, revoke (docs/security.md).")
tenants_app = typer.Typer(no_args_is_help=True, help="A tenant's request rate and daily LLM budget.")


def _run(call):
    from ragstate.errors import RagError

    async def run():
        return await call(await connect_client(cli_settings()))

    try:
        return asyncio.run(run())
    except RagError as e:
        fail(str(e))


def _audit(action: str, target: str, outcome: str) -> None:
    from ragstate.observability.audit import audit_line

    audit_line(action, outcome, tenant="operator", key_id="cli", target=target)


def _names(value: str, check, what: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    try:
        return [check(n) for n in names]
    except ValueError as e:
        raise typer.BadParameter(f"{what}: {e}") from None


@keys_app.command("create")
def create(
    tenant: str = typer.Option(..., "--tenant", metavar="NAME", help="the tenant the key acts for"),
    scopes: str = typer.Option(
        "query", "--scopes", metavar="LIST", help="comma-separated: query, ingest, admin, decode"
    ),
    groups: str = typer.Option("", "--groups", metavar="LIST", help="comma-separated access groups of the key"),
    as_json: bool = typer.Option(False, "--json", help="print the key as JSON: id, key, tenant, scopes"),
) -> None:
    """A new key, printed once: only its hash is kept."""
    from ragstate.models.keys import Scope
    from ragstate.models.tenancy import check_access_group, check_tenant_name

    try:
        check_tenant_name(tenant)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--tenant") from None
    chosen = _names(scopes, Scope, "--scopes")
    if not chosen:
        raise typer.BadParameter("name at least one scope", param_hint="--scopes")
    record, key = _run(lambda rag: rag.create_key(tenant, chosen, _names(groups, check_access_group, "--groups")))
    _audit("create key", f"{record.tenant}/{record.id}", "created")
    if as_json:
        scopes_out = [s.value for s in record.scopes]
        print(json.dumps({"id": record.id, "key": key, "tenant": record.tenant, "scopes": scopes_out}))
        return
    scopes_text = ", ".join(s.value for s in record.scopes)
    console.print(f"key [bold]{record.id}[/bold] for tenant [bold]{record.tenant}[/bold] ({scopes_text}):")
    print(key)
    console.print("[dim]shown once: only its hash is kept[/dim]")


@keys_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="print a JSON array (no hashes)")) -> None:
    """Every key: id, tenant, scopes, created, last used, revoked."""
    table = _run(lambda rag: rag.key_table())
    rows = [k.model_dump(mode="json", exclude={"digest"}) for k in table.keys]
    if as_json:
        print(json.dumps(rows))
        return
    for k in table.keys:
        state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
        used = f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never"
        scopes = ",".join(s.value for s in k.scopes)
        console.print(
            f"{k.id}  {k.tenant:<20} {scopes:<24} created {k.created_at:%Y-%m-%d %H:%M}  used {used}  {state}"
        )


@keys_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., metavar="ID", help="the key's id (`ragstate keys list`)")) -> None:
    """Revoke a key: every gateway refuses it within seconds (RAGSTATE_GATEWAY_KEYS_REFRESH_S)."""
    record = _run(lambda rag: rag.revoke_key(key_id))
    _audit("revoke key", f"{record.tenant}/{record.id}", "revoked")
    console.print(f"key {record.id} of tenant {record.tenant} revoked")


@tenants_app.command("set")
def set_(
    tenant: str = typer.Argument(..., metavar="NAME", help="the tenant"),
    rpm: int | None = typer.Option(None, "--rpm", min=1, help="requests per minute (default: no limit)"),
    usd_per_day: float | None = typer.Option(None, "--usd-per-day", min=0, help="LLM spend per UTC day"),
    over_budget: str = typer.Option(
        "refuse",
        "--over-budget",
        metavar="POLICY",
        help="refuse (429) or retrieval-only, once the day's budget is spent",
    ),
    reserve_usd: float = typer.Option(0.05, "--reserve-usd", min=0, help="held per answer until its cost is known"),
) -> None:
    """Set a tenant's policy (replacing the previous one)."""
    from pydantic import ValidationError

    from ragstate.models.keys import TenantPolicy

    try:
        policy = TenantPolicy(
            tenant=tenant,
            requests_per_minute=rpm,
            llm_usd_per_day=usd_per_day,
            over_budget=over_budget,
            reserve_usd=reserve_usd,
        )
    except ValidationError as e:
        raise typer.BadParameter(str(e.errors()[0]["msg"])) from None
    _run(lambda rag: rag.set_tenant_policy(policy))
    _audit("set tenant policy", tenant, "set")
    console.print(f"tenant {tenant}: {policy.model_dump_json(exclude={'tenant'})}")


@tenants_app.command("show")
def show(
    tenant: str = typer.Argument(..., metavar="NAME", help="the tenant"),
    as_json: bool = typer.Option(False, "--json", help="print the budget's state as JSON"),
) -> None:
    """A tenant's policy and budget today: spent, reserved by runs in flight, refused."""
    state = _run(lambda rag: rag.budget_state(tenant))
    if as_json:
        print(state.model_dump_json(exclude={"reservations", "reserved_at", "recent_requests"}) if state else "null")
        return
    if state is None:
        console.print(f"tenant {tenant}: no budgeted request yet")
        return
    console.print(
        f"tenant {tenant}, {state.day}: spent ${state.spent_usd:.4f}, reserved ${state.reserved_usd:.4f} "
        f"({state.open_reservations} in flight), {state.requests_last_minute} requests in the last minute, "
        f"{state.refused} refused"
    )
