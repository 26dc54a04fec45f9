"""Builders for pipeline tests: a workspace App, pipelines from YAML text, python transforms in a tmp module."""

from __future__ import annotations

import itertools
import sys
import textwrap
from pathlib import Path

from tests.store.builders import commit, tree
from vigil.app import App
from vigil.pipeline.jobs import JobInfo
from vigil.store.workspace import LocalObjects, Workspace, WorkspaceConfig

__all__ = ["PythonModules", "commit", "make_app", "make_pipelines", "one_job", "tree"]

_spec_files = itertools.count()


def make_app(root: Path) -> App:
    """A fresh workspace (objects without fsync: tests do not test power loss)."""
    return App(Workspace.init(root, WorkspaceConfig(objects=LocalObjects(fsync=False))))


def make_pipelines(app: App, yaml_text: str, *, update: bool = False, reprocess: bool = False) -> None:
    """Create (or update) the pipelines of a YAML spec text."""
    path = app.workspace.root / f"spec{next(_spec_files)}.yaml"
    path.write_text(textwrap.dedent(yaml_text))
    app.create_pipelines(path, update=update, reprocess=reprocess)


def one_job(app: App, pipeline: str) -> JobInfo:
    """Run ``pipeline`` and return its job (failing when no job ran)."""
    jobs = app.run(pipeline)
    assert len(jobs) == 1, jobs
    return jobs[0]


class PythonModules:
    """Writes transform modules under a tmp folder on sys.path, each with a unique name (no import caching)."""

    _ids = itertools.count()

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.names: list[str] = []

    def add(self, source: str) -> str:
        name = f"vigil_test_transform_{next(self._ids)}"
        (self.folder / f"{name}.py").write_text(textwrap.dedent(source))
        self.names.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.names:
            sys.modules.pop(name, None)

