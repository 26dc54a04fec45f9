"""`vigil audit log|verify|head`: the hash-chained audit log; `vigil reproduce`: re-derive a result bit for bit."""

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
    app.command()(reproduce)


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
    """Recompute the hash chain from the first entry; exit 22 naming the first entry edited, deleted or moved."""
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


def reproduce(target: Annotated[str, typer.Argument(help="An event id, or REPO[@COMMIT]:PATH of a pipeline's "
                                                         "output.")],
              container: Annotated[bool, typer.Option("--container", help="Run each stage in its container image "
                                                      "(localhost/vigil-<role>) instead of this process.")] = False,
              json: JSON = False) -> None:
    """Re-run the datums that produced an event or output, upstream first, from the recorded frame, model, rules
    and code; say "identical" with the hashes, or the first difference (stage, file, field) and what changed
    in the code or environment since. Exit 22 when it does not reproduce.

    Examples: `vigil reproduce 621ad0aa44d9...`, `vigil reproduce detect@master:/dev3/1511891385.json --container`."""
    from vigil.errors import NotReproducedError

    result = state.app().reproduce(target, container=container)
    if json:
        emit_json(result.to_dict())
    else:
        for step in result.steps:
            verdict = "identical" if step.identical else "DIFFERENT"
            out.print(f"{step.pipeline:<10} datum {step.datum[:12]}  {verdict}", markup=False)
            for path, (old, new) in step.outputs.items():
                shown = f"sha256 {old}" if old == new else f"recorded {old}, now {new}"
                out.print(f"    {path}  {shown}", markup=False)
        for change in result.code_changes:
            out.print(f"code changed since: {change}", markup=False)
        for change in result.environment_changes:
            out.print(f"environment changed since: {change}", markup=False)
    first = result.first_difference
    if first is not None:
        raise NotReproducedError(f"{result.target} does not reproduce: first difference in stage {first.pipeline} "
                                 f"(datum {first.datum[:12]}): {first.difference}",
                                 "see the code and environment changes listed above")
    if not json:
        out.print(f"identical: {result.target} ({len(result.steps)} datum(s) re-run"
                  f"{' in containers' if container else ''})", markup=False)
