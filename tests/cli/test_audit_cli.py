"""`vigil audit log|head|verify` as a user runs them: what the CLI did is in the log, a tampered entry makes
`verify` exit 22 naming it, an anchor catches a log cut short."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.console import MISSING, VIGIL

pytestmark = pytest.mark.skipif(MISSING, reason="the `vigil` console script is not installed")


def vigil(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VIGIL_WORKSPACE"}
    return subprocess.run([str(VIGIL), *args], env=env, cwd=cwd, capture_output=True, text=True)


def test_audit_commands(tmp_path: Path) -> None:
    ws = tmp_path / "site"
    assert vigil(tmp_path, "init", str(ws)).returncode == 0
    (tmp_path / "a.txt").write_text("a")
    for args in (["repo", "create", "images"], ["put", "images", str(tmp_path / "a.txt"), "-m", "first"],
                 ["token", "create", "--role", "viewer"], ["rm", "images:/a.txt", "-m", "erase"]):
        assert vigil(ws, *args).returncode == 0
    entries = json.loads(vigil(ws, "audit", "log", "--json").stdout)
    assert [e["action"] for e in entries] == ["commit", "token.create", "commit"]
    assert entries[0]["reason"] == "first" and entries[0]["actor"].startswith("user:")
    assert entries[2]["detail"]["deleted"] == 1
    head = vigil(ws, "audit", "head").stdout.strip()
    assert head == f"3:{entries[2]['hash']}"
    ok = vigil(ws, "audit", "verify", "--anchor", head)
    assert ok.returncode == 0 and "3 entries" in ok.stdout

    with sqlite3.connect(ws / ".vigil" / "metadata.db") as db:
        db.execute("DROP TRIGGER audit_log_no_update")
        db.execute("UPDATE audit_log SET reason = 'second' WHERE seq = 1")
    bad = vigil(ws, "audit", "verify")
    assert bad.returncode == 22 and "entry 1" in bad.stderr and "changed" in bad.stderr, bad.stderr

    with sqlite3.connect(ws / ".vigil" / "metadata.db") as db:
        db.execute("UPDATE audit_log SET reason = 'first' WHERE seq = 1")  # put back
        db.execute("DROP TRIGGER audit_log_no_delete")
        db.execute("DELETE FROM audit_log WHERE seq = 3")
    assert vigil(ws, "audit", "verify").returncode == 0  # the chain alone cannot see a cut at the end...
    cut = vigil(ws, "audit", "verify", "--anchor", head)
    assert cut.returncode == 22 and "entry 3" in cut.stderr  # ...the anchor can
    assert vigil(ws, "audit", "verify", "--anchor", "nonsense").returncode == 2
