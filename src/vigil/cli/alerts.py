"""Alert commands: alerts list|show|retry|test|channels|deliver (heavy modules are imported inside them)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from vigil.cli.console import emit_json, out, terminate_on_sigterm, when
from vigil.cli.manual import examples
from vigil.cli.state import state
from vigil.cli.tables import print_table

STATE_COLOURS = {"sent": "green", "failed": "red", "dead": "red", "pending": "cyan", "skipped": "dim",
                 "grouped": "dim"}

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
alerts_app = typer.Typer(help="Alerts: the outbox, deliveries, channels (alerts: in .vigil/vigil.yaml).",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")


@alerts_app.command("list", epilog=examples("alerts list"))
def list_(state_: Annotated[str | None, typer.Option("--state", help="pending|sent|failed|dead|skipped|grouped")]
          = None, limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
          json: JsonOpt = False) -> None:
    """Deliveries (one per event, channel and recipient), newest first."""
    rows = state.app().alerts.deliveries(state_, limit)
    if json:
        return emit_json(rows)

    def note(r: dict[str, Any]) -> str:
        if r["state"] == "sent" and r["latency"] is not None:
            return f"{r['latency'] * 1000:.0f} ms after the frame's commit" + (
                f", +{r['grouped']} grouped" if r["grouped"] else "")
        return str(r["last_error"] or (f"+{r['grouped']} grouped" if r["grouped"] else ""))[:100]

    print_table(["id", "alert", "state", "channel", "target", "rule", "camera", "frame time", "tries", "note"],
                [(r["id"], r["alert_id"][:12], r["state"], r["channel"], r["target"], r["rule"], r["camera"],
                  when(r["ts"]), r["attempts"], note(r)) for r in rows],
                colour={"state": lambda v: STATE_COLOURS.get(v.strip())}, empty="no alerts")


@alerts_app.command("show", epilog=examples("alerts show"))
def show(alert: Annotated[str, typer.Argument(help="Number or alert-id prefix.")], json: JsonOpt = False) -> None:
    """One delivery: its event, where it came from, and every attempt."""
    doc = state.app().alerts.show(alert)
    if json:
        return emit_json(doc)
    out.print(f"[bold]alert {doc['alert_id']}[/] ({doc['state']}, {doc['kind']}) to {doc['channel']}: {doc['target']}")
    out.print(f"event {doc['event_id']}: rule {doc['rule']} ({doc['severity']}) on {doc['camera']} at "
              f"{when(doc['ts'])}; record {doc['record']}")
    if doc["grouped"]:
        out.print(f"{doc['grouped']} event(s) grouped into it")
    if doc["last_error"]:
        out.print(f"last error: {doc['last_error']}")
    for a in doc["attempts_log"]:
        finished = when(a["finished_at"]) if a["finished_at"] else "never finished (the worker died)"
        out.print(f"  attempt {a['number']} by {a['worker']} at {when(a['started_at'])}: {a['outcome'] or '-'} "
                  f"{a['code'] or ''} {a['error'] or ''} ({finished})")


@alerts_app.command("retry", epilog=examples("alerts retry"))
def retry(alert: Annotated[str | None, typer.Argument(help="Number or alert-id prefix.")] = None,
          dead: Annotated[bool, typer.Option("--dead", help="Every dead delivery.")] = False) -> None:
    """Queue deliveries again (their endpoints are enabled again); `vigil run` or `alerts deliver` sends them."""
    n = state.app().alerts.retry(alert, dead=dead)
    out.print(f"{n} deliver{'y' if n == 1 else 'ies'} queued again")


@alerts_app.command("test", epilog=examples("alerts test"))
def test(channel: str, to: Annotated[str | None, typer.Option(help="Recipient, URL or topic prefix.")] = None) -> None:
    """Send a test message through CHANNEL now and show the server's answer."""
    alert, outcome = state.app().alerts.test(channel, to)
    colour = "green" if outcome.status == "sent" else "red"
    out.print(f"{channel} -> {alert.target}: [{colour}]{outcome.status}[/] {outcome.code or ''} {outcome.detail}")
    if outcome.status != "sent":
        raise typer.Exit(1)


@alerts_app.command("channels")
def channels(json: JsonOpt = False) -> None:
    """The configured channels: where they send, their secrets' sources, disabled endpoints."""
    rows = state.app().alerts.channels()
    if json:
        return emit_json(rows)
    print_table(["channel", "type", "destination", "recipients", "routes", "secrets", "disabled endpoints"],
                [(r["name"], r["type"], r["destination"], ", ".join(r["recipients"]), ", ".join(r["routes"]),
                  ", ".join(r["secrets"]), ", ".join(d["target"] for d in r["disabled"])) for r in rows],
                empty="no alert channels configured: add `alerts: {channels: ...}` to .vigil/vigil.yaml "
                      "(README: Alerts)")


@alerts_app.command("deliver", epilog=examples("alerts deliver"))
def deliver(watch: Annotated[bool, typer.Option("--watch", help="Keep delivering as events arrive.")] = False,
            interval: Annotated[float, typer.Option(help="Seconds between polls when idle.")] = 1.0) -> None:
    """Derive new alerts from the event repos and deliver what is due (alone, without running pipelines)."""
    def report(created: int, attempted: int) -> None:
        out.print(f"{created} new deliver{'y' if created == 1 else 'ies'}, {attempted} attempted")

    with terminate_on_sigterm():
        try:
            total = state.app().alerts.deliver(watch=watch, interval=interval, on_pass=report)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
    counts = state.app().alerts.counts()
    out.print(f"{total} attempt(s); outbox: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
