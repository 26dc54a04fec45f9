"""Pipeline commands: pipeline validate|create|update|list|inspect|delete|draw, run, job, datum, logs."""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from vigil.app import serve_worker
from vigil.cli.console import emit_json, out, when
from vigil.cli.state import state
from vigil.errors import NotFoundError, PipelineError
from vigil.pipeline import datum_records, registry
from vigil.pipeline.draw import draw_dag
from vigil.pipeline.jobs import FAILURE, JobInfo, get_job, list_jobs
from vigil.pipeline.spec import load_specs

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
pipeline_app = typer.Typer(help="Define pipelines (Pachyderm-compatible specs).", no_args_is_help=True)
job_app = typer.Typer(help="Jobs: one run of a pipeline over new input.", no_args_is_help=True)
datum_app = typer.Typer(help="Datums: the units of work of a job.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(pipeline_app, name="pipeline")
    app.add_typer(job_app, name="job")
    app.add_typer(datum_app, name="datum")
    app.command()(run)
    app.command()(logs)
    app.command(hidden=True)(worker)


@pipeline_app.command("validate")
def validate(file: Path) -> None:
    """Check a spec file (JSON/YAML, one or several specs) without creating anything."""
    specs = load_specs(file)
    out.print(f"{file}: {len(specs)} valid pipeline spec(s): {', '.join(s.name for s in specs)}")


@pipeline_app.command("create")
def create(file: Path) -> None:
    """Create the pipelines in a spec file (and their output repos)."""
    for p in state.app().create_pipelines(file):
        out.print(f"Created pipeline {p.name} (version {p.version[:12]})")


@pipeline_app.command("update")
def update(file: Path, reprocess: Annotated[bool, typer.Option(help="Re-run every datum.")] = False) -> None:
    """Update pipelines; finished datums are kept unless --reprocess."""
    for p in state.app().create_pipelines(file, update=True, reprocess=reprocess):
        out.print(f"Updated pipeline {p.name} (version {p.version[:12]})")


@pipeline_app.command("list")
def list_(json: JsonOpt = False) -> None:
    """List pipelines, upstream first, with their last job."""
    store = state.app().store
    pipelines = registry.list_pipelines(store)
    last = {p.name: next(iter(list_jobs(store, p.name, 1)), None) for p in pipelines}
    if json:
        return emit_json([{**p.to_dict(), "last_job": (j.to_dict() if (j := last[p.name]) else None)}
                          for p in pipelines])
    table = Table("pipeline", "inputs", "transform", "last job", "state")
    for p in pipelines:
        j = last[p.name]
        ins = ", ".join(f"{r}:{g}" for r, g in ((x.repo, x.glob) for x in p.spec.input.walk()))
        tr = p.spec.transform
        table.add_row(p.name, ins, tr.stage or tr.python or " ".join(tr.cmd or []), j.id[:12] if j else "-",
                      _state(j.state) if j else "-")
    out.print(table)


@pipeline_app.command("inspect")
def inspect(name: str, json: JsonOpt = False) -> None:
    """Show a pipeline's spec and version."""
    p = registry.get_pipeline(state.app().store, name)
    if json:
        return emit_json(p.to_dict())
    out.print(f"[bold]{p.name}[/] version {p.version[:12]}, created {when(p.created_at)}")
    out.print(jsonlib.dumps(p.spec.model_dump(mode="json", exclude_defaults=True), indent=2))


@pipeline_app.command("delete")
def delete(name: str, keep_repo: Annotated[bool, typer.Option(help="Keep the output repo.")] = False) -> None:
    """Delete a pipeline (and its output repo unless --keep-repo)."""
    registry.delete_pipeline(state.app().store, name, keep_repo=keep_repo)
    out.print(f"Deleted pipeline {name}")


@pipeline_app.command("draw")
def draw(files: Annotated[list[Path] | None, typer.Argument(help="Spec files; default: the workspace's.")] = None
         ) -> None:
    """Draw the DAG of repos and pipelines as text."""
    specs = ([s for f in files for s in load_specs(f)] if files
             else [p.spec for p in registry.list_pipelines(state.app().store)])
    out.print(draw_dag(specs) or "(no pipelines)")


def run(pipeline: Annotated[str | None, typer.Argument(help="Only this pipeline.")] = None,
        watch: Annotated[bool, typer.Option("--watch", help="Keep running as commits arrive.")] = False,
        interval: Annotated[float, typer.Option(help="Seconds between polls with --watch.")] = 1.0,
        image_map: Annotated[list[str] | None, typer.Option(
            "--image-map", metavar="SPEC_IMAGE=IMAGE",
            help="Run the image a spec names as another (repeatable; adds to containers.image_map).")] = None,
        in_process: Annotated[bool, typer.Option(
            "--in-process", help="Run transforms that name an image in this process instead.")] = False,
        json: JsonOpt = False) -> None:
    """Run every pipeline whose inputs have new commits (upstream first)."""
    app = state.app()
    app.set_containers(image_map or [], enabled=False if in_process else None)
    with _progress(json) as (bar, update):
        while True:
            jobs = app.run(pipeline, progress=update)
            if json and (jobs or not watch):
                emit_json([j.to_dict() for j in jobs])
            elif jobs or not watch:
                _print_jobs(jobs, bar)
            if not watch:
                break
            if not jobs:
                time.sleep(interval)
    if any(j.state == FAILURE for j in jobs):
        raise PipelineError("a job failed", "see `vigil job inspect JOB` and `vigil logs --job JOB`")


def worker(stdio: Annotated[bool, typer.Option("--stdio", help="Serve the protocol on stdin/stdout.")] = False
           ) -> None:
    """Serve a pipeline worker inside a stage's container (the container executor starts it)."""
    if not stdio:
        raise typer.BadParameter("only --stdio is supported", param_hint="--stdio")
    raise typer.Exit(serve_worker())


class _progress:
    """A progress bar per pipeline while jobs run (hidden for --json or when not on a terminal)."""

    def __init__(self, quiet: bool) -> None:
        self.bar = Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=out, transient=True, disable=quiet)
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> tuple[Progress, Callable[[str, int, int], None]]:
        self.bar.start()

        def update(name: str, done: int, total: int) -> None:
            if name not in self.tasks:
                self.tasks[name] = self.bar.add_task(name, total=total)
            self.bar.update(self.tasks[name], completed=done, total=total)

        return self.bar, update

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()


