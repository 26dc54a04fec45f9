"""A bare `pip install .` (no extras) into a fresh venv gives a working `vigil` (issue 18 items 1 and 13):
before, `vigil --help` failed with "No module named 'click'", and every build warned that the licence table
format is deprecated. Slow (installs the runtime wheels from the machine's pip configuration)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shared_data import SHARED, require

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bare_install_in_a_fresh_venv_runs_help_and_demo(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("VIGIL_WORKSPACE", "PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(Path(sys.executable).parent)))
    # -v: the build backend's output (setuptools warnings) is shown; the machine's pip config gives the index
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-v", str(REPO)], env=env,
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    build_log = install.stdout + install.stderr
    assert "SetuptoolsDeprecationWarning" not in build_log and "License classifiers" not in build_log
    vigil = str(venv / "bin" / "vigil")
    shown = subprocess.run([vigil, "--help"], env=env, capture_output=True, text=True)
    assert shown.returncode == 0 and "Usage: vigil" in shown.stdout, shown.stderr
    env.update(VIGIL_MIRROR=f"{require(SHARED / 'models')}:{require(SHARED / 'data' / 'seed')}",
               VIGIL_CACHE=str(tmp_path / "cache"))
    demo = subprocess.run([vigil, "demo", str(tmp_path / "demo")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "6 event(s)" in demo.stdout
