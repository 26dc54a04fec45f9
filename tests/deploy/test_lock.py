"""The dependency lock the images install from covers every runtime dependency vigil declares."""

from __future__ import annotations

import re
import tomllib

from tests.shared_data import REPO

LOCK = REPO / "deploy" / "containers" / "constraints.txt"


def name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_lock_pins_every_runtime_dependency() -> None:
    """Run `make lock` after adding a dependency: images and `make setup` install from this file."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {name(r) for r in project["dependencies"]}
    extras = ("s3", "postgres", "server", "ingest", "models", "dask")  # deploy/containers/lock.sh's set
    declared |= {name(r) for extra in extras for r in project["optional-dependencies"][extra]}
    pinned = {name(line): line.split("==", 1)[1] for line in LOCK.read_text().splitlines()
              if line and not line.startswith("#")}
    assert declared - set(pinned) == set(), "not in deploy/containers/constraints.txt: run `make lock`"
    assert all(re.fullmatch(r"[\w.+!-]+", v) for v in pinned.values()), "every line is NAME==VERSION"
