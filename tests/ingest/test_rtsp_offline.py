"""A real RTSP camera (GStreamer's RTSP server on 127.0.0.1 streaming a clip) killed mid-stream: ingest
reconnects, an offline event fires after the threshold, and a recovery event once the camera is back; both
reach a real SMTP server through the alert outbox, once each."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alerts.conftest import smtp_channel
from tests.alerts.servers import SmtpServer
from tests.ingest.conftest import FRAME_PATH, OFFLINE_RULES, RtspServer, frames, wait_for
from vigil.app import App
from vigil.domain.alerting import AlertsConfig
from vigil.domain.sources import SourceConfig
from vigil.ingest.live import ingestor_for
from vigil.store.workspace import WorkspaceConfig


@pytest.fixture
def site(tmp_path: Path, smtp: SmtpServer) -> Iterator[App]:
    alerts = AlertsConfig.model_validate({"channels": {"mail": smtp_channel(smtp)}})
    app = App.init(tmp_path / "site", WorkspaceConfig(alerts=alerts))
    app.store.create_repo("rules")
    with app.store.begin_commit("rules", description="offline rule") as commit:
        commit.put_bytes("/rules.yaml", OFFLINE_RULES.encode())
    yield app
    app.close()


def health_records(app: App) -> list[dict[str, object]]:
    out = []
    for path in frames(app, "health"):
        doc = json.loads(app.store.read_bytes("health", None, path))
        out += [{"path": path, **e} for e in doc["events"]]
    return out


def states(app: App) -> list[str]:
    return [str(e["state"]) for e in health_records(app)]


def test_rtsp_camera_killed_and_back(site: App, rtsp_server: RtspServer, smtp: SmtpServer) -> None:
    config = SourceConfig(camera="acme-gate", url=rtsp_server.url, fps=2, open_timeout=3, read_timeout=3,
                          backoff_max=1, group_seconds=0.3)
    ingestor = ingestor_for(config, site.store, site.committer_for, backoff_first=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=ingestor.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: ingestor.stats.committed >= 8, 90, "frames from the RTSP camera")
        site.run_duties()
        assert states(site) == []  # streaming: not offline

        rtsp_server.kill()  # the camera is unplugged
        wait_for(lambda: ingestor.stats.stalls >= 1, 60, "ingest to notice the outage")
        wait_for(lambda: ingestor.stats.committed == ingestor.stats.frames_out, 30, "the last group's commit")
        before = ingestor.stats.committed
        wait_for(lambda: site.run_duties() >= 0 and "started" in states(site), 60, "the offline event", every=0.5)
        assert ingestor.stats.reconnects >= 1 and ingestor.stats.committed == before
        assert ingestor.stats.to_dict()["state"] in ("backoff", "connecting")

        rtsp_server.start()  # plugged back in, same URL
        wait_for(lambda: ingestor.stats.committed >= before + 4, 90, "frames after the camera came back")
        wait_for(lambda: site.run_duties() >= 0 and "recovered" in states(site), 60, "the recovery event",
                 every=0.5)
        for _ in range(3):  # later passes find nothing new: one event per outage, one recovery
            site.run_duties()
        wait_for(lambda: len(smtp.messages) >= 2, 30, "the alerts to be delivered", every=0.5)
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()

    records = health_records(site)
    assert sorted(states(site)) == ["recovered", "started"], records
    started = next(e for e in records if e["state"] == "started")
    recovered = next(e for e in records if e["state"] == "recovered")
    assert started["rule_id"] == recovered["rule_id"] == "camera-offline"
    assert (started["tenant"], started["device"]) == ("acme", "gate")
    assert recovered["last_seen"] == started["last_seen"]  # the same outage
    assert int(recovered["silent_seconds"]) > 3  # type: ignore[call-overload]
    last_before = max(int(FRAME_PATH.match(p)["ts"]) for p in frames(site)  # type: ignore[index]
                      if int(FRAME_PATH.match(p)["ts"]) <= int(started["last_seen"]))  # type: ignore[call-overload, index]
    assert started["last_seen"] == last_before

    sent = site.alerts.deliveries()
    assert sorted(d["state"] for d in sent) == ["sent", "sent"], sent
    assert len(smtp.messages) == 2
    bodies = [m.content.decode("utf-8", "replace") for m in smtp.messages]
    assert sum("recovered" in b for b in bodies) == 1
