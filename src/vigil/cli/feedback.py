"""`vigil feedback EVENT --verdict ...` and `vigil stats precision`: review events, measure rules."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from vigil.cli.console import emit_json, out
from vigil.cli.state import state

if TYPE_CHECKING:
    from vigil.domain.access import Principal

stats_app = typer.Typer(help="Statistics from the events index.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(feedback)
    app.add_typer(stats_app, name="stats")


def _owner() -> Principal:
    """The CLI is the workspace's owner: it acts as an every-tenant admin."""
    from vigil.domain.access import Principal

    return Principal("cli", "admin")


def _time(text: str | None) -> int | None:
    if text is None:
        return None
    from vigil.ingest.frames import parse_timestamp

    return parse_timestamp(text, "time")


def feedback(event_id: str,
             verdict: Annotated[str | None, typer.Option(help="true_positive (tp) or false_positive (fp).")] = None,
             note: Annotated[str, typer.Option(help="Why.")] = "",
             json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Record a verdict on an event (or, without --verdict, mark it reviewed); kept in the feedback repo."""
    verdict = {"tp": "true_positive", "fp": "false_positive"}.get(verdict or "", verdict)
    doc = state.app().feedback(_owner(), event_id, verdict, note)
    if json:
        return emit_json(doc)
    out.print(f"{event_id[:12]}: {doc['verdict'] or 'reviewed'} (feedback commit {doc['commit'][:12]})")


@stats_app.command("precision")
def precision(by: Annotated[str, typer.Option(help="rule, camera or label.")] = "rule",
              since: Annotated[str | None, typer.Option(help="From (unix seconds or ISO-8601).")] = None,
              until: Annotated[str | None, typer.Option(help="Until, exclusive.")] = None,
              json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Precision per rule, camera or label from feedback: true / (true + false positives)."""
    rows = state.app().precision(_owner(), by, _time(since), _time(until))
    if json:
        return emit_json(rows)
    out.print(f"{by:<24} {'events':>7} {'reviewed':>8} {'tp':>5} {'fp':>5} {'precision':>9}", markup=False)
    for r in rows:
        p = "-" if r["precision"] is None else f"{r['precision']:.3f}"
        out.print(f"{r[by]!s:<24} {r['events']:>7} {r['reviewed']:>8} {r['true_positive']:>5} "
                  f"{r['false_positive']:>5} {p:>9}", markup=False)
    if not rows:
        out.print(f"no events{' since ' + str(datetime.fromtimestamp(_time(since) or 0)) if since else ''}")
