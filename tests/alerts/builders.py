"""A workspace with event records as the camera pipeline writes them, without running the detector: a frame in
``images``, its detect record in ``detect`` and a threat record with events in ``threat`` (its commit's
provenance names the detect commit, as a pipeline job's does)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from vigil.alerts.service import AlertService
from vigil.app import App
from vigil.domain.rules import NotifyTarget
from vigil.domain.threat import ThreatEvent, event_id
from vigil.stages.records import encode_record
from vigil.store.workspace import CONFIG_FILE, LocalObjects, Workspace, WorkspaceConfig
from vigil.vision.image import encode_jpeg

RULES = "version: 1\ntimezone: Europe/Berlin\nrules: []\n"
PERSON = {"label": "person", "class_id": 0, "score": 0.91, "box": [40.0, 30.0, 120.0, 200.0]}
_frames = itertools.count(1)


def frame_bytes(seed: int) -> bytes:
    """A small, distinct JPEG."""
    rng = np.random.default_rng(seed)
    return encode_jpeg(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), 80)


class Site:
    def __init__(self, root: Path, alerts: dict[str, Any] | None = None, metadata: str | None = None) -> None:
        config = WorkspaceConfig(objects=LocalObjects(fsync=False), **({"metadata": metadata} if metadata else {}))
        ws = Workspace.init(root, config)
        if alerts is not None:
            self.configure(ws, alerts)
            ws.store.close()
            ws = Workspace.open(root)
        self.app = App(ws)
        for repo in ("images", "detect", "threat"):
            self.app.store.create_repo(repo, exist_ok=True)
        self.rules_oid = self.app.store.objects.put_bytes(RULES.encode())

    @staticmethod
    def configure(ws: Workspace, alerts: dict[str, Any]) -> None:
        path = ws.config_dir / CONFIG_FILE
        doc = yaml.safe_load(path.read_text())
        doc["alerts"] = alerts
        path.write_text(yaml.safe_dump(doc, sort_keys=False))

    @property
    def root(self) -> Path:
        return self.app.workspace.root

    @property
    def alerts(self) -> AlertService:
        return self.app.alerts

    def frame(self, camera: str = "cam1", ts: int | None = None, *, rules: tuple[str, ...] = ("intrusion",),
              notify: tuple[NotifyTarget, ...] = (), severity: str = "high", objects: tuple[dict[str, Any], ...] = (
                  PERSON,), rules_version: str = "v1") -> list[dict[str, Any]]:
        """Commit one frame of ``camera`` through images -> detect -> threat; the events (one per rule)."""
        n = next(_frames)
        ts = ts if ts is not None else 1_700_000_000 + n
        store = self.app.store
        image = frame_bytes(n)
        with store.begin_commit("images") as c:
            c.put_bytes(f"/{camera}_{ts}.jpg", image)
        assert c.result is not None
        oid = store.stat("images", None, f"/{camera}_{ts}.jpg").oid
        detect_doc = {"camera": camera, "tenant": None, "device": camera, "ts": ts, "width": 320, "height": 240,
                      "source": {"path": f"/valid/{camera}/{ts:010d}.jpg", "sha256": oid}, "objects": list(objects)}
        source = f"/{camera}/{ts:010d}.json"
        with store.begin_commit("detect", provenance=[("images", c.result.id)]) as d:
            d.put_bytes(source, encode_record(detect_doc))
        assert d.result is not None
        events = [ThreatEvent(event_id(rules_version, rule, camera, ts, source), rule, rules_version, severity,  # type: ignore[arg-type]
                              None, camera, ts, source, objects, notify, f"{rule} rule").to_dict() for rule in rules]
        record = {"camera": camera, "tenant": None, "device": camera, "ts": ts, "source": source,
                  "rules": {"path": "/rules.yaml", "sha256": self.rules_oid, "commit": "rulescommit"}, "events": events}
        with store.begin_commit("threat", provenance=[("detect", d.result.id)]) as t:
            t.put_bytes(source, encode_record(record))
        return events

    def close(self) -> None:
        self.app.store.close()

    def pump(self, now: float | None = None) -> int:
        """Derive the outbox from new commits, then deliver what is due (at ``now``); the attempts made."""
        self.alerts.feeder().run_once(now)
        worker = self.alerts.worker()
        try:
            return worker.drain(now)
        finally:
            worker.close()


__all__ = ["PERSON", "Site", "frame_bytes"]
