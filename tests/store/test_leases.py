"""Leases on SQLite and PostgreSQL: one holder at a time, expiry, take-over of dead holders, fencing."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from sqlalchemy import Engine

from vigil.store.database import transaction
from vigil.store.leases import LeaseKeeper, Leases


def test_one_holder_at_a_time(engine: Engine) -> None:
    a, b = Leases(engine, "hostA:1:a"), Leases(engine, "hostB:2:b")
    lease = a.acquire("pipeline:x")
    assert lease is not None and lease.took_over_from is None
    assert b.acquire("pipeline:x") is None
    assert a.acquire("pipeline:x") is not None  # re-entrant for its holder
    assert b.holder_of("pipeline:x").holder == "hostA:1:a"  # type: ignore[union-attr]
    a.release(a.acquire("pipeline:x"))  # type: ignore[arg-type]
    assert b.acquire("pipeline:x") is not None


def test_an_expired_lease_is_taken_over_and_the_old_holder_is_fenced(engine: Engine) -> None:
    a, b = Leases(engine, "hostA:1:a", ttl=0.3), Leases(engine, "hostB:2:b", ttl=30)
    old = a.acquire("pipeline:x")
    assert old is not None
    time.sleep(0.4)
    new = b.acquire("pipeline:x")
    assert new is not None and new.took_over_from == "hostA:1:a"
    with transaction(engine, write=True) as conn:
        assert not a.check(conn, old)  # the stalled holder may not publish
        assert b.check(conn, new)
    assert a.renew(old) is None


def test_concurrent_acquirers_get_it_once(engine: Engine) -> None:
    winners: list[str] = []
    lock = threading.Lock()

    def grab(i: int) -> None:
        if Leases(engine, f"host{i}:{i}:x").acquire("pipeline:race") is not None:
            with lock:
                winners.append(str(i))

    threads = [threading.Thread(target=grab, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(winners) == 1


def test_a_dead_process_of_this_host_loses_its_lease_at_once(engine: Engine) -> None:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    import socket

    dead = Leases(engine, f"{socket.gethostname()}:{proc.stdout.strip()}:z", ttl=3600)
    assert dead.acquire("pipeline:y") is not None
    taken = Leases(engine).acquire("pipeline:y")
    assert taken is not None and taken.took_over_from == dead.holder


def test_the_keeper_renews_until_closed(engine: Engine) -> None:
    leases = Leases(engine, "hostA:1:a", ttl=0.6)
    keeper = LeaseKeeper(leases)
    keeper.hold(leases.acquire("pipeline:k"))  # type: ignore[arg-type]
    time.sleep(1.5)  # beyond the ttl: only renewals keep it
    assert Leases(engine, "hostB:2:b").acquire("pipeline:k") is None
    assert not keeper.lost("pipeline:k")
    keeper.close()
    assert [i.name for i in leases.list("pipeline:")] == ["pipeline:k"]
