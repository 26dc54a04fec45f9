"""Load on loopback, bounded and self-stopping: concurrent uploaders for 30 s against `vigil serve` (a real
process), which is SIGKILLed halfway and restarted. Every acknowledged frame is in the images repo exactly once
with its bytes; unacknowledged ones may be missing."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx

from tests.console import MISSING, VIGIL
from tests.shared_data import unavailable
from tests.web.builders import jpeg
from vigil.app import App
from vigil.ingest.push import IMAGES
from vigil.store import integrity

UPLOADERS = 8
SECONDS = 30.0
KILL_AT = 12.0


def start_server(workspace: Path, log: Path, *, runner: bool = False, extra: list[str] | None = None
                 ) -> tuple[subprocess.Popen[bytes], str]:
    """`vigil serve` on a free port of 127.0.0.1, once it answers /healthz; (process, base URL)."""
    if MISSING:
        unavailable("the `vigil` console script is not installed")
    args = [str(VIGIL), "-w", str(workspace), "serve", "--port", "0", *([] if runner else ["--no-runner"]),
            *(extra or [])]
    offset = len(log.read_text()) if log.exists() else 0  # a restart appends to the same log
    with open(log, "ab") as fh:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ports = re.findall(r"listening on http://127\.0\.0\.1:(\d+)", log.read_text()[offset:])
        if ports and proc.poll() is None:
            base = f"http://127.0.0.1:{ports[-1]}"
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    return proc, base
            except httpx.TransportError:
                pass
        assert proc.poll() is None, log.read_text()
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server did not start:\n{log.read_text()}")


def test_acknowledged_frames_survive_a_sigkill_and_are_stored_exactly_once(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    app = App.init(ws)
    token = app.create_token(None, "camera", "acme")[0]
    app.close()
    log = tmp_path / "serve.log"
    proc, base = start_server(ws, log)
    current = {"base": base}
    acked: dict[str, str] = {}  # path -> sha256 of what was acknowledged
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS
    template = jpeg(1, 160, 120)

    def upload(worker: int) -> None:
        n = 0
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < stop:
                data = template + f"{worker}:{n}".encode()  # unique bytes (after the JPEG's end marker)
                n += 1
                try:
                    r = client.post(f"{current['base']}/api/v1/cameras/acme-cam{worker % 3}/frames", content=data,
                                    headers={"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"})
                except httpx.TransportError:
                    time.sleep(0.05)  # the server is down (killed): retry the next frame
                    continue
                if r.status_code == 201:
                    [ack] = r.json()["frames"]
                    assert ack["sha256"] == hashlib.sha256(data).hexdigest()
                    with lock:
                        acked[ack["path"]] = ack["sha256"]

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(UPLOADERS)]
    for th in threads:
        th.start()
    try:
        time.sleep(KILL_AT)
        with lock:
            before_kill = len(acked)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc, current["base"] = start_server(ws, log)
        for th in threads:
            th.join(SECONDS + 30)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert before_kill > 0 and len(acked) > before_kill, (before_kill, len(acked))
    app = App.open(ws)
    stored = {f.path: f.oid for f in app.store.list_files(IMAGES)}
    missing = {p for p in acked if p not in stored}
    assert not missing, f"{len(missing)} acknowledged frames lost"
    assert all(stored[p] == sha for p, sha in acked.items())
    assert len(set(stored.values())) == len(stored)  # each frame once (a content is never stored at two paths)
    report = integrity.fsck(app.store)  # and every stored blob hashes to its name
    assert report.ok, report
    app.close()
    print(f"load: {len(acked)} frames acknowledged ({before_kill} before the kill), {len(stored)} stored")
