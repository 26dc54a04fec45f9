"""Pipeline commands: pipeline validate|create|update|apply|list|inspect|delete|draw, run, job, datum, logs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vigil.cli.console import emit_json, out, terminate_on_sigterm, when
from vigil.cli.manual import examples
from vigil.cli.state import state
from vigil.cli.tables import print_fields, print_table, state_colour
from vigil.cli.views import datum_view, job_view, pipeline_view
from vigil.errors import NotFoundError, PipelineError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from vigil.pipeline.jobs import JobInfo
    from vigil.pipeline.runner import RunReport

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output (see docs/json.md).")]
SpecFile = Annotated[Path, typer.Argument(help="Spec file: JSON or YAML, one or several specs (---).")]
pipeline_app = typer.Typer(help="Define pipelines (Pachyderm-compatible specs).", no_args_is_help=True)
job_app = typer.Typer(help="Jobs: one run of a pipeline over new input.", no_args_is_help=True)
datum_app = typer.Typer(help="Datums: the units of work of a job.", no_args_is_help=True)
STATES = {"state": state_colour}
VERB = {"created": "create", "updated": "update", "unchanged": "keep"}


def register(app: typer.Typer) -> None:
    app.add_typer(pipeline_app, name="pipeline")
    app.add_typer(job_app, name="job")
    app.add_typer(datum_app, name="datum")
    app.command(epilog=examples("run"))(run)
    app.command(epilog=examples("logs"))(logs)


@pipeline_app.command("validate", epilog=examples("pipeline validate"))
def validate(file: SpecFile, json: JsonOpt = False) -> None:
    """Check a spec file (JSON/YAML, one or several specs) without creating anything: every check `create`
    makes (stage params, input repos, cycles with the workspace's pipelines) when a workspace is found."""
    from vigil.app import load_checked_specs
    from vigil.errors import WorkspaceError

    try:
        plan = state.app().check_pipelines(file)
    except WorkspaceError:  # no workspace: the checks of the file alone
        plan = None
    names = [s.name for s, _ in plan] if plan is not None else [s.name for s in load_checked_specs(file)]
    if json:
        return emit_json({"file": str(file), "valid": True, "pipelines": names,
                          "workspace_checked": plan is not None,
                          "actions": {s.name: a for s, a in plan} if plan is not None else None})
    checked = ("; checked against the workspace (apply would: "
               + ", ".join(f"{VERB[a]} {s.name}" for s, a in plan) + ")"
               if plan is not None else "; no workspace: input repos and the existing DAG not checked")
    out.print(f"{file}: {len(names)} valid pipeline spec(s): {', '.join(names)}{checked}", markup=False)


@pipeline_app.command("create", epilog=examples("pipeline create"))
def create(file: SpecFile) -> None:
    """Create the pipelines in a spec file (and their output repos)."""
    for p in state.app().create_pipelines(file):
        out.print(f"Created pipeline {p.name} (version {p.version})")


@pipeline_app.command("update")
def update(file: SpecFile, reprocess: Annotated[bool, typer.Option(help="Re-run every datum.")] = False) -> None:
    """Update pipelines; finished datums are kept unless --reprocess."""
    for p in state.app().create_pipelines(file, update=True, reprocess=reprocess):
        out.print(f"Updated pipeline {p.name} (version {p.version})")


@pipeline_app.command("apply", epilog=examples("pipeline apply"))
def apply(file: SpecFile, reprocess: Annotated[bool, typer.Option(help="Re-run every datum of updated "
                                                                       "pipelines.")] = False,
          json: JsonOpt = False) -> None:
    """Create or update each pipeline of a spec file, all or nothing; unchanged ones are left alone (idempotent,
    like `kubectl apply`)."""
    done = state.app().apply_pipelines(file, reprocess=reprocess)
    if json:
        return emit_json([{"name": p.name, "action": a, "version": p.version} for p, a in done])
    for p, action in done:
        out.print(f"{p.name}: {action} (version {p.version})", markup=False)


@pipeline_app.command("list")
def list_(json: JsonOpt = False) -> None:
    """List pipelines, upstream first, with their last job."""
    from vigil.pipeline import registry
    from vigil.pipeline.jobs import list_jobs

    store = state.app().store
    pipelines = registry.list_pipelines(store)
    last = {p.name: next(iter(list_jobs(store, p.name, 1)), None) for p in pipelines}
    if json:
        return emit_json([{**pipeline_view(p), "last_job": (job_view(j) if (j := last[p.name]) else None)}
                          for p in pipelines])
    rows = []
    for p in pipelines:
        j = last[p.name]
        ins = ", ".join(f"{x.repo}:{x.glob}" for x in p.spec.input.walk())
        tr = p.spec.transform
        backoff = (f"after {p.failures} failure(s), next try {when(p.retry_at)}"
                   if p.retry_at is not None and p.failures else "-")
        rows.append([p.name, ins, tr.stage or tr.python or " ".join(tr.cmd or []), j.id if j else "-",
                     j.state if j else "-", backoff])
    print_table(["pipeline", "inputs", "transform", "last job", "state", "backing off"], rows, colour=STATES,
                empty="no pipelines (create them with `vigil pipeline create FILE`)")


@pipeline_app.command("inspect")
def inspect(name: Annotated[str, typer.Argument(help="Pipeline name.")], json: JsonOpt = False) -> None:
    """Show a pipeline's spec and version."""
    import json as jsonlib

    from vigil.pipeline import registry

    p = registry.get_pipeline(state.app().store, name)
    if json:
        return emit_json(pipeline_view(p))
    print_fields([("pipeline", p.name), ("version", p.version), ("created", when(p.created_at)),
                  ("failures", str(p.failures)), ("next try", when(p.retry_at) if p.retry_at else "-"),
                  ("last error", p.last_error or "-")])
    out.print(jsonlib.dumps(p.spec.model_dump(mode="json", exclude_defaults=True), indent=2), markup=False)


@pipeline_app.command("delete")
def delete(name: Annotated[str, typer.Argument(help="Pipeline name.")],
           keep_repo: Annotated[bool, typer.Option(help="Keep the output repo.")] = False) -> None:
    """Delete a pipeline (and its output repo unless --keep-repo)."""
    from vigil.pipeline import registry

    registry.delete_pipeline(state.app().store, name, keep_repo=keep_repo)
    out.print(f"Deleted pipeline {name}")


@pipeline_app.command("draw")
def draw(files: Annotated[list[Path] | None, typer.Argument(help="Spec files; default: the workspace's.")] = None
         ) -> None:
    """Draw the DAG of repos and pipelines as text."""
    from vigil.pipeline import registry
    from vigil.pipeline.draw import draw_dag
    from vigil.pipeline.spec import load_specs

    specs = ([s for f in files for s in load_specs(f)] if files
             else [p.spec for p in registry.list_pipelines(state.app().store)])
    out.print(draw_dag(specs) or "(no pipelines)", markup=False)


def run(pipeline: Annotated[str | None, typer.Argument(help="Only this pipeline (even if it is backing off).")] = None,
        watch: Annotated[bool, typer.Option("--watch", help="Keep running as commits arrive (never exits on "
                                                               "a failure; stop with Ctrl-C or SIGTERM).")] = False,
        interval: Annotated[float, typer.Option(help="Seconds between polls with --watch.")] = 1.0,
        force: Annotated[bool, typer.Option("--force", help="Run even without new input, and pipelines that "
                                                              "are backing off.")] = False,
        image_map: Annotated[list[str] | None, typer.Option(
            "--image-map", metavar="SPEC_IMAGE=IMAGE",
            help="Run the image a spec names as another (repeatable; adds to containers.image_map).")] = None,
        in_process: Annotated[bool, typer.Option(
            "--in-process", help="Run transforms that name an image in this process instead.")] = False,
        json: JsonOpt = False) -> None:
    """Run every pipeline whose inputs have new commits (upstream first). A pipeline that fails is recorded and
    backs off; the others go on. Exits non-zero if any pipeline or datum failed."""
    app = state.app()
    app.set_containers(image_map or [], enabled=False if in_process else None)
    with _progress(json) as (bar, update), terminate_on_sigterm():
        if watch:
            app.watch(interval=interval, progress=update,
                      on_report=lambda report: _show_report(report, json, bar, watching=True))
            return
        report = app.run_pipelines(pipeline, force=force, progress=update)
        _show_report(report, json, bar, watching=False)
    if report.failed:
        names = sorted(set(report.errors) | {j.pipeline for j in report.jobs if j.state not in ("SUCCESS", "EMPTY")})
        raise PipelineError(f"pipeline(s) failed: {', '.join(names)}",
                            "see `vigil job inspect JOB` and `vigil logs --job JOB`; fixed inputs or code are "
                            "picked up by the next run")


def _show_report(report: RunReport, json: bool, bar: Progress, *, watching: bool) -> None:
    if json:
        emit_json({"jobs": [job_view(j) for j in report.jobs], "skipped": report.skipped,
                   "errors": {name: str(exc) for name, exc in report.errors.items()}})
        return
    if report.jobs or not watching:
        _print_jobs(report.jobs, bar, quiet_if_none=bool(report.skipped or report.errors))
    for name, why in sorted(report.skipped.items()):
        out.print(f"skipped {name}: {why}", markup=False)
    for name, exc in sorted(report.errors.items()):
        out.print(f"failed {name}: {exc}", markup=False)


class _progress:
    """A progress bar per pipeline while jobs run (hidden for --json or when not on a terminal)."""

    def __init__(self, quiet: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=out.real, transient=True, disable=quiet)
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


def _print_jobs(jobs: list[JobInfo], _bar: Progress, *, quiet_if_none: bool = False) -> None:
    if not jobs:
        if not quiet_if_none:
            out.print("nothing to do: no pipeline has new input")
        return
    print_table(["pipeline", "job", "state", "datums", "processed", "skipped", "failed", "removed", "seconds"],
                ([j.pipeline, j.id, j.state, j.n_total, j.n_processed + j.n_recovered, j.n_skipped, j.n_failed,
                  j.n_removed, f"{j.seconds:.2f}"] for j in jobs), colour=STATES)
    for j in jobs:
        if j.reason:
            out.print(f"{j.pipeline}: {j.reason}", markup=False)


@job_app.command("list", epilog=examples("job list"))
def job_list(pipeline: Annotated[str | None, typer.Option("--pipeline", "-p", help="Only this pipeline's jobs.")]
             = None,
             limit: Annotated[int, typer.Option("-n", "--limit", help="At most this many jobs.")] = 20,
             json: JsonOpt = False) -> None:
    """Recent jobs, newest first."""
    from vigil.pipeline.jobs import list_jobs

    jobs = list_jobs(state.app().store, pipeline, limit)
    if json:
        return emit_json([job_view(j) for j in jobs])
    print_table(["job", "pipeline", "state", "started", "datums", "processed", "skipped", "failed", "output"],
                ([j.id, j.pipeline, j.state, when(j.created_at), j.n_total, j.n_processed, j.n_skipped, j.n_failed,
                  j.output_commit or "-"] for j in jobs), colour=STATES, empty="no jobs yet (run `vigil run`)")


@job_app.command("inspect", epilog=examples("job inspect"))
def job_inspect(job: Annotated[str, typer.Argument(help="Job id or a unique prefix.")], json: JsonOpt = False
                ) -> None:
    """One job: state and reason, inputs, output commit, counts."""
    from vigil.pipeline.jobs import get_job

    info = get_job(state.app().store, job)
    if json:
        return emit_json(job_view(info))
    print_fields([
        ("job", info.id), ("pipeline", f"{info.pipeline} (version {info.version})"), ("state", info.state),
        ("reason", info.reason or "-"), ("started", when(info.created_at)), ("finished", when(info.finished_at)),
        ("seconds", f"{info.seconds:.2f}"),
        ("inputs", ", ".join(f"{name}: {repo}@{commit}" for name, (repo, commit) in sorted(info.inputs.items()))
         or "-"),
        ("output", info.output_commit or "-"),
        ("datums", f"{info.n_total} ({info.n_processed} processed, {info.n_recovered} recovered, "
                   f"{info.n_skipped} skipped, {info.n_failed} failed, {info.n_removed} removed)"),
    ])


@job_app.command("wait")
def job_wait(job: Annotated[str, typer.Argument(help="Job id or a unique prefix.")],
             timeout: Annotated[float, typer.Option(help="Give up after seconds.")] = 600) -> None:
    """Wait until a job finishes; exit non-zero if it did not succeed."""
    from vigil.pipeline.jobs import get_job

    store = state.app().store
    deadline = time.monotonic() + timeout
    while (info := get_job(store, job)).state in ("CREATED", "RUNNING"):
        if time.monotonic() > deadline:
            raise PipelineError(f"job {job} still {info.state} after {timeout:.0f} s", "wait longer")
        time.sleep(0.2)
    out.print(f"{info.id} {info.state} {info.reason}", markup=False)
    if info.state not in ("SUCCESS", "EMPTY"):
        raise typer.Exit(PipelineError.exit_code)


@datum_app.command("list", epilog=examples("datum list"))
def datum_list(job: Annotated[str, typer.Argument(help="Job id or a unique prefix.")], json: JsonOpt = False
               ) -> None:
    """Datums of a job with state, attempts and time."""
    from vigil.pipeline import datum_records
    from vigil.pipeline.jobs import get_job

    store = state.app().store
    rows = [datum_view(r) for r in datum_records.for_job(store, get_job(store, job).id)]
    if json:
        return emit_json(rows)
    print_table(["datum", "state", "attempts", "seconds", "inputs", "error"],
                ([r["id"], r["state"], r["attempts"], f"{r['seconds']:.3f}", _inputs(r), r["error"] or "-"]
                 for r in rows), colour=STATES, empty="no datums")


def _inputs(view: dict[str, Any]) -> str:
    return " ".join(f"{i['name']}:{i['root']}" for i in view["inputs"])


@datum_app.command("inspect", epilog=examples("datum inspect"))
def datum_inspect(pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
                  datum: Annotated[str, typer.Argument(help="Datum id or a unique prefix.")],
                  json: JsonOpt = False) -> None:
    """One datum: inputs, outputs, attempts, log."""
    from vigil.pipeline import datum_records

    view = datum_view(datum_records.get(state.app().store, pipeline, datum))
    if json:
        return emit_json(view)
    print_fields([("datum", view["id"]), ("pipeline", view["pipeline"]), ("job", view["job_id"]),
                  ("state", view["state"]), ("committed", "yes" if view["committed"] else "no"),
                  ("attempts", str(view["attempts"])), ("seconds", f"{view['seconds']:.3f}"),
                  ("error", view["error"] or "-")])
    out.print("inputs:")
    print_table(["name", "repo", "root", "files"], ([i["name"], i["repo"], i["root"], i["files"]]
                                                   for i in view["inputs"]))
    outputs = view.get("committed_outputs") or {}
    out.print(f"outputs: {'none' if not outputs else ''}".rstrip())
    if outputs:
        print_table(["path", "oid"], sorted(outputs.items()))
    out.print("log:" + (" (empty)" if not view["log"] else ""))
    if view["log"]:
        out.print(view["log"], markup=False, highlight=False)


@datum_app.command("restart")
def datum_restart(pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
                  datum: Annotated[str, typer.Argument(help="Datum id or a unique prefix.")]) -> None:
    """Forget a datum's result so the next `vigil run` processes it again."""
    from vigil.pipeline import datum_records

    datum_records.restart(state.app().store, pipeline, datum)
    out.print(f"datum {datum} of {pipeline} will be processed by the next run", markup=False)


@datum_app.command("retry")
def datum_retry(pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
                datum: Annotated[str | None, typer.Argument(help="Datum id or prefix (default: every failed datum).")]
                = None) -> None:
    """Retry failed datums at the next `vigil run` instead of after their back-off."""
    from vigil.pipeline import datum_records

    n = datum_records.retry(state.app().store, pipeline, datum)
    out.print(f"{n} failed datum(s) of {pipeline} will be retried by the next run", markup=False)


def logs(pipeline: Annotated[str | None, typer.Option("--pipeline", "-p", help="Logs of this pipeline's datums.")]
         = None,
         job: Annotated[str | None, typer.Option("--job", "-j", help="Logs of this job's datums (id or prefix).")]
         = None,
         datum: Annotated[str | None, typer.Option("--datum", "-d", help="Logs of this datum (id or prefix).")]
         = None,
         json: JsonOpt = False) -> None:
    """Logs of failed or retried datums, by pipeline, job or datum."""
    from vigil.pipeline import datum_records
    from vigil.pipeline.jobs import get_job

    store = state.app().store
    if not (pipeline or job or datum):
        raise NotFoundError("say whose logs", "pass --pipeline, --job or --datum")
    rows = [datum_view(r) for r in datum_records.logs(store, pipeline=pipeline,
                                                      job_id=get_job(store, job).id if job else None, datum=datum)]
    if json:
        return emit_json(rows)
    if not rows:
        out.print("no log lines (datums that succeeded first time log nothing)")
    for r in rows:
        out.print(f"{r['pipeline']} datum {r['id']} ({r['state']}, job {r['job_id']})", markup=False)
        out.print(r["log"] or "(empty)", markup=False, highlight=False)
