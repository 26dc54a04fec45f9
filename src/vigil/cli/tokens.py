"""`vigil token create|list|revoke`: API tokens for cameras, people and tools."""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.cli.console import emit_json, out, when
from vigil.cli.state import state

token_app = typer.Typer(help="API tokens (for `vigil serve`): roles admin/operator/viewer/camera, per tenant.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")


@token_app.command("create")
def create(role: Annotated[str, typer.Option(help="admin, operator, viewer or camera.")],
           tenant: Annotated[str | None, typer.Option(help="Only this tenant's data (default: every tenant).")] = None,
           camera: Annotated[list[str] | None, typer.Option(help="Only this camera (repeat; * and ? allowed).")] = None,
           name: Annotated[str, typer.Option(help="A note on what it is for.")] = "",
           json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Create a token; it is printed once (only its hash is stored)."""
    token, info = state.app().create_token(None, role, tenant, camera or [], name)
    if json:
        return emit_json({**info.to_dict(), "token": token})
    out.print(token, markup=False)
    scope = f"tenant {tenant}" if tenant else "every tenant"
    out.print(f"[dim]token {info.id}: role {role}, {scope}"
              f"{', cameras ' + ', '.join(info.cameras) if info.cameras else ''}. Shown once: keep it now.[/]")


@token_app.command("list")
def list_(json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Tokens (never their secrets)."""
    tokens = state.app().list_tokens()
    if json:
        return emit_json([t.to_dict() for t in tokens])
    for t in tokens:
        status = f"revoked {when(t.revoked_at)}" if t.revoked_at else "active"
        out.print(f"{t.id}  {t.role:<8} {t.tenant or '*':<12} {','.join(t.cameras) or '*':<16} {status:<30} "
                  f"{t.name}", markup=False)


@token_app.command("revoke")
def revoke(token_id: str) -> None:
    """Revoke a token by id (servers forget it within 5 seconds)."""
    info = state.app().revoke_token(token_id)
    out.print(f"revoked {info.id}")
