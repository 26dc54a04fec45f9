"""The CLI of serving: token create/list/revoke, index rebuild, feedback, stats precision; serve without the
server extra says what to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.web.builders import build_site
from vigil.app import App
from vigil.cli.main import main


def test_tokens_feedback_precision_and_index_rebuild(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = build_site(App.init(tmp_path / "ws"))
    ws = ["-w", str(tmp_path / "ws")]
    assert main([*ws, "token", "create", "--role", "viewer", "--tenant", "acme"]) == 0
    token = capsys.readouterr().out.splitlines()[0]
    assert token.startswith("vgl_") and site.app.verify_token(token) is not None
    token_id = token.split("_")[1]
    assert main([*ws, "token", "list"]) == 0
    listed = capsys.readouterr().out
    assert token_id in listed and token not in listed  # the secret is shown once, never listed
    assert main([*ws, "token", "revoke", token_id]) == 0
    assert site.app.verify_token(token) is None
    assert main([*ws, "token", "create", "--role", "wizard"]) == 2
    assert "unknown role" in capsys.readouterr().err

    first = site.events["globex"][0]
    assert main([*ws, "feedback", first, "--verdict", "fp", "--note", "a shadow"]) == 0
    assert main([*ws, "stats", "precision", "--by", "camera", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"false_positive": 1' in out and '"globex-dock"' in out
    assert main([*ws, "index", "rebuild"]) == 0
    assert "events-index: 12 record(s)" in capsys.readouterr().out


def test_serve_without_the_server_extra_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    App.init(tmp_path / "ws")
    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if `pip install vigil` without [server]
    assert main(["-w", str(tmp_path / "ws"), "serve"]) == 2
    assert "vigil[server]" in capsys.readouterr().err
