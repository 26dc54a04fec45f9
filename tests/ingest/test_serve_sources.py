"""Sources configured in vigil.yaml run inside `vigil serve`, each on its own thread: a failing one (a camera
that refuses, a folder not there yet) is logged, backed off and retried, and never stops the others or the
server; per-source stats show in /metrics and the cameras API."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
import pytest

from tests.ingest.conftest import frames, wait_for
from tests.web.builders import serving
from vigil.app import App
from vigil.domain.sources import SourceConfig
from vigil.errors import WorkspaceError
from vigil.store.workspace import Workspace, WorkspaceConfig

VALIDATE = """pipeline: {name: validate}
input: {pfs: {repo: images, glob: "/**"}}
transform: {stage: validate, params: {input: images}}
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once closed


def metric(text: str, name: str, source: str) -> float | None:
    match = re.search(rf'^{name}\{{kind="[a-z]+",source="{re.escape(source)}"\}} ([0-9.e+]+)$', text, re.M)
    return float(match[1]) if match else None


def test_serve_runs_configured_sources(tmp_path: Path, video_dir: Path, car_park: list[bytes]) -> None:
    ftp = tmp_path / "ftp"  # not there yet: that source fails and is retried
    sources = [SourceConfig(camera="acme-gate", url=str(video_dir / "pets2009_s2l1_dev_7fps.mp4"), fps=1,
                            name="gate"),
               SourceConfig(camera="acme-yard", url=f"http://127.0.0.1:{closed_port()}/snap.jpg", interval=0.2,
                            open_timeout=1, backoff_max=0.5, name="yard"),
               SourceConfig(camera="lobby", url=f"folder:{ftp}", group_seconds=0.2, name="lobby-ftp")]
    app = App.init(tmp_path / "site", WorkspaceConfig(sources=sources))
    app.store.create_repo("images")
    (tmp_path / "validate.yaml").write_text(VALIDATE)
    app.create_pipelines(tmp_path / "validate.yaml")
    app.live_sources.restart_first = 0.2  # the folder's source restarts soon (default 1 s, doubling to 5 min)
    token = app.create_token(None, "admin")[0]
    try:
        with serving(app, runner=True, interval=0.2) as base, \
                httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:

            def camera(name: str) -> dict[str, object] | None:
                return next((c for c in client.get("/api/v1/cameras").json() if c["camera"] == name), None)

            wait_for(lambda: (c := camera("acme-gate")) is not None and c["frames"] == 46, 120,
                     "the video file's 46 frames through validate")
            gate = camera("acme-gate")
            assert gate is not None
            [stats] = gate["sources"]  # type: ignore[misc]
            assert (stats["name"], stats["kind"], stats["state"]) == ("gate", "video", "finished")
            assert (stats["frames_in"], stats["frames_out"], stats["committed"]) == (318, 46, 46)

            wait_for(lambda: metric(client.get("/metrics").text, "vigil_source_restarts_total", "lobby-ftp")
                     not in (None, 0.0), 60, "the folder source to fail and restart")
            text = client.get("/metrics").text
            assert metric(text, "vigil_source_frames_out_total", "gate") == 46.0
            assert metric(text, "vigil_source_committed_total", "gate") == 46.0
            assert metric(text, "vigil_source_errors_total", "yard") >= 1  # type: ignore[operator]
            assert metric(text, "vigil_source_frames_in_total", "yard") == 0.0
            assert metric(text, "vigil_source_up", "yard") == 0.0
            assert client.get("/healthz").status_code == 200  # the server is fine

            ftp.mkdir()  # the folder appears: its source's next restart takes files from it
            (ftp / "lobby_1511891098.jpg").write_bytes(car_park[0])
            wait_for(lambda: any(p.startswith("/lobby/1511891098-") for p in frames(app)), 60,
                     "the folder source to recover")
            assert client.get("/api/v1/cameras").status_code == 200
    finally:
        app.close()
    assert not frames(app) or not any("acme-yard" in p for p in frames(app))


@pytest.mark.parametrize(("source", "message"), [
    ({"camera": "c1", "url": "rtsp://x/", "colour": "red"}, "Extra inputs are not permitted"),
    ({"camera": "-c1", "url": "rtsp://x/"}, "not a camera name"),
    ({"camera": "c1", "url": "rtsp://x/", "fps": 0}, "greater than 0"),
    ({"camera": "c1"}, "url"),
])
def test_bad_sources_config_names_the_problem(tmp_path: Path, source: dict[str, object], message: str) -> None:
    import yaml

    root = tmp_path / "ws"
    Workspace.init(root)
    config = root / ".vigil" / "vigil.yaml"
    doc = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**doc, "sources": [source]}))
    with pytest.raises(WorkspaceError, match=message):
        Workspace.open(root)


def test_source_kinds_follow_the_url() -> None:
    kinds = {url: SourceConfig(camera="c", url=url).kind for url in (
        "rtsp://cam/stream1", "https://cam/snap.jpg", "folder:/srv/ftp", "/srv/ftp/", "clip.mp4")}
    assert kinds == {"rtsp://cam/stream1": "rtsp", "https://cam/snap.jpg": "snapshot", "folder:/srv/ftp": "folder",
                     "/srv/ftp/": "folder", "clip.mp4": "video"}
