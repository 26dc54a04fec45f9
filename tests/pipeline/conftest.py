"""Pipeline fixtures: a fresh App per test and python transform modules importable from a tmp folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipeline.builders import PythonModules, make_app
from vigil.app import App


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    a = make_app(tmp_path / "ws")
    yield a
    a.close()


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PythonModules]:
    folder = tmp_path / "modules"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    mods = PythonModules(folder)
    yield mods
    mods.cleanup()
