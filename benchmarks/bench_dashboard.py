"""The dashboard's review page, server time: 10,000 events in the index against an empty index, side by side on
the same server build (target: the first screen in under 300 ms of server time with 10,000 events).

    python benchmarks/bench_dashboard.py [--events 10000] [--requests 30]

Each workspace gets threat records written straight into the ``threat`` repo (as the threat stage writes
them: one event per record, 20 cameras of two tenants, a verdict on every 10th event), indexed by the events
and feedback duties; then a real uvicorn server on loopback answers GET /ui/review (logged in, cookies kept)
and the page's poll. Server time is the wall time of one request from the client on the same machine (loopback
and HTTP parsing included), median of ``--requests``, alternating between the two servers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.web.builders: the real uvicorn server in a thread

from tests.web.builders import serving  # noqa: E402

from vigil.app import App  # noqa: E402
from vigil.domain.threat import event_id  # noqa: E402
from vigil.index.events import EventQuery  # noqa: E402
from vigil.stages.records import encode_record  # noqa: E402

CAMERAS = [f"{tenant}-cam{i:02d}" for tenant in ("acme", "globex") for i in range(10)]
RULES = "version: 1\nrules:\n  - {id: intrusion, classes: [person, car], severity: high}\n"


def build(root: Path, n: int) -> App:
    """A workspace with ``n`` events (and a verdict on every 10th)."""
    app = App.init(root)
    store = app.store
    for repo in ("detect", "threat", "rules"):
        store.create_repo(repo, exist_ok=True)
    with store.begin_commit("rules") as c:
        c.put_bytes("/rules.yaml", RULES.encode())
    assert c.result is not None
    rules_oid = store.stat("rules", None, "/rules.yaml").oid
    with store.begin_commit("threat") as threat:
        for i in range(n):
            camera = CAMERAS[i % len(CAMERAS)]
            tenant, device = camera.split("-", 1)
            ts = 1_764_000_000 + 7 * i
            record = f"/{camera}/{ts:010d}.json"
            label = "person" if i % 3 else "car"
            obj = {"label": label, "class_id": 0 if label == "person" else 2, "score": 0.5 + (i % 50) / 100,
                   "box": [10.0, 20.0, 110.0, 220.0]}
            event = {"event_id": event_id(rules_oid, "intrusion", device, ts, record), "rule_id": "intrusion",
                     "rules_version": rules_oid, "severity": "high", "description": "", "tenant": tenant,
                     "device": device, "ts": ts, "source": record, "objects": [obj], "notify": []}
            threat.put_bytes(record, encode_record({
                "camera": camera, "tenant": tenant, "device": device, "ts": ts, "source": record,
                "rules": {"path": "/rules.yaml", "sha256": rules_oid, "commit": c.result.id}, "events": [event]}))
    app.run_duties()
    who = app.verify_token(app.create_token(None, "admin")[0])
    assert who is not None
    if n:
        page = app.events(who, EventQuery(limit=1000))
        for ev in page.events[::10]:
            app.feedback(who, ev["event_id"], "false_positive" if ev["ts"] % 2 else "true_positive")
    return app


def log_in(base: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    form = client.get("/ui/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    r = client.post("/ui/login", data={"token": token, "csrf": csrf.group(1)})
    assert r.status_code == 303, r.text
    return client


def timed(client: httpx.Client, path: str, params: dict[str, str]) -> tuple[float, int, int]:
    start = time.perf_counter()
    r = client.get(path, params=params)
    seconds = time.perf_counter() - start
    assert r.status_code in (200, 204), (path, r.status_code, r.text[:300])
    return seconds, len(r.content), r.text.count('class="card"')


CASES = [
    ("review, no filter", "/ui/review", {}),
    ("review, camera filter", "/ui/review", {"camera": "acme-cam03"}),
    ("review, label car, not reviewed", "/ui/review", {"label": "car", "reviewed": "no"}),
    ("poll, nothing new", "/ui/review/fresh", {"top": "@TOP"}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        apps = {"empty": build(Path(tmp) / "empty", 0), "full": build(Path(tmp) / "full", args.events)}
        built = time.perf_counter() - started
        tokens = {k: a.create_token(None, "operator")[0] for k, a in apps.items()}
        with serving(apps["empty"], token_ttl=5.0) as empty_url, serving(apps["full"], token_ttl=5.0) as full_url:
            clients = {"empty": log_in(empty_url, tokens["empty"]), "full": log_in(full_url, tokens["full"])}
            tops = {k: (re.search(r'data-top="([^"]*)"', c.get("/ui/review").text) or [None, ""])[1]
                    for k, c in clients.items()}
            print(f"review page server time, {args.events} events vs an empty index ({args.requests} requests "
                  f"each, medians; indexes built in {built:.1f} s; load average {load:.1f} on {os.cpu_count()} "
                  f"cores)")
            print(f"{'request':<34} {'empty ms':>9} {'full ms':>9} {'ratio':>6} {'cards':>6} {'page KiB':>9}")
            for name, path, params in CASES:
                times: dict[str, list[float]] = {"empty": [], "full": []}
                size = cards = 0
                for _ in range(3):  # warm: templates compiled, caches filled
                    for k, c in clients.items():
                        timed(c, path, {p: (tops[k] if v == "@TOP" else v) for p, v in params.items()})
                for _ in range(args.requests):
                    for k, c in clients.items():
                        seconds, size_k, cards_k = timed(
                            c, path, {p: (tops[k] if v == "@TOP" else v) for p, v in params.items()})
                        times[k].append(seconds)
                        if k == "full":
                            size, cards = size_k, cards_k
                e, f = statistics.median(times["empty"]) * 1000, statistics.median(times["full"]) * 1000
                print(f"{name:<34} {e:>9.1f} {f:>9.1f} {f / e:>6.2f} {cards:>6} {size / 1024:>9.1f}")
            for c in clients.values():
                c.close()
    print(json.dumps({"events": args.events, "load": round(load, 1)}))


if __name__ == "__main__":
    main()
