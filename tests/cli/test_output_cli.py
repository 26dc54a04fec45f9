"""What the CLI prints (issue 18 items 4, 7-11): pipes, plain tables with whole ids, readable inspect output,
`--json` everywhere with one set of keys, help, and paths. Through the real console script."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.console import MISSING, VIGIL
from vigil.app import App
from vigil.cli import manual

pytestmark = pytest.mark.skipif(MISSING, reason="the `vigil` console script is not installed")
REPO = Path(__file__).resolve().parents[2]
NOOP = 'pipeline: {name: copy}\ninput: {pfs: {repo: images, glob: "/*"}}\ntransform: {stage: noop}\n'
BOX = set("│─┃━┏┓┗┛╭╮╰╯┌┐└┘")


def vigil(ws: Path, *args: str, check: bool = True, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "VIGIL_WORKSPACE"}
    proc = subprocess.run([str(VIGIL), "-w", str(ws), *args], env=env, capture_output=True, input=stdin)
    if check:
        assert proc.returncode == 0, f"vigil {' '.join(args)}: {proc.stderr.decode()}"
    return proc


def text(ws: Path, *args: str) -> str:
    return vigil(ws, *args).stdout.decode()


def js(ws: Path, *args: str) -> Any:
    return json.loads(vigil(ws, *args, "--json").stdout)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with two files in `images` and one job of a noop pipeline over them."""
    root = tmp_path_factory.mktemp("out") / "ws"
    src = root.parent / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(b"A" * 10)
    (src / "b.jpg").write_bytes(b"B" * 20)
    app = App.init(root)
    app.store.create_repo("images")
    app.put("images", [str(src / "a.jpg"), str(src / "b.jpg")], "two")
    spec = root.parent / "copy.yaml"
    spec.write_text(NOOP)
    vigil(root, "pipeline", "create", str(spec))
    vigil(root, "run")
    return root


def test_get_dash_o_dash_writes_stdout(ws: Path) -> None:
    """Before: `-o -` wrote a file named `-` and printed nothing."""
    assert vigil(ws, "get", "images:/a.jpg", "-o", "-").stdout == b"A" * 10
    assert not (ws / "-").exists()


@pytest.mark.parametrize(("args", "code", "message"), [
    # before: the trailing slash was dropped and stdin became the file /dir
    (["put", "images:/dir/", "-"], 2, "reading stdin needs a file path"),
    # before: an internal error (rc 70)
    (["get", "images:/a.jpg", "-o", "/nonexistent/dir/x.jpg"], 2, "the folder /nonexistent/dir does not exist"),
    (["put", "images:/a\\b.jpg", "-"], 2, "contains a backslash"),
])
def test_path_errors_are_user_errors(ws: Path, args: list[str], code: int, message: str) -> None:
    proc = vigil(ws, *args, check=False, stdin=b"x")
    stderr = proc.stderr.decode()
    assert proc.returncode == code, stderr
    assert message in stderr and "internal error" not in stderr


def test_piped_tables_are_plain_and_ids_whole(ws: Path) -> None:
    """Before: box tables even in a pipe, and `26091…` / `SUCCE…` at 80 columns."""
    env = {k: v for k, v in os.environ.items() if k != "VIGIL_WORKSPACE"} | {"COLUMNS": "80"}
    job = js(ws, "job", "list")[0]
    for args in (["job", "list"], ["repo", "list"], ["ls", "images"], ["pipeline", "list"], ["log", "images"],
                 ["datum", "list", job["id"]]):
        out = subprocess.run([str(VIGIL), "-w", str(ws), *args], env=env, capture_output=True, text=True,
                             check=True).stdout
        assert not BOX & set(out), out
        assert "…" not in out, out
        header = out.splitlines()[0]
        assert header == header.upper(), out
    listing = text(ws, "job", "list")
    assert job["id"] in listing and "SUCCESS" in listing
    row = next(line for line in listing.splitlines() if job["id"] in line)
    assert re.split(r"\s{2,}", row)[:3] == [job["id"], "copy", "SUCCESS"]
    oid = js(ws, "ls", "images")[0]["oid"]
    assert oid in text(ws, "ls", "images")  # all 64 hex digits


