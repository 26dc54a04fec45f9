"""The camera-offline duty on a given clock (no RTSP server needed): frame times from the images repo, whatever
door they came through; one offline and one recovery record per outage, also across a restart of the duty."""

from __future__ import annotations

import json

from tests.ingest.conftest import OFFLINE_RULES, frames
from vigil.app import App
from vigil.ingest.offline import OfflineWatch

T0 = 1_700_000_000


def put_frames(app: App, camera: str, times: list[int]) -> None:
    with app.store.begin_commit("images", description="frames") as commit:
        for ts in times:
            commit.put_bytes(f"/{camera}/{ts:010d}/{camera}_{ts:010d}.jpg", f"{camera} {ts}".encode())


def records(app: App) -> list[tuple[str, str, int]]:
    out = []
    for path in frames(app, "health"):
        for event in json.loads(app.store.read_bytes("health", None, path))["events"]:
            out.append((f"{event['tenant']}-{event['device']}", event["state"], event["ts"]))
    return sorted(out)


def test_offline_then_recovered_once_each(app: App) -> None:
    app.store.create_repo("images")
    app.store.create_repo("rules")
    with app.store.begin_commit("rules") as commit:
        commit.put_bytes("/rules.yaml", OFFLINE_RULES.encode())
    put_frames(app, "acme-gate", [T0 + i for i in range(10)])  # one a second: usual interval 1 s
    put_frames(app, "acme-yard", [T0 + 2 * i for i in range(10)])  # every 2 s: offline after 6 s
    now = T0 + 9
    watch = OfflineWatch(app.store, clock=lambda: now)
    assert watch.run_once() == 0 and records(app) == []

    now = T0 + 13  # gate silent 4 s (> 3 x 1 s, >= 3 s); yard's last frame at +18 is in the "future"
    assert watch.run_once() == 1
    assert records(app) == [("acme-gate", "started", T0 + 9)]
    assert watch.run_once() == 0  # the same outage: nothing new

    now = T0 + 25  # yard silent 7 s (> 3 x 2 s)
    restarted = OfflineWatch(app.store, clock=lambda: now)  # a new process: same ids, records not written twice
    assert restarted.run_once() == 1
    assert records(app) == [("acme-gate", "started", T0 + 9), ("acme-yard", "started", T0 + 18)]

    put_frames(app, "acme-gate", [T0 + 25, T0 + 26])
    now = T0 + 26
    assert restarted.run_once() == 1
    assert records(app)[:2] == [("acme-gate", "recovered", T0 + 25), ("acme-gate", "started", T0 + 9)]
    assert restarted.run_once() == 0
    health = app.store.head("health")
    assert health is not None and {p.split("@")[0] for p in health.provenance} == {"rules", "images"}


def test_without_an_offline_rule_nothing_is_judged(app: App) -> None:
    app.store.create_repo("images")
    put_frames(app, "gate", [T0, T0 + 1, T0 + 2])
    assert OfflineWatch(app.store, clock=lambda: T0 + 1000).run_once() == 0  # no rules repo
    assert frames(app, "health") == []
