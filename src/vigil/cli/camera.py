"""Camera-pipeline commands: demo, model pull|add|list, rules validate|test."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vigil.cli.console import emit_json, out, size, when
from vigil.cli.manual import examples
from vigil.cli.pipelines import _print_jobs, _progress
from vigil.cli.state import state
from vigil.cli.tables import print_table

if TYPE_CHECKING:
    from rich.progress import Progress

    from vigil.demo import DemoSummary

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output (see docs/json.md).")]
model_app = typer.Typer(help="Detection models: the catalogue, downloads, the model repo.", no_args_is_help=True)
rules_app = typer.Typer(help="Threat rule sets: validate, back-test.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command(epilog=examples("demo"))(demo)
    app.add_typer(model_app, name="model")
    app.add_typer(rules_app, name="rules")


def demo(folder: Annotated[Path, typer.Argument(help="Workspace folder to (re)create.")] = Path("demo-workspace"),
         fresh: Annotated[bool, typer.Option(help="Recreate the folder if it holds a workspace.")] = True,
         containers: Annotated[bool, typer.Option(
             "--containers", help="Run every stage in its image (localhost/vigil-STAGE: make images).")] = False,
         ) -> None:
    """Run the 2017 camera design end to end on its sample images: validate, detect, threat rules, report."""
    from vigil.demo import run_demo

    out.print(f"[bold]Vigil demo[/] in {folder.resolve()}")
    with _progress(False) as (bar, update):
        summary = run_demo(folder, fresh=fresh, progress=update, in_images=containers)
    _print_jobs(summary.jobs, bar)
    out.print(f"\n[bold]validate[/]: {len(summary.valid)} valid, {len(summary.invalid)} invalid")
    for name, reasons in sorted(summary.invalid.items()):
        out.print(f"  [red]invalid[/] {name}: {'; '.join(reasons)}")
    out.print("\n[bold]detect[/] (YOLOX-nano, objects per frame):")
    for frame, objects in sorted(summary.detections.items()):
        out.print(f"  {frame:<28} {', '.join(objects) or '(nothing)'}")
    out.print(f"\n[bold]threat[/] (rule.json: person, car, motorcycle, truck): {len(summary.events)} event(s)")
    print_table(["camera", "threats"], sorted(summary.threats_per_camera.items()))
    if summary.evidence_files:
        out.print(f"evidence (frames with events, their objects boxed): {summary.evidence_files[0].parent.parent}/")
        for path in summary.evidence_files:
            out.print(f"  {path.relative_to(summary.evidence_files[0].parent.parent)}")
    _print_alerts(summary, folder)
    out.print("[bold]report[/]:")
    for path in summary.report_files:
        out.print(f"  {path}")
    exe = _print_explore(folder)
    _print_dashboard(exe, folder, summary.token)


def _print_explore(folder: Path) -> str:
    """Commands to explore the demo that work as printed: the `vigil` on PATH when it is this one, else this
    one's full path (after `make demo` the venv is not activated)."""
    import shlex
    import shutil
    import sys

    here = Path(sys.argv[0]).resolve() if Path(sys.argv[0]).name == "vigil" else None
    on_path = shutil.which("vigil")
    exe = "vigil" if here is None or (on_path and Path(on_path).resolve() == here) else shlex.quote(str(here))
    ws = shlex.quote(str(folder))
    out.print("\nExplore:", markup=False)
    for command in ("repo list", "job list", "lineage report@master"):
        out.print(f"  {exe} -w {ws} {command}", markup=False)
    if exe != "vigil" and here is not None and (here.parent / "activate").exists():
        out.print(f"(or put vigil on PATH first: source {shlex.quote(str(here.parent / 'activate'))})", markup=False)
    return exe


def _print_dashboard(exe: str, folder: Path, token: str) -> None:
    """How to review the demo's events in the browser, with the operator token made for it (shown once)."""
    import shlex

    out.print("\nReview the events in the dashboard (needs the server extra: pip install 'vigil[server]'):",
              markup=False)
    out.print(f"  {exe} -w {shlex.quote(str(folder))} serve", markup=False)
    out.print("  open http://127.0.0.1:8080/ui/ and log in with this operator token (shown once):", markup=False)
    out.print(f"  {token}", markup=False, soft_wrap=True)


