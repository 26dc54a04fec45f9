"""`vigil serve` camera push, on loopback: frames/s accepted (runner idle and busy) against a bare FastAPI
endpoint that takes the same requests and stores nothing (the HTTP stack's ceiling on this machine, run side by
side in the same session), ack latency p50/p95 at a paced 50 frames/s, and push -> event indexed p50.

    python benchmarks/bench_serve.py [--seconds 8] [--uploaders 16]

Needs the server extra and ../shared (model and sample images) for the busy-runner and event-latency parts.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from fastapi import FastAPI, Request

ROOT = Path(__file__).resolve().parents[1]
SHARED = next((p for p in (ROOT / "shared", ROOT.parent / "shared") if p.is_dir()), ROOT.parent / "shared")
VIGIL = Path(sys.executable).parent / "vigil"
SEED = SHARED / "data" / "seed"


def bare_app() -> FastAPI:
    """The baseline: same framework, same body reading and JSON reply, no auth, no storage."""
    app = FastAPI()

    @app.post("/api/v1/cameras/{camera}/frames", status_code=201)
    async def push(camera: str, request: Request) -> dict[str, object]:
        body = await request.body()
        return {"camera": camera, "frames": [{"size": len(body)}]}

    return app


def start(cmd: list[str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT,
                                env={**os.environ, "VIGIL_MIRROR": f"{SHARED}/models:{SEED}"})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        ports = re.findall(r"listening on http://127\.0\.0\.1:(\d+)", log.read_text())
        if ports:
            base = f"http://127.0.0.1:{ports[-1]}"
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                return proc, base
            except httpx.TransportError:
                pass
        if proc.poll() is not None:
            raise SystemExit(log.read_text())
        time.sleep(0.1)
    raise SystemExit("server did not start")


def closed_loop(base: str, token: str, frame: bytes, seconds: float, uploaders: int) -> float:
    """Frames/s acknowledged with ``uploaders`` clients sending back to back."""
    done = [0] * uploaders
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}",
                                               "Content-Type": "image/jpeg"}) as client:
            n = 0
            while time.monotonic() < stop:
                r = client.post(f"{base}/api/v1/cameras/acme-cam{i % 4}/frames",
                                content=frame + f"{i}:{n}:{time.time()}".encode())
                n += 1
                done[i] += r.status_code == 201
    start_t = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(uploaders)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sum(done) / (time.monotonic() - start_t)


def paced(base: str, token: str, frame: bytes, seconds: float, rate: float) -> list[float]:
    """Ack latencies (s) of frames sent at a fixed rate (open loop)."""
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()

    def one(n: int) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}",
                                                             "Content-Type": "image/jpeg"})
        t0 = time.perf_counter()
        r = local.client.post(f"{base}/api/v1/cameras/acme-paced/frames", content=frame + f"p{n}".encode())
        if r.status_code == 201:
            with lock:
                latencies.append(time.perf_counter() - t0)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(16) as pool:
        t_start = time.perf_counter()
        for n in range(int(seconds * rate)):
            delay = t_start + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, n)
    return latencies


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def workspace(folder: Path, camera_pipeline: bool) -> str:
    from vigil.app import App
    from vigil.demo import MODEL, camera_specs_path

    app = App.init(folder)
    if camera_pipeline:
        os.environ.setdefault("VIGIL_MIRROR", f"{SHARED}/models:{SEED}")
        app.model_add(MODEL)
        app.store.create_repo("rules")
        app.store.create_repo("images")
        with app.store.begin_commit("rules") as c:
            c.put_file("/rule.json", SEED / "pipeline" / "rule.json")
        app.create_pipelines(camera_specs_path())
    token = app.create_token(None, "operator", "acme")[0]
    app.close()
    return token


def event_latency(base: str, token: str, frame: bytes, n: int = 5) -> list[float]:
    """Push a frame with a person, poll the events API until its event is listed: seconds, n times."""
    out = []
    headers = {"Authorization": f"Bearer {token}"}
    for i in range(n):
        ts = 1_800_000_000 + i
        t0 = time.perf_counter()
        r = httpx.post(f"{base}/api/v1/cameras/acme-gate/frames", params={"ts": ts}, content=frame,
                       headers={**headers, "Content-Type": "image/jpeg"}, timeout=30)
        assert r.status_code == 201, r.text
        while time.perf_counter() - t0 < 60:
            events = httpx.get(f"{base}/api/v1/events", params={"camera": "acme-gate", "since": ts, "until": ts + 1},
                               headers=headers, timeout=30).json()["events"]
            if events:
                out.append(time.perf_counter() - t0)
                break
            time.sleep(0.02)
        time.sleep(1.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--uploaders", type=int, default=16)
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        import socket

        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
        uvicorn.Server(uvicorn.Config(bare_app(), log_level="warning")).run(sockets=[sock])
        return
    frame = (SEED / "dev1_1511891098.jpg").read_bytes()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-serve-") as tmp:
        tmpdir = Path(tmp)
        token = workspace(tmpdir / "idle", camera_pipeline=False)
        bare, bare_url = start([sys.executable, __file__, "--bare-server"], tmpdir / "bare.log")
        idle, idle_url = start([str(VIGIL), "-w", str(tmpdir / "idle"), "serve", "--no-runner", "--port", "0"],
                               tmpdir / "idle.log")
        rates: dict[str, list[float]] = {"bare": [], "vigil": []}
        for _ in range(2):  # alternate, medians
            rates["bare"].append(closed_loop(bare_url, token, frame, args.seconds, args.uploaders))
            rates["vigil"].append(closed_loop(idle_url, token, frame, args.seconds, args.uploaders))
        latencies = paced(idle_url, token, frame, args.seconds, 50.0)
        for proc in (bare, idle):
            proc.terminate()
            proc.wait(60)
        busy_token = workspace(tmpdir / "busy", camera_pipeline=True)
        busy, busy_url = start([str(VIGIL), "-w", str(tmpdir / "busy"), "serve", "--port", "0"], tmpdir / "busy.log")
        event_seconds = event_latency(busy_url, busy_token, frame)
        busy_rate = closed_loop(busy_url, busy_token, frame, args.seconds, args.uploaders)
        busy_latencies = paced(busy_url, busy_token, frame, args.seconds, 50.0)
        busy.terminate()
        busy.wait(120)
    bare_rate, vigil_rate = statistics.median(rates["bare"]), statistics.median(rates["vigil"])
    print(f"### HTTP camera push (`benchmarks/bench_serve.py`, {args.uploaders} uploaders, "
          f"{args.seconds:.0f} s per run, loopback, {os.cpu_count()} CPUs shared with the client)\n")
    print("| measure | value |\n|---|---|")
    print(f"| frames/s accepted, runner idle (`--no-runner`) | **{vigil_rate:.0f}** |")
    print(f"| bare FastAPI endpoint (same requests, nothing stored) | {bare_rate:.0f} |")
    print(f"| ratio vigil / bare | {vigil_rate / bare_rate:.2f} |")
    print(f"| frames/s accepted, runner busy (camera pipeline on the pushed frames) | {busy_rate:.0f} |")
    print(f"| ack latency at 50 frames/s, runner idle: p50 / p95 ms | {pct(latencies, .5) * 1e3:.1f} / "
          f"{pct(latencies, .95) * 1e3:.1f} |")
    print(f"| ack latency at 50 frames/s, runner busy: p50 / p95 ms | {pct(busy_latencies, .5) * 1e3:.1f} / "
          f"{pct(busy_latencies, .95) * 1e3:.1f} |")
    print(f"| push -> event listed at /api/v1/events (runner warm, 1 frame), p50 ms | "
          f"{statistics.median(event_seconds) * 1e3:.0f} (n={len(event_seconds)}) |")


if __name__ == "__main__":
    main()
