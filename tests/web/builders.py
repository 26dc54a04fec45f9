"""A site with two tenants' data, made directly in the repos (no model run): frames in validate, detect and
threat records with events, a rule set; then the indexes derived. And a real uvicorn server around an App."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigil.app import App
from vigil.domain.threat import event_id
from vigil.stages.records import encode_record
from vigil.vision.image import encode_jpeg

RULES = """version: 1
rules:
  - {id: acme-person, tenants: [acme], classes: [person], severity: high}
  - {id: globex-car, tenants: [globex], classes: [car], severity: medium}
  - {id: anyone, classes: [dog], severity: low}
"""


def jpeg(seed: int, w: int = 64, h: int = 48) -> bytes:
    rng = np.random.default_rng(seed)
    return encode_jpeg(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), 80)


@dataclass
class Site:
    app: App
    events: dict[str, list[str]] = field(default_factory=dict)  # tenant ("" = none) -> event ids
    cameras: dict[str, list[str]] = field(default_factory=dict)  # tenant -> camera names
    frames: dict[str, list[str]] = field(default_factory=dict)  # tenant -> frame sha256
    tokens: dict[str, str] = field(default_factory=dict)  # name -> token


def build_site(app: App, per_camera: int = 3) -> Site:
    """Cameras acme-gate, acme-yard (tenant acme), globex-dock (globex), lobby (no tenant); events on each."""
    store = app.store
    site = Site(app)
    for repo in ("validate", "detect", "threat", "rules"):
        store.create_repo(repo, exist_ok=True)
    with store.begin_commit("rules") as c:
        c.put_bytes("/rules.yaml", RULES.encode())
    assert c.result is not None
    rules_commit, rules_oid = c.result.id, store.stat("rules", None, "/rules.yaml").oid
    plan = [("acme", "gate", "acme-person", "person", "high"), ("acme", "yard", "acme-person", "person", "high"),
            ("globex", "dock", "globex-car", "car", "medium"), (None, "lobby", "anyone", "dog", "low")]
    valid, detect, threat = (store.begin_commit(r) for r in ("validate", "detect", "threat"))
    for n, (tenant, device, rule, label, severity) in enumerate(plan):
        camera = f"{tenant}-{device}" if tenant else device
        key = tenant or ""
        site.cameras.setdefault(key, []).append(camera)
        for i in range(per_camera):
            ts = 1_700_000_000 + 60 * i + n
            data = jpeg(n * 100 + i)
            frame = f"/valid/{camera}/{ts:010d}.jpg"
            oid = valid.put_bytes(frame, data)
            site.frames.setdefault(key, []).append(oid)
            obj = {"label": label, "class_id": {"person": 0, "car": 2, "dog": 16}[label], "score": 0.9,
                   "box": [4.0, 4.0, 40.0, 40.0]}
            record = f"/{camera}/{ts:010d}.json"
            detect.put_bytes(record, encode_record({
                "camera": camera, "tenant": tenant, "device": device, "ts": ts, "width": 64, "height": 48,
                "source": {"path": frame, "sha256": oid}, "objects": [obj],
                "model": {"file": "/m.onnx", "sha256": "f" * 64, "kind": "yolox"}}))
            eid = event_id(rules_oid, rule, device, ts, record)
            site.events.setdefault(key, []).append(eid)
            event = {"event_id": eid, "rule_id": rule, "rules_version": rules_oid, "severity": severity,
                     "description": "", "tenant": tenant, "device": device, "ts": ts, "source": record,
                     "objects": [obj], "notify": []}
            threat.put_bytes(record, encode_record({
                "camera": camera, "tenant": tenant, "device": device, "ts": ts, "source": record,
                "rules": {"path": "/rules.yaml", "sha256": rules_oid, "commit": rules_commit},
                "events": [event]}))
    valid.finish()
    detect.provenance = [("validate", valid.finish().id)]
    detect.finish()
    threat.provenance = [("detect", detect.finish().id), ("rules", rules_commit)]
    threat.finish()
    app.run_duties()
    for name, role, tenant in (("admin", "admin", None), ("acme", "operator", "acme"),
                               ("globex", "operator", "globex"), ("viewer", "viewer", None),
                               ("acme-cam", "camera", "acme")):
        site.tokens[name] = app.create_token(None, role, tenant)[0]
    return site


@contextmanager
def serving(app: App, **options: Any) -> Iterator[str]:
    """``app`` behind a real uvicorn on 127.0.0.1 (a free port), in a thread; yields the base URL."""
    import uvicorn

    from vigil.web.factory import create_app

    web = create_app(app, **options)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(web, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
