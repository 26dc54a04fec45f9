"""`vigil audit log|verify|head`: the hash-chained audit log of who did what, when, from where."""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.cli.console import emit_json, out
from vigil.cli.state import state

audit_app = typer.Typer(help="The tamper-evident audit log: commits, pipeline changes, alerts sent, tokens, "
                             "logins, every view or export of evidence.", no_args_is_help=True)

JSON = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("log")
def log(limit: Annotated[int | None, typer.Option("--limit", "-n", help="Only the newest N entries.")] = None,
        action: Annotated[str | None, typer.Option(help="Only this action, or actions starting with it "
                                                        "(commit, view, token, alert, pipeline, retention).")] = None,
        json: JSON = False) -> None:
    """Entries, oldest first: seq, time (UTC), actor, from, action, object, reason.

    Examples: `vigil audit log -n 20`, `vigil audit log --action view --json`."""
    entries = state.app().audit_log(limit=limit, action=action)
    if json:
        return emit_json([e.to_dict() for e in entries])
    for e in entries:
        reason = f"  ({e.reason})" if e.reason else ""
        out.print(f"{e.seq:>6}  {e.at[:19]}Z  {e.actor:<24} {e.origin:<18} {e.action:<16} {e.object}{reason}",
                  markup=False)


@audit_app.command("verify")
def verify(anchor: Annotated[str | None, typer.Option(
               help="SEQ:HASH from an earlier `vigil audit head`, kept outside the system: also catches a log "
                    "rewritten or cut short since.")] = None,
           json: JSON = False) -> None:
    """Recompute the hash chain from the first entry; exit 21 naming the first entry edited, deleted or moved."""
    verdict = state.app().audit_verify(anchor)
    if json:
        return emit_json(verdict.to_dict())
    out.print(f"audit log intact: {verdict.checked} entries, head {verdict.head}", markup=False)


@audit_app.command("head")
def head(json: JSON = False) -> None:
    """The newest entry as SEQ:HASH: copy it outside the system (an e-mail, a ticket) to anchor the log."""
    h = state.app().audit_head()
    if json:
        return emit_json(h.to_dict())
    out.print(f"{h.seq}:{h.hash}", markup=False)
