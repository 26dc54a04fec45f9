"""Validate early, create atomically (issue 10 item 5): stage params are checked with file:line, key and allowed
values; `validate` makes every check `create` makes; a multi-spec create/update is all or nothing; `apply` is
create-or-update, idempotent."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.console import VIGIL
from tests.pipeline.builders import make_app
from tests.shared_data import unavailable
from vigil.app import App, load_checked_specs
from vigil.errors import AlreadyExistsError, SpecError
from vigil.pipeline import registry

INPUT = 'input: {pfs: {repo: images, glob: "/*"}}\n'


def spec(name: str, transform: str, repo: str = "images") -> str:
    return f"pipeline: {{name: {name}}}\n{INPUT.replace('images', repo)}transform:\n{textwrap.indent(transform, '  ')}"


def write(folder: Path, *docs: str, name: str = "specs.yaml") -> Path:
    path = folder / name
    path.write_text("---\n".join(docs))
    return path


@pytest.fixture
def app(tmp_path: Path) -> App:
    app = make_app(tmp_path / "ws")
    app.store.create_repo("images")
    return app


@pytest.mark.parametrize(("params", "line", "key", "allowed"), [
    ("score_threshold: high", 6, "transform.params.score_threshold", "allowed: float >= 0.0 and <= 1.0"),
    ("batch_size: 0", 6, "transform.params.batch_size", "allowed: int >= 1 and <= 1024"),
    ("threads: -1", 6, "transform.params.threads", "allowed: int >= 1 and <= 256"),
    ("annotate: false\n  scor_threshold: 0.5", 7, "transform.params.scor_threshold",
     "unknown param of stage detect; allowed params: annotate, batch_size, classes"),
])
def test_bad_stage_params_name_file_line_key_and_allowed_values(tmp_path: Path, params: str, line: int, key: str,
                                                                 allowed: str) -> None:
    path = write(tmp_path, spec("det", f"stage: detect\nparams:\n  {params}\n"))
    with pytest.raises(SpecError) as caught:
        load_checked_specs(path)
    message = caught.value.message
    assert message.startswith(f"{path}:{line}: {key}: ") and allowed in message, message
    if "scor_" in params:
        assert caught.value.hint == "did you mean 'score_threshold'?"
    else:
        assert caught.value.hint and caught.value.hint.startswith(key.rsplit(".", 1)[1] + ": ")


def test_unknown_stage_is_a_spec_error_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, spec("a", "stage: noop\n"), spec("b", "stage: detct\n", repo="a"))
    with pytest.raises(SpecError, match=r"specs.yaml:9 \(spec 2 of 2\): transform.stage: unknown stage 'detct'") as e:
        load_checked_specs(path)
    assert e.value.hint == "did you mean 'detect'?"


def test_second_spec_invalid_creates_nothing(app: App, tmp_path: Path) -> None:
    path = write(tmp_path, spec("first", "stage: noop\n"), spec("second", "stage: noop\nparams: {batch_size: 0}\n",
                                                                  repo="first"))
    with pytest.raises(SpecError, match="batch_size"):
        app.create_pipelines(path)
    assert registry.list_pipelines(app.store) == [] and [r.name for r in app.store.list_repos()] == ["images"]


def test_second_spec_reading_a_missing_repo_creates_nothing(app: App, tmp_path: Path) -> None:
    path = write(tmp_path, spec("first", "stage: noop\n"), spec("second", "stage: noop\n", repo="nowhere"))
    with pytest.raises(SpecError, match="input 'nowhere' reads repo 'nowhere', which does not exist"):
        app.check_pipelines(path)  # validate makes the same check as create
    with pytest.raises(SpecError, match="which does not exist"):
        app.create_pipelines(path)
    assert registry.list_pipelines(app.store) == []


def test_create_of_existing_is_all_or_nothing_and_cycles_span_the_dag(app: App, tmp_path: Path) -> None:
    app.create_pipelines(write(tmp_path, spec("a", "stage: noop\n"), name="a.yaml"))
    both = write(tmp_path, spec("b", "stage: noop\n", repo="a"), spec("a", "stage: noop\n"), name="ab.yaml")
    with pytest.raises(AlreadyExistsError, match="pipeline 'a' already exists"):
        app.create_pipelines(both)
    assert [p.name for p in registry.list_pipelines(app.store)] == ["a"], "b was not created either"
    # a cycle between the file and the existing DAG: a reads c, c reads a
    cycle = write(tmp_path, spec("c", "stage: noop\n", repo="a"), name="c.yaml")
    app.create_pipelines(cycle)
    loop = write(tmp_path, spec("a", "stage: noop\n", repo="c"), name="loop.yaml")
    with pytest.raises(SpecError, match="cycle"):
        app.check_pipelines(loop)
    with pytest.raises(SpecError, match="cycle"):
        app.create_pipelines(loop, update=True)


def test_apply_creates_updates_and_leaves_unchanged(app: App, tmp_path: Path) -> None:
    first = write(tmp_path, spec("a", "stage: noop\n"), spec("b", "stage: noop\n", repo="a"))
    assert [(p.name, act) for p, act in app.apply_pipelines(first)] == [("a", "created"), ("b", "created")]
    assert [(p.name, act) for p, act in app.apply_pipelines(first)] == [("a", "unchanged"), ("b", "unchanged")]
    salt = registry.get_pipeline(app.store, "b").salt
    changed = write(tmp_path, spec("a", "stage: noop\n"), spec("b", "stage: noop\nparams: {batch_size: 2}\n",
                                                               repo="a"), spec("c", "stage: noop\n", repo="b"))
    assert [(p.name, act) for p, act in app.apply_pipelines(changed)] == [
        ("a", "unchanged"), ("b", "updated"), ("c", "created")]
    assert registry.get_pipeline(app.store, "b").salt == salt, "finished datums are kept"


def test_cli_validate_and_apply(app: App, tmp_path: Path) -> None:
    if VIGIL is None:
        unavailable("the `vigil` console script is not installed")
    ws = ["-w", str(app.workspace.root)]
    bad = write(tmp_path, spec("det", "stage: detect\nparams:\n  score_threshold: high\n"), name="bad.yaml")
    done = subprocess.run([VIGIL, *ws, "pipeline", "validate", str(bad)], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"error: {bad}:6: transform.params.score_threshold: "), done.stderr
    good = write(tmp_path, spec("a", "stage: noop\n"), name="good.yaml")
    done = subprocess.run([VIGIL, *ws, "pipeline", "validate", str(good)], capture_output=True, text=True)
    assert done.returncode == 0 and "apply would: create a" in done.stdout, done.stdout + done.stderr
    for expected in ("a: created", "a: unchanged"):
        done = subprocess.run([VIGIL, *ws, "pipeline", "apply", str(good)], capture_output=True, text=True)
        assert done.returncode == 0 and expected in done.stdout, done.stdout + done.stderr