def _print_jobs(jobs: list[JobInfo], _bar: Progress) -> None:
    if not jobs:
        out.print("nothing to do: no pipeline has new input")
        return
    table = Table("pipeline", "job", "state", "datums", "processed", "skipped", "failed", "removed", "seconds")
    for j in jobs:
        table.add_row(j.pipeline, j.id[:12], _state(j.state), str(j.n_total), str(j.n_processed + j.n_recovered),
                      str(j.n_skipped), str(j.n_failed), str(j.n_removed), f"{j.seconds:.2f}")
    out.print(table)
    for j in jobs:
        if j.reason:
            out.print(f"{j.pipeline}: {j.reason}")


def _state(s: str) -> str:
    colour = {"SUCCESS": "green", "FAILURE": "red", "KILLED": "red", "EMPTY": "yellow"}.get(s, "cyan")
    return f"[{colour}]{s}[/]"


@job_app.command("list")
def job_list(pipeline: Annotated[str | None, typer.Option("--pipeline", "-p")] = None,
             limit: Annotated[int, typer.Option("-n")] = 20, json: JsonOpt = False) -> None:
    """Recent jobs, newest first."""
    jobs = list_jobs(state.app().store, pipeline, limit)
    if json:
        return emit_json([j.to_dict() for j in jobs])
    table = Table("job", "pipeline", "state", "started", "datums", "processed", "skipped", "failed", "output")
    for j in jobs:
        table.add_row(j.id[:12], j.pipeline, _state(j.state), when(j.created_at), str(j.n_total),
                      str(j.n_processed), str(j.n_skipped), str(j.n_failed), (j.output_commit or "-")[:12])
    out.print(table)


@job_app.command("inspect")
def job_inspect(job: str, json: JsonOpt = False) -> None:
    """One job: state and reason, inputs, output commit, counts."""
    info = get_job(state.app().store, job)
    if json:
        return emit_json(info.to_dict())
    for key, value in info.to_dict().items():
        out.print(f"{key:<14} {value}")


@job_app.command("wait")
def job_wait(job: str, timeout: Annotated[float, typer.Option(help="Give up after seconds.")] = 600) -> None:
    """Wait until a job finishes; exit non-zero if it did not succeed."""
    store = state.app().store
    deadline = time.monotonic() + timeout
    while (info := get_job(store, job)).state in ("CREATED", "RUNNING"):
        if time.monotonic() > deadline:
            raise PipelineError(f"job {job} still {info.state} after {timeout:.0f} s", "wait longer")
        time.sleep(0.2)
    out.print(f"{info.id} {info.state} {info.reason}")
    if info.state not in ("SUCCESS", "EMPTY"):
        raise typer.Exit(9)


@datum_app.command("list")
def datum_list(job: str, json: JsonOpt = False) -> None:
    """Datums of a job with state, attempts and time."""
    rows = datum_records.for_job(state.app().store, get_job(state.app().store, job).id)
    if json:
        return emit_json(rows)
    table = Table("datum", "state", "attempts", "seconds", "inputs", "error")
    for r in rows:
        table.add_row(r["datum_id"][:12], _state(r["state"]), str(r["attempts"]), f"{r['seconds']:.3f}",
                      " ".join(f"{n}:{root}" for n, _repo, root, _c in r["inputs"]), (r["error"] or "")[:60])
    out.print(table)


@datum_app.command("inspect")
def datum_inspect(pipeline: str, datum: str, json: JsonOpt = False) -> None:
    """One datum: inputs, outputs, attempts, log."""
    rec = datum_records.get(state.app().store, pipeline, datum)
    if json:
        return emit_json(rec)
    for key, value in rec.items():
        out.print(f"{key:<10} {value}")


@datum_app.command("restart")
def datum_restart(pipeline: str, datum: str) -> None:
    """Forget a datum's result so the next `vigil run` processes it again."""
    datum_records.restart(state.app().store, pipeline, datum)
    out.print(f"datum {datum} of {pipeline} will be processed by the next run")


def logs(pipeline: Annotated[str | None, typer.Option("--pipeline", "-p")] = None,
         job: Annotated[str | None, typer.Option("--job", "-j")] = None,
         datum: Annotated[str | None, typer.Option("--datum", "-d")] = None) -> None:
    """Logs of failed or retried datums, by pipeline, job or datum."""
    store = state.app().store
    if not (pipeline or job or datum):
        raise NotFoundError("say whose logs", "pass --pipeline, --job or --datum")
    rows = datum_records.logs(store, pipeline=pipeline, job_id=get_job(store, job).id if job else None,
                              datum=datum)
    if not rows:
        out.print("no log lines (datums that succeeded first time log nothing)")
    for r in rows:
        out.print(f"[bold]{r['pipeline']} datum {r['datum_id'][:12]}[/] ({r['state']}, job {r['job_id'][:12]})")
        out.print(r["log"] or "(empty)", markup=False)
