"""SIGKILL of the delivering process at random points: no alert is lost, and a re-delivery (the receiver took
the message but the worker died before recording it) carries the same Message-ID."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from tests.alerts.builders import Site
from tests.alerts.conftest import smtp_channel
from tests.alerts.servers import SmtpServer
from tests.console import VIGIL
from tests.shared_data import unavailable
from vigil.alerts import tables as t
from vigil.alerts.mail import message_id
from vigil.store.database import transaction

KILLS = 10
ALERTS = 40


def test_sigkill_while_delivering_loses_nothing(tmp_path: Path) -> None:
    if VIGIL is None:
        unavailable("the `vigil` console script is not installed")
    smtp = SmtpServer(delay=0.05).start()  # ~20 messages/s: kills land in the middle of hand-offs
    try:
        site = Site(tmp_path / "ws", {"channels": {"mail": smtp_channel(smtp)}, "batch": 5})
        for i in range(ALERTS):
            site.frame(f"cam{i}")
        site.alerts.feeder().run_once()
        rng = random.Random(11)
        env = {**os.environ, "VIGIL_WORKSPACE": str(site.root)}
        for _ in range(KILLS):
            before = len(smtp.messages)
            proc = subprocess.Popen([VIGIL, "alerts", "deliver", "--watch", "--interval", "0.1"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 120
            while len(smtp.messages) == before and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)  # start-up: until it delivers
            time.sleep(rng.uniform(0.0, 0.2))  # then a random point among its hand-offs
            proc.send_signal(signal.SIGKILL)
            proc.wait()  # reaped: its claims now belong to a process that is gone, taken over at once
        final = subprocess.run([VIGIL, "alerts", "deliver"], env=env, capture_output=True, text=True, timeout=120)
        assert final.returncode == 0, final.stderr

        sent = site.alerts.deliveries(state="sent", limit=1000)
        assert len(sent) == ALERTS  # none lost
        expected = {message_id(a["alert_id"], "site.example") for a in sent}
        received = Counter(smtp.message_ids())
        assert set(received) == expected  # every alert arrived, under its one Message-ID
        redelivered = {m for m, n in received.items() if n > 1}
        with transaction(site.app.store.engine) as conn:  # attempts a killed worker never finished
            d, a = t.alert_deliveries.c, t.alert_attempts.c
            unfinished = select(d.alert_id).join(t.alert_attempts, a.delivery_id == d.id).where(a.finished_at.is_(None))
            interrupted = {message_id(r, "site.example") for r in conn.execute(unfinished).scalars()}
        assert redelivered <= interrupted  # a duplicate only where a worker died mid-attempt
        print(f"{KILLS} kills: {len(interrupted)} interrupted attempt(s), {len(redelivered)} re-delivered "
              f"({sum(received.values()) - len(received)} duplicate message(s), each with its alert's Message-ID)")
    finally:
        smtp.stop()
