"""Alert delivery: latency from one frame committed to the alert accepted by a real SMTP server (aiosmtpd), with
warm workers, beside a bare single-frame decode + inference in the same run; and deliveries per second to SMTP
and to a webhook receiver.

    python benchmarks/bench_alerts.py [--frames 20] [--alerts 300]

Needs ../shared (YOLOX-nano, the seed stills) through VIGIL_MIRROR, like `make bench`.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # the test servers (aiosmtpd, HTTP receiver) are reused, not copied

from tests.alerts.servers import SmtpServer, free_port, new_secret  # noqa: E402

from vigil.app import App  # noqa: E402
from vigil.demo import MODEL  # noqa: E402
from vigil.domain.alerting import AlertsConfig  # noqa: E402
from vigil.stages.records import encode_record  # noqa: E402
from vigil.store.workspace import LocalObjects, WorkspaceConfig  # noqa: E402
from vigil.vision.image import decode_image, encode_jpeg  # noqa: E402

SHARED = next((p for p in (REPO / "shared", REPO.parent / "shared") if (p / "data").is_dir()), REPO.parent / "shared")
SEED = SHARED / "data" / "seed"
FRAME = SEED / "dev1_1511891155.jpg"  # a man on a street: rule.json raises an event
STAGES = ("validate", "motion", "detect", "threat")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _app(root: Path, channels: dict[str, object]) -> App:
    alerts = AlertsConfig.model_validate({"channels": channels})
    return App.init(root, WorkspaceConfig(objects=LocalObjects(fsync=False), alerts=alerts))


def _frames(n: int) -> list[bytes]:
    """``n`` distinct JPEGs of the seed frame (one pixel differs), made before timing."""
    image = decode_image(FRAME.read_bytes())
    out = []
    for i in range(n):
        copy = image.copy()
        copy[0, i % copy.shape[1]] = (i * 37) % 256
        out.append(encode_jpeg(copy, 90))
    return out


def latency(n: int, with_report: bool) -> tuple[list[float], list[float], list[float], float, float]:
    """(frame commit -> SMTP accepted, threat commit -> SMTP accepted, bare decode + inference) in seconds,
    ``n`` frames each; and the process's CPU seconds per frame for the first and for the bare loop (what each
    costs whatever else loads the machine)."""
    from vigil.demo import camera_specs_path
    from vigil.vision.detector import DetectorConfig, load_detector

    smtp = SmtpServer().start()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-alerts-") as tmp:
        app = _app(Path(tmp) / "ws", {"mail": {"type": "smtp", "host": "127.0.0.1", "port": smtp.port,
                                               "security": "none", "sender": "v@bench", "to": ["g@bench"]}})
        model = app.model_pull(MODEL)
        app.model_add(MODEL)
        for repo in ("images", "rules"):
            app.store.create_repo(repo, exist_ok=True)
        with app.store.begin_commit("rules") as c:
            c.put_file("/rule.json", SEED / "pipeline" / "rule.json")
        docs = camera_specs_path().read_text().split("\n---\n")
        keep = STAGES + (("report",) if with_report else ())
        spec = Path(tmp) / "camera.yaml"
        spec.write_text("\n---\n".join(d for d in docs if any(f"name: {s}}}" in d for s in keep)))
        app.create_pipelines(spec)
        frames = _frames(n + 2)
        times: list[float] = []
        after_threat: list[float] = []
        cpu = 0.0
        for i, data in enumerate(frames):
            before = len(smtp.messages)
            t0, c0 = time.perf_counter(), time.process_time()
            with app.store.begin_commit("images") as c:
                c.put_bytes(f"/cam{i}_{1_700_000_000 + i}.jpg", data)
            app.run_pipelines()
            while len(smtp.messages) == before:
                time.sleep(0.0005)
            if i >= 2:  # the first two warm the workers (model load, caches)
                times.append(time.perf_counter() - t0)
                cpu += time.process_time() - c0
                threat = app.store.head("threat")
                assert threat is not None
                after_threat.append(time.time() - threat.created_at)
        app.executor.close()
        app.store.close()
    smtp.stop()
    detector = load_detector(model, None, DetectorConfig(score_threshold=0.3, threads=1))
    bare = []
    c0 = time.process_time()
    for data in frames:
        t0 = time.perf_counter()
        detector.detect([decode_image(data)])
        bare.append(time.perf_counter() - t0)
    return times, after_threat, bare[2:], cpu / n, (time.process_time() - c0) / len(frames)


def _events(app: App, n: int) -> None:
    """``n`` events on ``n`` cameras, as the pipeline writes them, in one commit per repo."""
    store = app.store
    for repo in ("images", "detect", "threat"):
        store.create_repo(repo, exist_ok=True)
    small = decode_image(FRAME.read_bytes())[::3, ::3].copy()
    person = {"label": "person", "class_id": 0, "score": 0.9, "box": [60.0, 30.0, 200.0, 250.0]}
    with store.begin_commit("images") as c:
        oids = [c.put_bytes(f"/cam{i}_{1_700_000_000 + i}.jpg", encode_jpeg(small, 85 - i % 10)) for i in range(n)]
    assert c.result is not None
    with store.begin_commit("detect", provenance=[("images", c.result.id)]) as d:
        for i in range(n):
            d.put_bytes(f"/cam{i}/{1_700_000_000 + i}.json", encode_record({
                "camera": f"cam{i}", "device": f"cam{i}", "ts": 1_700_000_000 + i, "objects": [person],
                "source": {"path": f"/valid/cam{i}/{1_700_000_000 + i}.jpg", "sha256": oids[i]}}))
    assert d.result is not None
    with store.begin_commit("threat", provenance=[("detect", d.result.id)]) as t:
        for i in range(n):
            source = f"/cam{i}/{1_700_000_000 + i}.json"
            event = {"event_id": f"{i:064x}", "rule_id": "intrusion", "severity": "high", "tenant": None,
                     "device": f"cam{i}", "ts": 1_700_000_000 + i, "source": source, "objects": [person],
                     "notify": []}
            t.put_bytes(source, encode_record({"camera": f"cam{i}", "ts": 1_700_000_000 + i, "source": source,
                                               "events": [event]}))


RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _server(kind: str) -> tuple[subprocess.Popen[bytes], int]:
    """A receiver in its own process (as a real server is): aiosmtpd's sink, or a keep-alive HTTP 200."""
    port = free_port()
    if kind == "smtp":
        args = [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l", f"127.0.0.1:{port}"]
    else:
        args = [sys.executable, "-c", RECEIVER, str(port)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    raise RuntimeError(f"{kind} receiver did not start")


def throughput(kind: str, n: int) -> tuple[float, float]:
    """Deliveries per second from a full outbox to a local SMTP server or webhook receiver (in its own process),
    and the worker's CPU seconds per delivery (what one worker costs, whatever else loads the machine)."""
    os.environ["VIGIL_BENCH_SECRET"] = new_secret()
    server, port = _server(kind)
    if kind == "smtp":
        channel = {"type": "smtp", "host": "127.0.0.1", "port": port, "security": "none",
                   "sender": "v@bench", "to": ["g@bench"]}
    else:
        channel = {"type": "webhook", "url": f"http://127.0.0.1:{port}/hook",
                   "secret": {"env": "VIGIL_BENCH_SECRET"}, "allow_private": True}
    try:
        with tempfile.TemporaryDirectory(prefix="vigil-bench-alerts-") as tmp:
            app = _app(Path(tmp) / "ws", {kind: channel})
            _events(app, n)
            app.alerts.feeder().run_once()
            worker = app.alerts.worker()
            t0, c0 = time.perf_counter(), time.process_time()
            done = worker.drain()
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
            worker.close()
            sent = len(app.alerts.deliveries(state="sent", limit=n + 1))
            app.store.close()
            assert done == n and sent == n, (done, sent)
            return n / elapsed, cpu / n
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--alerts", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("VIGIL_MIRROR", f"{SHARED / 'models'}:{SEED}")
    os.environ.setdefault("VIGIL_CACHE", str(Path(tempfile.gettempdir()) / "vigil-bench-cache"))
    for with_report in (False, True):
        times, after, bare, cpu, bare_cpu = latency(args.frames, with_report)
        dag = " -> ".join(STAGES + (("report",) if with_report else ()))
        p50, p95, b50 = statistics.median(times) * 1000, pct(times, 0.95) * 1000, statistics.median(bare) * 1000
        print(f"frame committed -> SMTP accepted ({dag}, {args.frames} frames, warm): p50 {p50:.0f} ms, "
              f"p95 {p95:.0f} ms, of which from the threat commit on p50 {statistics.median(after) * 1000:.0f} ms; "
              f"bare decode+inference p50 {b50:.1f} ms (ratio {p50 / b50:.1f}x); CPU per frame {cpu * 1000:.0f} ms "
              f"vs bare {bare_cpu * 1000:.0f} ms")
    for kind in ("smtp", "webhook"):
        rate, cpu = throughput(kind, args.alerts)
        print(f"deliveries/s to {kind} ({args.alerts} alerts, one worker): {rate:.0f}; worker CPU "
              f"{cpu * 1000:.1f} ms per delivery (= {1 / cpu:.0f}/s per busy core)")
    load = os.getloadavg()[0]
    print(f"load average during the run: {load:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
