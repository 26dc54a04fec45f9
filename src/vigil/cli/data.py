"""Versioned-data commands: init, repo, branch, put, rm, get, ls, log, diff, inspect, lineage, fsck, gc."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from vigil.app import App, plan_uploads
from vigil.cli.console import emit_json, out, size, when
from vigil.cli.state import state
from vigil.errors import UsageError
from vigil.store import history
from vigil.store.models import Change, CommitInfo
from vigil.store.paths import RepoRef

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
MsgOpt = Annotated[str, typer.Option("-m", "--message", help="Commit message.")]

repo_app = typer.Typer(help="Create, list, inspect and delete repos.", no_args_is_help=True)
branch_app = typer.Typer(help="Create and list branches.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(repo_app, name="repo")
    app.add_typer(branch_app, name="branch")
    for fn in (init, put, rm, get, ls, log, diff, inspect, lineage, fsck, gc):
        app.command()(fn)


def init(folder: Annotated[Path, typer.Argument(help="Workspace folder.")] = Path(".")) -> None:
    """Create a workspace (.vigil/ with vigil.yaml, a SQLite metadata file and an object folder)."""
    ws = App.init(folder).workspace
    out.print(f"Initialised Vigil workspace in {ws.root}")


@repo_app.command("create")
def repo_create(name: str, description: Annotated[str, typer.Option("-d", "--description")] = "") -> None:
    """Create a repo with a master branch."""
    state.app().store.create_repo(name, description)
    out.print(f"Created repo {name}")


@repo_app.command("list")
def repo_list(json: JsonOpt = False) -> None:
    """List repos."""
    repos = state.app().store.list_repos()
    if json:
        return emit_json([r.to_dict() for r in repos])
    table = Table("repo", "branches", "commits", "read by", "created")
    for r in repos:
        table.add_row(r.name, ", ".join(r.branches), str(r.n_commits), ", ".join(r.readers), when(r.created_at))
    out.print(table)


@repo_app.command("inspect")
def repo_inspect(name: str, json: JsonOpt = False) -> None:
    """Show a repo: branches with their heads, commit count, readers."""
    app = state.app()
    info = app.store.inspect_repo(name)
    heads = app.store.list_branches(name)
    if json:
        return emit_json({**info.to_dict(), "heads": dict(heads)})
    out.print(f"[bold]{info.name}[/]  {info.description}\ncreated {when(info.created_at)}, {info.n_commits} commits")
    for branch, head in heads:
        out.print(f"  {branch:<20} {head or '(no commits)'}")
    if info.readers:
        out.print(f"read by: {', '.join(info.readers)}")


@repo_app.command("delete")
def repo_delete(name: str, force: Annotated[bool, typer.Option("--force", help="Even if pipelines read it.")] = False
                ) -> None:
    """Delete a repo and its history (blobs are freed by `vigil gc`)."""
    state.app().store.delete_repo(name, force=force)
    out.print(f"Deleted repo {name}")


@branch_app.command("create")
def branch_create(target: Annotated[str, typer.Argument(metavar="REPO@NAME")],
                  head: Annotated[str | None, typer.Option("--head", help="Start at this commit/ref.")] = None
                  ) -> None:
    """Create a branch, empty or starting at --head."""
    ref = RepoRef.parse(target)
    if not ref.ref:
        raise UsageError(f"no branch name in {target!r}", "write REPO@NAME")
    commit = state.app().store.create_branch(ref.repo, ref.ref, head)
    out.print(f"Created branch {ref.repo}@{ref.ref}" + (f" at {commit}" if commit else ""))


@branch_app.command("list")
def branch_list(repo: str, json: JsonOpt = False) -> None:
    """List branches of a repo with their head commits."""
    heads = state.app().store.list_branches(repo)
    if json:
        return emit_json(dict(heads))
    for branch, head in heads:
        out.print(f"{branch:<20} {head or '(no commits)'}")


def put(target: Annotated[str, typer.Argument(metavar="REPO[@BRANCH][:PATH]")],
        sources: Annotated[list[str], typer.Argument(metavar="SRC...", help="Files, folders, or - for stdin.")],
        message: MsgOpt = "", json: JsonOpt = False) -> None:
    """Add files to a repo in one commit: files land at PATH/<name>, folders keep their layout."""
    app = state.app()
    total = len(plan_uploads(RepoRef.parse(target).path, sources))
    with Progress(transient=True, disable=json or total < 50 or not out.is_terminal) as bar:
        task = bar.add_task("uploading", total=total)
        commit = app.put(target, sources, message, progress=lambda n: bar.advance(task, n))
    if json:
        return emit_json(commit.to_dict())
    out.print(f"{commit.repo}@{commit.branch} {commit.id}: {_summary(commit)}")


def rm(targets: Annotated[list[str], typer.Argument(metavar="REPO[@BRANCH]:PATH...")], message: MsgOpt = "",
       json: JsonOpt = False) -> None:
    """Delete files or folders in one commit."""
    commit = state.app().rm(targets, message)
    if json:
        return emit_json(commit.to_dict())
    out.print(f"{commit.repo}@{commit.branch} {commit.id}: {_summary(commit)}")


def get(target: Annotated[str, typer.Argument(metavar="REPO@REF:PATH")],
        output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")] = None
        ) -> None:
    """Read a file at a commit (to stdout, or -o FILE)."""
    ref = RepoRef.parse(target)
    if not ref.path or ref.path == "/":
        raise UsageError("get needs a file path", "write REPO@REF:PATH")
    if output is not None and output.is_dir():
        raise UsageError(f"{output} is a directory", "give a file name to -o, e.g. -o out.jpg")
    app = state.app()
    with app.store.open(ref.repo, ref.ref, ref.path) as src:
        if output is None:
            shutil.copyfileobj(src, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        tmp = output.with_name(output.name + ".part")
        with open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        tmp.replace(output)


def ls(target: Annotated[str, typer.Argument(metavar="REPO[@REF][:PATH|GLOB]")], json: JsonOpt = False) -> None:
    """List files at a commit (recursively under PATH, or matching GLOB: * ? [..] within a segment, ** across)."""
    files = state.app().ls(target)
    if json:
        return emit_json([f.to_dict() for f in files])
    for f in files:
        out.print(f"{f.oid[:12]}  {size(f.size):>10}  {f.path}")


def log(target: Annotated[str, typer.Argument(metavar="REPO[@BRANCH]")],
        limit: Annotated[int | None, typer.Option("-n", help="At most this many commits.")] = None,
        json: JsonOpt = False) -> None:
    """Commit history, newest first."""
    ref = RepoRef.parse(target)
    commits = history.log(state.app().store, ref.repo, ref.ref, limit)
    if json:
        return emit_json([c.to_dict() for c in commits])
    for c in commits:
        out.print(f"[yellow]{c.id}[/] {when(c.created_at)} {c.origin}  {_summary(c)}")
        if c.description:
            out.print(f"    {c.description}")


def diff(a: Annotated[str, typer.Argument(metavar="REPO@A")], b: Annotated[str, typer.Argument(metavar="REPO@B")],
         json: JsonOpt = False) -> None:
    """What changed from A to B (added, modified, deleted paths)."""
    changes = state.app().diff(a, b)
    if json:
        return emit_json([c.to_dict() for c in changes])
    _print_changes(changes)


def inspect(target: Annotated[str, typer.Argument(metavar="REPO@REF")], json: JsonOpt = False) -> None:
    """Show one commit: id, parent, origin, provenance and its changes."""
    ref = RepoRef.parse(target)
    app = state.app()
    commit = app.store.resolve(ref.repo, ref.ref)
    changes = history.changes(app.store, ref.repo, commit.id)
    if json:
        return emit_json({**commit.to_dict(), "changes": [c.to_dict() for c in changes]})
    out.print(f"commit [yellow]{commit.id}[/] in {commit.repo}@{commit.branch}\nparent  {commit.parent or '-'}\n"
              f"time    {when(commit.created_at)}\norigin  {commit.origin}\nmessage {commit.description or '-'}")
    if commit.provenance:
        out.print("from    " + ", ".join(commit.provenance))
    out.print(_summary(commit))
    _print_changes(changes[:50])
    if len(changes) > 50:
        out.print(f"... and {len(changes) - 50} more (use --json)")


def lineage(target: Annotated[str, typer.Argument(metavar="REPO@REF[:PATH]")], json: JsonOpt = False) -> None:
    """Provenance both ways: the commits this came from, and those made from it."""
    data = state.app().lineage(target)
    if json:
        return emit_json(data)
    out.print(f"[bold]{data['commit']}[/]")
    if data["file"]:
        out.print(f"file {data['file']}")
    for title, key in (("came from", "upstream"), ("made into", "downstream")):
        nodes = [n for n in data[key] if n["depth"] > 0]  # type: ignore[attr-defined]
        out.print(f"{title}: {'nothing' if not nodes else ''}")
        for n in nodes:
            out.print(f"{'  ' * n['depth']}{n['repo']}@{n['commit']}  ({n['origin']})")


def fsck(json: JsonOpt = False) -> None:
    """Re-hash every blob and check every reference; exit 7 if anything is wrong."""
    report = state.app().fsck()
    if json:
        emit_json(report.to_dict())
    else:
        out.print(f"checked {report.objects_checked} objects ({size(report.bytes_checked)})")
        for p in report.problems:
            out.print(f"[red]problem[/] {p}")
        out.print("[green]ok[/]" if report.ok else f"[red]{len(report.problems)} problem(s)[/]")
    if not report.ok:
        raise typer.Exit(7)


def gc(grace: Annotated[float, typer.Option(help="Keep unreferenced blobs younger than this many seconds.")] = 3600,
       json: JsonOpt = False) -> None:
    """Remove blobs that no commit references."""
    report = state.app().gc(grace)
    if json:
        return emit_json(report.to_dict())
    out.print(f"removed {report.removed_objects} objects ({size(report.removed_bytes)}), kept {report.kept_objects}")


def _summary(c: CommitInfo) -> str:
    return f"+{c.n_added} ~{c.n_modified} -{c.n_deleted} ({size(c.bytes_added)} new)"


def _print_changes(changes: list[Change]) -> None:
    marks = {"added": "[green]+[/]", "modified": "[yellow]~[/]", "deleted": "[red]-[/]"}
    for c in changes:
        out.print(f"{marks[c.kind]} {c.path}")
