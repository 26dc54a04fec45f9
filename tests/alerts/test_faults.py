"""Faults: a server down then back, 5xx then 2xx, 410, a slow receiver, several workers at once. Time is passed
in (``now``), so back-off schedules are stepped through without sleeping."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from tests.alerts.builders import Site
from tests.alerts.conftest import smtp_channel, webhook_channel
from tests.alerts.servers import HttpReceiver, SmtpServer
from tests.pg import fresh_database


def _enqueue(site: Site, n: int, camera: str = "cam") -> float:
    """``n`` events on ``n`` cameras (no grouping), derived into the outbox; the time they were derived at."""
    for i in range(n):
        site.frame(f"{camera}{i}")
    now = time.time()
    site.alerts.feeder().run_once(now)
    return now


def _drain(site: Site, now: float) -> int:
    worker = site.alerts.worker()
    try:
        return worker.drain(now)
    finally:
        worker.close()


def test_smtp_down_then_back_delivers_every_alert_exactly_once(tmp_path: Path, smtp: SmtpServer) -> None:
    site = Site(tmp_path / "ws", {"channels": {"mail": smtp_channel(smtp)}})
    smtp.stop()
    t0 = _enqueue(site, 3)
    assert _drain(site, t0) == 3
    failed = site.alerts.deliveries(state="failed")
    assert len(failed) == 3 and all("Connection" in a["last_error"] or "refused" in a["last_error"] for a in failed)
    assert all(t0 + 4 <= a["next_attempt_at"] <= t0 + 6 for a in failed)  # 5 s ± 20% jitter
    assert _drain(site, t0 + 3.9) == 0  # backing off: nothing due yet
    assert _drain(site, t0 + 7) == 3  # still down: the second delay is 5 min
    assert _drain(site, t0 + 60) == 0
    smtp.start()
    assert _drain(site, t0 + 7 + 361) == 3
    assert len(smtp.messages) == 3 and len(set(smtp.message_ids())) == 3
    assert [a["attempts"] for a in site.alerts.deliveries(state="sent")] == [3, 3, 3]
    assert _drain(site, t0 + 10_000) == 0 and len(smtp.messages) == 3


def test_a_receiver_failing_then_recovering_gets_each_alert_once(tmp_path: Path, receiver: HttpReceiver,
                                                                  secret: str) -> None:
    receiver.answers = [(500, {}, 0.0), (503, {"Retry-After": "900"}, 0.0)]
    site = Site(tmp_path / "ws", {"channels": {"hook": webhook_channel(receiver)}})
    t0 = _enqueue(site, 1)
    _drain(site, t0)
    [failed] = site.alerts.deliveries(state="failed")
    assert failed["last_code"] == 500
    _drain(site, t0 + 10)
    [failed] = site.alerts.deliveries(state="failed")
    # the schedule's second delay is 5 min ± 20%; the receiver asked for 15 min: Retry-After wins
    assert failed["last_code"] == 503 and failed["next_attempt_at"] == pytest.approx(t0 + 10 + 900)
    assert _drain(site, t0 + 10 + 899) == 0
    _drain(site, t0 + 10 + 900)
    [sent] = site.alerts.deliveries(state="sent")
    assert len(receiver.requests) == 1 and len(receiver.seen) == 3
    assert {r.headers["webhook-id"] for r in receiver.seen} == {sent["alert_id"]}  # one idempotency key
    for r in receiver.seen:
        Webhook(secret).verify(r.body, r.headers)
    assert [a["outcome"] for a in site.alerts.show(sent["alert_id"])["attempts_log"]] == ["retry", "retry", "sent"]


def test_410_disables_the_endpoint_until_retried(tmp_path: Path, receiver: HttpReceiver, secret: str) -> None:
    receiver.answers = [(410, {}, 0.0)]
    site = Site(tmp_path / "ws", {"channels": {"hook": webhook_channel(receiver)}})
    t0 = _enqueue(site, 2)
    _drain(site, t0)
    dead = site.alerts.deliveries(state="dead")
    assert len(dead) == 2 and len(receiver.seen) == 1  # the second was never sent: the endpoint is disabled
    [channel] = site.alerts.channels()
    assert channel["disabled"] and "410" in channel["disabled"][0]["reason"]
    t1 = _enqueue(site, 1, camera="later")
    _drain(site, t1)
    assert len(site.alerts.deliveries(state="dead")) == 3 and len(receiver.seen) == 1
    assert site.alerts.retry(dead=True, now=t1) == 3
    _drain(site, t1)
    assert len(site.alerts.deliveries(state="sent")) == 3 and len(receiver.requests) == 3


def test_a_slow_receiver_times_out_and_the_retry_carries_the_same_id(tmp_path: Path, receiver: HttpReceiver,
                                                                    secret: str) -> None:
    receiver.answers = [(200, {}, 1.5)]
    site = Site(tmp_path / "ws", {"channels": {"hook": webhook_channel(receiver, timeout=0.3)}})
    t0 = _enqueue(site, 1)
    _drain(site, t0)
    [failed] = site.alerts.deliveries(state="failed")
    assert "timed out" in failed["last_error"]
    _drain(site, t0 + 10)
    [sent] = site.alerts.deliveries(state="sent")
    deadline = time.monotonic() + 5
    while len(receiver.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the slow answer completes on the receiver's side after the client gave up
    assert [r.headers["webhook-id"] for r in receiver.requests] == [sent["alert_id"]] * 2


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def metadata(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
    else:
        pytest.importorskip("psycopg")
        with fresh_database("vigil_alerts_test") as url:
            yield url


def test_concurrent_workers_never_deliver_twice(tmp_path: Path, smtp: SmtpServer, metadata: str | None) -> None:
    site = Site(tmp_path / "ws", {"channels": {"mail": smtp_channel(smtp)}, "batch": 5}, metadata=metadata)
    try:
        t0 = _enqueue(site, 12)
        counts: list[int] = []

        def work() -> None:
            counts.append(_drain(site, t0))

        threads = [threading.Thread(target=work) for _ in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sum(counts) == 12
        assert len(smtp.messages) == 12 and len(set(smtp.message_ids())) == 12
        assert len(site.alerts.deliveries(state="sent")) == 12
    finally:
        site.close()


def test_a_slow_channel_does_not_hold_up_another(tmp_path: Path, smtp: SmtpServer, receiver: HttpReceiver,
                                                  secret: str) -> None:
    seen_mail: list[int] = []

    def slow(_req: object) -> None:  # the receiver answers only once the e-mails are through (or after 30 s)
        deadline = time.monotonic() + 30
        while len(smtp.messages) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        seen_mail.append(len(smtp.messages))

    receiver.check = slow  # type: ignore[assignment]
    site = Site(tmp_path / "ws", {"channels": {"mail": smtp_channel(smtp), "hook": webhook_channel(receiver)}})
    t0 = _enqueue(site, 3)
    _drain(site, t0)
    assert seen_mail[0] == 3  # the e-mails went out while the first webhook was still waiting
    assert len(site.alerts.deliveries(state="sent")) == 6


def test_claims_not_reached_in_half_their_lifetime_are_given_back(tmp_path: Path, receiver: HttpReceiver,
                                                                  secret: str) -> None:
    receiver.answers = [(200, {}, 0.5)] * 3  # each delivery outlasts half the claim's lifetime
    site = Site(tmp_path / "ws", {"channels": {"hook": webhook_channel(receiver)}, "claim_ttl": 0.2})
    t0 = _enqueue(site, 3)
    worker = site.alerts.worker()
    try:
        assert worker.run_once(t0) == 3
    finally:
        worker.close()
    states = sorted((a["state"], a["attempts"]) for a in site.alerts.deliveries())
    assert states == [("pending", 0), ("pending", 0), ("sent", 1)]  # given back, not left to expire
    assert _drain(site, t0 + 1) >= 1