def test_inspect_output_is_readable(ws: Path) -> None:
    """Before: Unix float times, a dict for inputs, `True`/`None`, lists of lists, `file {'path': ...}`."""
    job = js(ws, "job", "list")[0]
    shown = text(ws, "job", "inspect", job["id"][:8])
    assert re.search(r"^started:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", shown, re.M), shown
    assert re.search(r"^inputs:\s+images: images@[0-9a-f]{32}$", shown, re.M), shown
    datum = js(ws, "datum", "list", job["id"])[0]
    shown += text(ws, "datum", "inspect", "copy", datum["id"][:10])
    shown += text(ws, "lineage", "images:/a.jpg")
    for raw in ("{", "[[", "True", "None", "'path'"):
        assert raw not in shown, f"{raw!r} in:\n{shown}"
    assert "file /a.jpg  10 B  oid " in shown


def test_json_keys_are_consistent(ws: Path) -> None:
    job = js(ws, "job", "list")[0]
    assert js(ws, "job", "inspect", job["id"]).keys() == job.keys()
    assert job["inputs"] == [{"name": "images", "repo": "images", "commit": js(ws, "log", "images")[0]["id"]}]
    datums = js(ws, "datum", "list", job["id"])
    one = js(ws, "datum", "inspect", "copy", datums[0]["id"])
    assert {"id", "pipeline", "job_id", "state", "inputs"} <= datums[0].keys()
    assert one["id"] == datums[0]["id"] and "datum_id" not in one
    assert set(one["inputs"][0]) == {"name", "repo", "root", "files"}
    listed = js(ws, "pipeline", "list")[0]
    assert listed["last_job"] == job and listed["name"] == "copy" == js(ws, "pipeline", "inspect", "copy")["name"]


def test_json_on_logs_and_validate_commands(ws: Path, tmp_path: Path) -> None:
    """Before: `--json` was rejected by `logs`, `pipeline validate` and `rules validate`."""
    assert js(ws, "logs", "--pipeline", "copy") == []
    spec = tmp_path / "copy.yaml"
    spec.write_text(NOOP)
    assert js(ws, "pipeline", "validate", str(spec)) == {"file": str(spec), "valid": True, "pipelines": ["copy"],
                                                         "workspace_checked": True, "actions": {"copy": "unchanged"}}
    rule = REPO.parent / "shared" / "data" / "seed" / "pipeline" / "rule.json"
    if rule.exists():
        result = js(ws, "rules", "validate", str(rule))
        assert result["valid"] is True and result["rules"]


def test_rules_validate_lists_every_error(ws: Path, tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("version: 1\nrules:\n  - id: a\n    classes: [person]\n    min_score: 7\n    severity: urgent\n")
    proc = vigil(ws, "rules", "validate", str(bad), "--json", check=False)
    assert proc.returncode == 2
    result = json.loads(proc.stdout)
    assert result["valid"] is False and len(result["errors"]) == 2
    human = vigil(ws, "rules", "validate", str(bad), check=False).stderr.decode()
    assert "min_score" in human and "severity" in human and "more error" not in human


def test_help_short_flag_descriptions_and_examples(ws: Path) -> None:
    """Before: no -h, `<bool>` beside every flag, options without descriptions, no examples."""
    root = text(ws, "-h")
    assert "Usage: vigil" in root and "<bool>" not in root
    for command in (["put"], ["logs"], ["job", "list"], ["repo", "create"], ["eval"]):
        page = text(ws, *command, "-h")
        assert "<bool>" not in page and "Examples:" in page, page
    import typer.main

    from vigil.cli.main import app

    def walk(command: Any, path: str) -> Any:
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    undocumented = [f"{path} {'/'.join(p.opts)}" for path, cmd in walk(typer.main.get_command(app), "vigil")
                    for p in cmd.params if p.param_type_name == "option" and not p.help]
    assert not undocumented


def test_shell_completion_is_offered(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: `--install-completion` was rejected. (Typer detects the user's shell from the process tree; under
    a test runner there may be none, so the shell is named, as typer's own tests do.)"""
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    script = text(ws, "--show-completion", "bash")
    assert "_VIGIL_COMPLETE" in script or "complete" in script


def test_exit_codes_are_documented() -> None:
    codes = {code for code, _names, _meaning in manual.exit_codes()}
    assert {0, 1, 2, 3, 7, 11, 12, 13, 14, 15, 70, 130} <= codes
    page = (REPO / "docs" / "exit-codes.md").read_text()
    assert manual.exit_codes_markdown() in page, "regenerate the table in docs/exit-codes.md"
    shown = subprocess.run([str(VIGIL), "help", "exit-codes"], capture_output=True, text=True, check=True).stdout
    assert all(re.search(rf"^{code}\s", shown, re.M) for code in codes), shown


def test_json_keys_are_documented() -> None:
    from vigil.cli.views import json_keys_markdown

    assert json_keys_markdown() in (REPO / "docs" / "json.md").read_text(), "regenerate the table in docs/json.md"
