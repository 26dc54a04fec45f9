"""Ingest fixtures: a workspace, frames as committed, a real RTSP server (GStreamer) and a snapshot camera
(a tiny HTTP server serving changing JPEGs: the peer, not the thing under test)."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.alerts.conftest import smtp  # noqa: F401 - the real SMTP server fixture (offline alerts)
from tests.shared_data import unavailable
from vigil.app import App

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL = REPO_ROOT / "deploy" / "ingest" / "install-rtsp.sh"
RTSP_PEER = Path(__file__).with_name("rtsp_server.py")
H264_CLIP = "intel_one-by-one-person-detection.mp4"  # H.264: streamed as it is (the PETS clip is MPEG-4 part 2)
OFFLINE_RULES = """\
version: 1
rules:
  - id: camera-offline
    health: {condition: offline, offline_factor: 3, min_offline_seconds: 3}
    severity: high
"""
FRAME_PATH = re.compile(r"^/(?P<camera>[^/]+)/(?P<ts>[0-9]{10})(?:\.(?P<ms>[0-9]{3}))?-(?P<sha>[0-9a-f]{12})/"
                        r"(?P=camera)_(?P=ts)\.(?:jpg|png)$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    """Poll ``check`` until true; fail naming ``what`` after ``timeout`` (a generous bound, not a speed test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    site = App.init(tmp_path / "site")
    yield site
    site.close()


def frames(app: App, repo: str = "images") -> list[str]:
    """Paths of the frames committed to ``repo`` (none before its first commit)."""
    if repo not in {r.name for r in app.store.list_repos()} or app.store.head(repo) is None:
        return []
    return [f.path for f in app.store.list_files(repo)]


class RtspServer:
    """GStreamer's RTSP server in its own process (the system Python with python3-gi), on a fixed port so that
    a restart comes back at the same URL."""

    def __init__(self, clip: Path) -> None:
        self.clip = clip
        self.port = free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> RtspServer:
        self.proc = subprocess.Popen(["/usr/bin/python3", str(RTSP_PEER), str(self.clip), str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            why = self.proc.stderr.read() if self.proc.stderr else ""
            self.kill()
            raise RuntimeError(f"RTSP server did not start: {line} {why}")
        return self

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)
            for pipe in (self.proc.stdout, self.proc.stderr):
                if pipe is not None:
                    pipe.close()
        self.proc = None


def rtsp_available() -> str | None:
    """Why GStreamer's RTSP server cannot run here, or None. Runs the idempotent installer first (as root)."""
    if not Path("/usr/bin/python3").exists():
        return "no system Python (/usr/bin/python3) to run GStreamer's RTSP server"
    done = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=900, check=False)
    return None if done.returncode == 0 else f"GStreamer's RTSP server is missing: {done.stderr.strip()}"


@pytest.fixture
def rtsp_server(video_dir: Path) -> Iterator[RtspServer]:
    why = rtsp_available()
    if why is not None:
        unavailable(why)
    server = RtspServer(video_dir / H264_CLIP).start()
    yield server
    server.kill()


class SnapshotCamera:
    """A snapshot URL serving a different JPEG per request; ``fail`` makes the next requests answer 503."""

    def __init__(self, pictures: list[bytes]) -> None:
        self.pictures = pictures
        self.served: list[bytes] = []
        self.fail = 0
        self.lock = threading.Lock()
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with camera.lock:
                    if camera.fail:
                        camera.fail -= 1
                        body, status, kind = b"camera busy", 503, "text/plain"
                    else:
                        body = camera.pictures[len(camera.served) % len(camera.pictures)]
                        camera.served.append(body)
                        status, kind = 200, "image/jpeg"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/snapshot.jpg"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def snapshot_camera(car_park: list[bytes]) -> Iterator[SnapshotCamera]:
    camera = SnapshotCamera(car_park[:40])
    yield camera
    camera.close()
