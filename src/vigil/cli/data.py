"""Versioned-data commands: init, repo, branch, put, rm, get, ls, log, diff, inspect, lineage, fsck, gc.

Thin: parse, one call into the application API (imported inside each command: start-up), shape the output.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vigil.cli.console import emit_json, err, out, size, when
from vigil.cli.manual import examples
from vigil.cli.state import state
from vigil.cli.tables import print_fields, print_table
from vigil.errors import UsageError

if TYPE_CHECKING:
    from vigil.store.models import Change, CommitInfo

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output (see docs/json.md).")]
MsgOpt = Annotated[str, typer.Option("-m", "--message", help="Commit message.")]
STDOUT = "-"

repo_app = typer.Typer(help="Create, list, inspect and delete repos.", no_args_is_help=True)
branch_app = typer.Typer(help="Create and list branches.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(repo_app, name="repo")
    app.add_typer(branch_app, name="branch")
    for fn in (init, put, rm, get, ls, log, diff, inspect, lineage, fsck, gc, migrate):
        app.command(epilog=examples(fn.__name__))(fn)


def init(folder: Annotated[Path, typer.Argument(help="Workspace folder.")] = Path(".")) -> None:
    """Create a workspace (.vigil/ with vigil.yaml, a SQLite metadata file and an object folder)."""
    from vigil.app import App

    ws = App.init(folder).workspace
    out.print(f"Initialised Vigil workspace in {ws.root}")


@repo_app.command("create", epilog=examples("repo create"))
def repo_create(name: Annotated[str, typer.Argument(help="Repo name: letters, digits, '_', '.', '-'.")],
                description: Annotated[str, typer.Option("-d", "--description", help="What the repo holds.")] = ""
                ) -> None:
    """Create a repo with a master branch."""
    state.app().store.create_repo(name, description)
    out.print(f"Created repo {name}")


@repo_app.command("list", epilog=examples("repo list"))
def repo_list(json: JsonOpt = False) -> None:
    """List repos."""
    repos = state.app().store.list_repos()
    if json:
        return emit_json([r.to_dict() for r in repos])
    print_table(["repo", "branches", "commits", "read by", "created"],
                ([r.name, ",".join(r.branches), r.n_commits, ",".join(r.readers), when(r.created_at)] for r in repos),
                empty="no repos (create one with `vigil repo create NAME`)")


@repo_app.command("inspect")
def repo_inspect(name: Annotated[str, typer.Argument(help="Repo name.")], json: JsonOpt = False) -> None:
    """Show a repo: branches with their heads, commit count, readers."""
    app = state.app()
    info = app.store.inspect_repo(name)
    heads = app.store.list_branches(name)
    if json:
        return emit_json({**info.to_dict(), "heads": dict(heads)})
    print_fields([("repo", info.name), ("description", info.description or "-"), ("created", when(info.created_at)),
                  ("commits", str(info.n_commits)), ("read by", ", ".join(info.readers) or "-")])
    print_table(["branch", "head"], ([b, h or "(no commits)"] for b, h in heads))


@repo_app.command("delete")
def repo_delete(name: Annotated[str, typer.Argument(help="Repo name.")],
                force: Annotated[bool, typer.Option("--force", help="Even if pipelines read it.")] = False) -> None:
    """Delete a repo and its history (blobs are freed by `vigil gc`)."""
    state.app().store.delete_repo(name, force=force)
    out.print(f"Deleted repo {name}")


@branch_app.command("create", epilog=examples("branch create"))
def branch_create(target: Annotated[str, typer.Argument(metavar="REPO@NAME", help="Repo and new branch name.")],
                  head: Annotated[str | None, typer.Option("--head", help="Start at this commit/ref.")] = None
                  ) -> None:
    """Create a branch, empty or starting at --head."""
    from vigil.store.paths import RepoRef

    ref = RepoRef.parse(target)
    if not ref.ref:
        raise UsageError(f"no branch name in {target!r}", "write REPO@NAME")
    commit = state.app().store.create_branch(ref.repo, ref.ref, head)
    out.print(f"Created branch {ref.repo}@{ref.ref}" + (f" at {commit}" if commit else ""))


@branch_app.command("list")
def branch_list(repo: Annotated[str, typer.Argument(help="Repo name.")], json: JsonOpt = False) -> None:
    """List branches of a repo with their head commits."""
    heads = state.app().store.list_branches(repo)
    if json:
        return emit_json(dict(heads))
    print_table(["branch", "head"], ([b, h or "(no commits)"] for b, h in heads))


def put(target: Annotated[str, typer.Argument(metavar="REPO[@BRANCH][:PATH]",
                                              help="Where to: PATH/ (or the root) is a folder; with - a file.")],
        sources: Annotated[list[str], typer.Argument(metavar="SRC...", help="Files, folders, or - for stdin.")],
        message: MsgOpt = "", json: JsonOpt = False) -> None:
    """Add files to a repo in one commit: files land at PATH/<name>, folders keep their layout.

    Symlinks to files are uploaded under the link's name; dangling links, links to folders and FIFOs are
    skipped and listed. Re-uploading identical files makes no commit. Stdin is limited to VIGIL_STDIN_MAX_MB
    (default 4096)."""
    with _Bar(disabled=json) as bar:
        result = state.app().put(target, sources, message, progress=bar.update)
    if json:
        return emit_json(result.to_dict())
    for skipped in result.skipped:
        err.print(f"skipped {skipped.source}: {skipped.reason}", markup=False, highlight=False)
    commit = result.commit
    if not result.changed:
        out.print(f"{commit.repo}@{commit.branch} {commit.id}: nothing changed (every file already there, "
                  "no commit made)", markup=False)
        return
    out.print(f"{commit.repo}@{commit.branch} {commit.id}: {_summary(commit)}", markup=False)


class _Bar:
    """A progress bar for long uploads, made only when one is worth showing (50+ files, on a terminal)."""

    def __init__(self, disabled: bool) -> None:
        self.disabled = disabled or not err.is_terminal
        self.bar: Any = None
        self.task: Any = None

    def update(self, done: int, total: int) -> None:
        if self.disabled or total < 50:
            return
        if self.bar is None:
            from rich.progress import Progress

            self.bar = Progress(console=err.real, transient=True)
            self.bar.start()
            self.task = self.bar.add_task("uploading", total=total)
        self.bar.update(self.task, completed=done)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def rm(targets: Annotated[list[str], typer.Argument(metavar="REPO[@BRANCH]:PATH...", help="Files or folders.")],
       message: MsgOpt = "", json: JsonOpt = False) -> None:
    """Delete files or folders in one commit."""
    commit = state.app().rm(targets, message)
    if json:
        return emit_json(commit.to_dict())
    out.print(f"{commit.repo}@{commit.branch} {commit.id}: {_summary(commit)}", markup=False)


def get(target: Annotated[str, typer.Argument(metavar="REPO@REF:PATH", help="The file to read.")],
        output: Annotated[Path | None, typer.Option("-o", "--output",
                                                    help="Write here instead of stdout (- is stdout).")] = None
        ) -> None:
    """Read a file at a commit (to stdout, or -o FILE)."""
    from vigil.store.paths import RepoRef

    ref = RepoRef.parse(target)
    if not ref.path or ref.path == "/":
        raise UsageError("get needs a file path", "write REPO@REF:PATH")
    to_stdout = output is None or str(output) == STDOUT
    if output is not None and not to_stdout:
        _check_output(output)
    app = state.app()
    with app.store.open(ref.repo, ref.ref, ref.path) as src:
        if to_stdout:
            _copy(src, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        assert output is not None
        tmp = output.with_name(output.name + ".part")
        try:
            with open(tmp, "wb") as dst:
                _copy(src, dst)
            tmp.replace(output)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _check_output(output: Path) -> None:
    """A user error, not an internal one, for an -o that cannot be written: a folder, or a missing parent."""
    if output.is_dir():
        raise UsageError(f"{output} is a directory", "give a file name to -o, e.g. -o out.jpg")
    parent = output.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {output}: the folder {parent} does not exist",
                         f"create it first (mkdir -p {parent}) or choose another path")


def _copy(src: Any, dst: Any) -> None:
    import shutil

    shutil.copyfileobj(src, dst, 1 << 20)


def ls(target: Annotated[str, typer.Argument(metavar="REPO[@REF][:PATH|GLOB]", help="What to list.")],
       json: JsonOpt = False) -> None:
    """List files at a commit (recursively under PATH, or matching GLOB: * ? [..] within a segment, ** across)."""
    files = state.app().ls(target)
    if json:
        return emit_json([f.to_dict() for f in files])
    print_table(["oid", "size", "path"], ([f.oid, size(f.size), f.path] for f in files), empty="no files")


def log(target: Annotated[str, typer.Argument(metavar="REPO[@BRANCH]", help="Repo (and branch).")],
        limit: Annotated[int | None, typer.Option("-n", help="At most this many commits.")] = None,
        json: JsonOpt = False) -> None:
    """Commit history, newest first."""
    from vigil.store import history
    from vigil.store.paths import RepoRef

    ref = RepoRef.parse(target)
    commits = history.log(state.app().store, ref.repo, ref.ref, limit)
    if json:
        return emit_json([c.to_dict() for c in commits])
    print_table(["commit", "time", "origin", "changes", "message"],
                ([c.id, when(c.created_at), c.origin, _summary(c), c.description] for c in commits),
                empty="no commits")


def diff(a: Annotated[str, typer.Argument(metavar="REPO@A", help="From this commit.")],
         b: Annotated[str, typer.Argument(metavar="REPO@B", help="To this commit.")],
         json: JsonOpt = False) -> None:
    """What changed from A to B (added, modified, deleted paths)."""
    changes = state.app().diff(a, b)
    if json:
        return emit_json([c.to_dict() for c in changes])
    _print_changes(changes)


def inspect(target: Annotated[str, typer.Argument(metavar="REPO@REF", help="A branch, commit or ancestor.")],
            json: JsonOpt = False) -> None:
    """Show one commit: id, parent, origin, provenance and its changes."""
    from vigil.store import history
    from vigil.store.paths import RepoRef

    ref = RepoRef.parse(target)
    app = state.app()
    commit = app.store.resolve(ref.repo, ref.ref)
    changes = history.changes(app.store, ref.repo, commit.id)
    if json:
        return emit_json({**commit.to_dict(), "changes": [c.to_dict() for c in changes]})
    print_fields([("commit", commit.id), ("repo", f"{commit.repo}@{commit.branch}"), ("parent", commit.parent or "-"),
                  ("time", when(commit.created_at)), ("origin", commit.origin),
                  ("message", commit.description or "-"), ("from", ", ".join(commit.provenance) or "-"),
                  ("changes", _summary(commit))])
    _print_changes(changes[:50])
    if len(changes) > 50:
        out.print(f"... and {len(changes) - 50} more (use --json)")


def lineage(target: Annotated[str, typer.Argument(metavar="REPO@REF[:PATH]", help="A commit, or a file in it.")],
            json: JsonOpt = False) -> None:
    """Provenance both ways: the commits this came from, and those made from it."""
    data: dict[str, Any] = state.app().lineage(target)
    if json:
        return emit_json(data)
    out.print(data["commit"], markup=False)
    if data["file"]:
        f = data["file"]
        out.print(f"file {f['path']}  {size(f['size'])}  oid {f['oid']}", markup=False)
    for title, key in (("came from", "upstream"), ("made into", "downstream")):
        nodes = [n for n in data[key] if n["depth"] > 0]
        out.print(f"{title}: {'nothing' if not nodes else ''}".rstrip())
        for n in nodes:
            out.print(f"{'  ' * n['depth']}{n['repo']}@{n['commit']}  ({n['origin']})", markup=False)


def fsck(repair: Annotated[bool, typer.Option("--repair", help="Remove damaged blobs, so that putting the "
                                                 "original files again heals every file that uses them.")] = False,
         json: JsonOpt = False) -> None:
    """Re-hash every blob and check every reference; name every repo/path/commit that uses a damaged blob;
    exit 7 if anything is wrong."""
    report = state.app().fsck(repair=repair)
    if json:
        emit_json(report.to_dict())
    else:
        erased = f"; {report.erased} deleted by retention (hashes kept)" if report.erased else ""
        out.print(f"checked {report.objects_checked} objects ({size(report.bytes_checked)}){erased}")
        damaged = {d.oid for d in report.damaged}
        for p in report.problems:
            if not any(oid in p for oid in damaged):
                out.print(f"[red]problem[/] {p}")
        for d in report.damaged:
            out.print(f"problem: blob {d.oid} {d.problem}" + (" (removed)" if d.removed else ""), markup=False)
            for ref in d.references:
                out.print(f"  used by {ref}", markup=False)
        if any(d.removed for d in report.damaged):
            out.print("put the original files named above again (`vigil put`), or restore the blobs "
                      "from a replica, then run `vigil fsck`", markup=False)
        elif report.damaged:
            out.print("run `vigil fsck --repair`, then put the original files named above again", markup=False)
        out.print("[green]ok[/]" if report.ok else f"[red]{len(report.problems)} problem(s)[/]")
    if not report.ok:
        raise typer.Exit(7)


def migrate(check: Annotated[bool, typer.Option("--check", help="Only say whether an upgrade is needed "
                                                                "(exit 1 if so).")] = False,
            json: JsonOpt = False) -> None:
    """Upgrade the workspace's metadata schema to this Vigil's (done automatically on open unless
    `migrate: manual` is set in .vigil/vigil.yaml). Back up .vigil/ or the database first."""
    from vigil.app import App
    from vigil.store.migrations import HEAD

    before, after = App.migrate(state.workspace, check=check)
    needed = before != HEAD
    if json:
        emit_json({"before": before, "after": after, "head": HEAD, "upgrade_needed": needed and check})
    elif check:
        out.print(f"schema {before or 'none (Vigil 0.1)'}; this Vigil needs {HEAD}: "
                  f"{'run `vigil migrate`' if needed else 'up to date'}", markup=False)
    else:
        out.print(f"schema {before or 'none (Vigil 0.1)'} -> {after}" if needed else f"schema {after}: up to date",
                  markup=False)
    if check and needed:
        raise typer.Exit(1)


def gc(grace: Annotated[float, typer.Option(help="Keep unreferenced blobs younger than this many seconds.")] = 3600,
       json: JsonOpt = False) -> None:
    """Remove blobs that no commit references, and abandoned temporary uploads."""
    report = state.app().gc(grace)
    if json:
        return emit_json(report.to_dict())
    out.print(f"removed {report.removed_objects} objects ({size(report.removed_bytes)}) and "
              f"{report.removed_temporaries} temporary file(s), kept {report.kept_objects}")


def _summary(c: CommitInfo) -> str:
    return f"+{c.n_added} ~{c.n_modified} -{c.n_deleted} ({size(c.bytes_added)} new)"


def _print_changes(changes: list[Change]) -> None:
    marks = {"added": "+", "modified": "~", "deleted": "-"}
    colours = {"+": "green", "~": "yellow", "-": "red"}
    print_table(["", "path"], ([marks[c.kind], c.path] for c in changes), colour={"": colours.get},
                empty="no changes")
