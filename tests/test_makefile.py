"""The Makefile's two entry points (issue 18 item 6): `make demo` installs the runtime only, `make test` the dev
tools too. Read from `make -n` (what make would run) against a venv path that does not exist yet."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.shared_data import unavailable

REPO = Path(__file__).resolve().parents[1]


def plan(target: str, tmp_path: Path) -> str:
    if shutil.which("make") is None:
        unavailable("make is not installed")
    done = subprocess.run(["make", "-n", target, f"VENV={tmp_path / 'venv'}"], cwd=REPO, capture_output=True,
                          text=True, check=True)
    return done.stdout


def test_demo_installs_the_runtime_only(tmp_path: Path) -> None:
    commands = plan("demo", tmp_path)
    installs = [line for line in commands.splitlines() if "pip install" in line and " -e " in line]
    assert installs and all(line.rstrip().endswith("-e .") for line in installs), commands
    assert "vigil demo" in commands
    assert "[dev]" not in commands, commands


@pytest.mark.parametrize("target", ["test", "lint"])
def test_test_and_lint_add_the_dev_tools(tmp_path: Path, target: str) -> None:
    assert '-e ".[dev]"' in plan(target, tmp_path)
