"""Environment variables are parsed in one place and a bad value fails at the start of any command."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vigil.errors import ConfigError
from vigil.settings import FRAME_CACHE_MB, STDIN_MAX_MB, check_environment, frame_cache_bytes, stdin_max_bytes


@pytest.mark.parametrize(("value", "budget", "error"), [
    ("64", 64 << 20, None),
    ("0", 0, None),
    ("0.5", 1 << 19, None),
    ("", 256 << 20, None),
    ("lots", None, "is not a number of megabytes"),
    ("-1", None, "must be a finite number >= 0"),
    ("nan", None, "must be a finite number >= 0"),
    ("inf", None, "must be a finite number >= 0"),
])
def test_frame_cache_budget(value: str, budget: int | None, error: str | None) -> None:
    env = {FRAME_CACHE_MB: value}
    if error is None:
        assert frame_cache_bytes(env) == budget
    else:
        with pytest.raises(ConfigError, match=error):
            frame_cache_bytes(env)


def test_stdin_limit_default_and_override() -> None:
    assert stdin_max_bytes({}) == 4096 << 20
    assert stdin_max_bytes({STDIN_MAX_MB: "1"}) == 1 << 20
    with pytest.raises(ConfigError, match=STDIN_MAX_MB):
        check_environment({STDIN_MAX_MB: "big"})


@pytest.mark.parametrize("name", [FRAME_CACHE_MB, STDIN_MAX_MB])
def test_bad_variable_fails_any_command_at_start(tmp_path: os.PathLike[str], name: str) -> None:
    """Before: VIGIL_FRAME_CACHE_MB=abc failed late, as a datum error inside a job; `ls` did not notice."""
    env = {**os.environ, name: "abc"}
    proc = subprocess.run([sys.executable, "-m", "vigil.cli.main", "repo", "list"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == ConfigError.exit_code
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == f"error: {name}='abc' is not a number of megabytes" and lines[1].startswith("hint: ")