def _print_alerts(summary: DemoSummary, folder: Path) -> None:
    """The demo's alerts (.eml files: no mail server is configured) and how to send them by e-mail instead."""
    from rich.markup import escape

    if summary.alert_files:
        base = summary.alert_files[0].parent.parent
        out.print(f"[bold]alerts[/] ({len(summary.alert_files)} e-mail(s), evidence inline; no mail server is "
                  f"configured, so the demo's `file` channel wrote them): {base}/")
        for path in summary.alert_files:
            out.print(f"  {path.relative_to(base)}")
        out.print(escape("  To e-mail them instead, add an SMTP channel to .vigil/vigil.yaml (README: Alerts), e.g.\n"
                         "    alerts:\n      channels:\n        mail: {type: smtp, host: smtp.example.com, "
                         "username: vigil, password: {env: SMTP_PASSWORD}, sender: vigil@example.com, "
                         "to: [guard@example.com]}"))
        out.print(f"  then check it with [cyan]vigil -w {folder} alerts test mail[/]")


@model_app.command("list")
def model_list(json: JsonOpt = False) -> None:
    """The model catalogue."""
    from vigil.vision.catalog import CATALOG

    if json:
        return emit_json([e.model_dump(mode="json") for e in CATALOG.values()])
    print_table(["name", "kind", "input", "size", "licence", "sha256"],
                ([e.name, e.kind, f"{e.input_size[0]}x{e.input_size[1]}", size(e.size), e.licence, e.sha256]
                 for e in CATALOG.values()))


def _download_bar() -> Progress:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=out.real, transient=True)


@model_app.command("pull")
def model_pull(name: Annotated[str, typer.Argument(help="Catalogue name (see `vigil model list`).")]) -> None:
    """Download a catalogue model into the cache (VIGIL_MIRROR folders/URLs are tried first)."""
    with _download_bar() as bar:
        task = bar.add_task(name, total=None)
        path = state.app().model_pull(name, lambda done, total: bar.update(task, completed=done, total=total))
    out.print(f"{name}: {path}")


@model_app.command("add", epilog=examples("model add"))
def model_add(source: Annotated[str, typer.Argument(help="An .onnx file or a catalogue name.")],
              fixed_input: Annotated[bool, typer.Option(
                  "--fixed-input", help="Commit the file as exported (by default a YOLOX graph's input height "
                  "and width are made variable, for per-camera input_size).")] = False) -> None:
    """Commit a model to the `model` repo (replacing the current one); detection re-runs on the next run."""
    with _download_bar() as bar:
        task = bar.add_task(source, total=None)
        commit = state.app().model_add(source, lambda done, total: bar.update(task, completed=done, total=total),
                                       any_input_size=not fixed_input)
    out.print(f"model@{commit.branch} {commit.id} {when(commit.created_at)}  {commit.description}")


@rules_app.command("validate", epilog=examples("rules validate"))
def rules_validate(file: Annotated[Path, typer.Argument(help="rule.json (2017) or a native YAML rule set.")],
                   json: JsonOpt = False) -> None:
    """Check a rule file (2017 rule.json or native YAML); every error is listed with its line and key."""
    from vigil.domain.rules import parse_ruleset
    from vigil.errors import NotFoundError, SpecError

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NotFoundError(f"cannot read {file}: {exc}", "check the path") from exc
    try:
        rules = parse_ruleset(text, str(file))
    except SpecError as exc:
        if json:
            emit_json({"file": str(file), "valid": False, "errors": exc.problems})
            raise typer.Exit(exc.exit_code) from exc
        raise
    if json:
        return emit_json({"file": str(file), "valid": True, "rules": [r.id for r in rules.rules],
                          "version": rules.fingerprint()})
    out.print(f"{file}: valid, {len(rules.rules)} rule(s): {', '.join(r.id for r in rules.rules)} "
              f"(version {rules.fingerprint()})", markup=False)


@rules_app.command("test", epilog=examples("rules test"))
def rules_test(file: Annotated[Path, typer.Argument(help="The rule file to back-test.")],
               since: Annotated[str | None, typer.Option(help="Only frames at/after this time (ISO or unix).")] = None,
               commit: Annotated[str | None, typer.Option(help="Detections at this detect commit/ref.")] = None,
               json: JsonOpt = False) -> None:
    """Back-test a rule set over stored detections: list the events it would have raised (nothing is sent)."""
    events = state.app().rules_test(file, ref=commit, since=_parse_since(since))
    if json:
        return emit_json(events)
    print_table(["time", "camera", "rule", "severity", "objects"],
                ([when(float(e["ts"])), e["device"], e["rule_id"], e["severity"],  # type: ignore[arg-type]
                  ", ".join(f"{o['label']} {o['score']:.2f}" for o in e["objects"])]  # type: ignore[attr-defined]
                 for e in events))
    out.print(f"{len(events)} event(s) would have been raised")


def _parse_since(value: str | None) -> int | None:
    from datetime import UTC, datetime

    from vigil.errors import UsageError

    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"--since {value!r} is not a time", "use ISO 8601 (2017-11-28T18:00) or unix seconds") from exc
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp())
