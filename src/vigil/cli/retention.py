"""`vigil retention apply|erase`: delete frame bytes on schedule or on request; records and hashes stay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from vigil.cli.console import emit_json, out, size
from vigil.cli.state import state

if TYPE_CHECKING:
    from vigil.index.retention import RetentionReport

retention_app = typer.Typer(help="Retention: frame bytes deleted per policy (`retention:` in .vigil/vigil.yaml) "
                                 "or per erasure request; events, hashes and the audit log stay.",
                            no_args_is_help=True)

JSON = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DRY = Annotated[bool, typer.Option("--dry-run", help="Only say what would be deleted.")]


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")


def _show(report: RetentionReport, json: bool) -> None:
    if json:
        return emit_json(report.to_dict())
    verb = "would delete" if report.dry_run else "deleted"
    for policy, frames in report.frames.items():
        out.print(f"{policy}: {verb} {frames} frame(s), {size(report.bytes.get(policy, 0))}", markup=False)
    if not report.frames:
        out.print("nothing is past its keeping time", markup=False)
    if report.kept_for_events:
        out.print(f"kept {report.kept_for_events} frame(s) that raised events (event_frames_days)", markup=False)


@retention_app.command("apply")
def apply(dry_run: DRY = False, json: JSON = False) -> None:
    """Delete the bytes of frames past their policy's keeping time (`vigil serve` does it hourly).

    Example policy in .vigil/vigil.yaml: `retention: [{name: frames-30d, frames_days: 30, event_frames_days: 365}]`
    (optional: repos, cameras, tenants)."""
    _show(state.app().retention_apply(dry_run=dry_run), json)


@retention_app.command("erase")
def erase(camera: Annotated[str, typer.Option(help="The camera ([<tenant>-]<device>).")],
          since: Annotated[str, typer.Option("--from", help="Start (unix seconds or ISO-8601, included).")],
          until: Annotated[str, typer.Option("--to", help="End (unix seconds or ISO-8601, excluded).")],
          reason: Annotated[str, typer.Option(help="Why (e.g. the request's reference); kept in the audit log.")] = "",
          dry_run: DRY = False, json: JSON = False) -> None:
    """An erasure request: delete every frame of one camera in a time range, whether it raised events or not."""
    from vigil.ingest.frames import parse_timestamp

    report = state.app().retention_erase(camera, parse_timestamp(since, "--from"), parse_timestamp(until, "--to"),
                                         reason=reason, dry_run=dry_run)
    _show(report, json)
