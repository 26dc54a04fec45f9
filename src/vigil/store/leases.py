"""Leases: named, expiring locks in the metadata database, so that N processes on N machines share work safely.

A runner holds ``pipeline:<name>`` while it runs a job of that pipeline; a delivery worker holds the rows it
claims. A lease is taken when free, expired, or held by a process of this host that is gone (a SIGKILLed
runner's lease is taken over at once on its own machine, after ``ttl`` seconds elsewhere). Holders renew it
(:class:`LeaseKeeper`), and before publishing work a holder re-checks it inside the publishing transaction
(:meth:`Leases.check`, a fencing check): a process that stalled past its lease cannot overwrite the work of the
one that took over.

Times come from the database's clock, not the callers': machines' clocks may disagree, the database's is one.
SQLite serialises writers (``BEGIN IMMEDIATE``); PostgreSQL locks the lease row (``SELECT ... FOR UPDATE``) and a
concurrent first insert loses on the primary key.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from vigil.store import schema as s
from vigil.store.database import transaction

log = logging.getLogger(__name__)

DEFAULT_TTL = 30.0


@dataclass(frozen=True)
class Lease:
    """A held lease. ``took_over_from``: the previous holder when it had expired or died (its work is orphaned)."""

    name: str
    holder: str
    token: str
    expires_at: float
    took_over_from: str | None = None


@dataclass(frozen=True)
class LeaseInfo:
    name: str
    holder: str
    acquired_at: float
    expires_at: float


def holder_id() -> str:
    """``host:pid:nonce``: who holds a lease (the nonce tells two Vigil instances in one process apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def db_now(conn: Connection) -> float:
    """The database's clock, in Unix seconds."""
    if conn.dialect.name == "sqlite":
        query = "SELECT (julianday('now') - 2440587.5) * 86400.0"
    else:
        query = "SELECT extract(epoch from clock_timestamp())"
    return float(conn.execute(text(query)).scalar_one())


def _dead_here(holder: str) -> bool:
    """True if ``holder`` is a process of this host that no longer exists."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False  # this process: alive (another Vigil instance in it holds it)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Leases:
    """Leases on one metadata database, taken by one holder (this process, by default)."""

    def __init__(self, engine: Engine, holder: str | None = None, ttl: float = DEFAULT_TTL) -> None:
        self.engine = engine
        self.holder = holder or holder_id()
        self.ttl = ttl

    def acquire(self, name: str) -> Lease | None:
        """The lease ``name`` if it is free, expired, ours, or held by a dead process of this host; else None."""
        token = uuid.uuid4().hex
        with transaction(self.engine, write=True) as conn:
            now = db_now(conn)
            row = conn.execute(select(s.leases).where(s.leases.c.name == name).with_for_update()).mappings().first()
            values = {"holder": self.holder, "token": token, "expires_at": now + self.ttl}
            if row is None:
                insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
                inserted = conn.execute(insert(s.leases).values(name=name, acquired_at=now, **values)
                                        .on_conflict_do_nothing(index_elements=["name"])
                                        .returning(s.leases.c.name)).first()
                if inserted is None:
                    return None  # another process inserted it first
                return Lease(name, self.holder, token, now + self.ttl)
            mine = row["holder"] == self.holder
            if not (mine or row["expires_at"] <= now or _dead_here(row["holder"])):
                return None
            conn.execute(update(s.leases).where(s.leases.c.name == name).values(
                acquired_at=row["acquired_at"] if mine else now, **values))
            return Lease(name, self.holder, token, now + self.ttl, None if mine else row["holder"])

    def renew(self, lease: Lease) -> Lease | None:
        """Extend a held lease by ``ttl``; None when it was lost (expired and taken, or released)."""
        with transaction(self.engine, write=True) as conn:
            now = db_now(conn)
            done = conn.execute(update(s.leases).where(
                s.leases.c.name == lease.name, s.leases.c.token == lease.token).values(expires_at=now + self.ttl))
            if done.rowcount != 1:
                return None
        return Lease(lease.name, lease.holder, lease.token, now + self.ttl, lease.took_over_from)

    def release(self, lease: Lease) -> None:
        """Give a lease back (a no-op if it was lost meanwhile)."""
        with transaction(self.engine, write=True) as conn:
            conn.execute(delete(s.leases).where(s.leases.c.name == lease.name, s.leases.c.token == lease.token))

    def check(self, conn: Connection, lease: Lease) -> bool:
        """Inside the caller's write transaction: True if ``lease`` is still held and unexpired. On PostgreSQL the
        row stays locked until that transaction ends, so nobody can take the lease over before it commits."""
        row = conn.execute(select(s.leases.c.token, s.leases.c.expires_at).where(
            s.leases.c.name == lease.name).with_for_update()).first()
        return row is not None and row[0] == lease.token and row[1] > db_now(conn)

    def holder_of(self, name: str) -> LeaseInfo | None:
        """Who holds ``name`` now (None if free or expired)."""
        with transaction(self.engine) as conn:
            now = db_now(conn)
            row = conn.execute(select(s.leases).where(s.leases.c.name == name)).mappings().first()
        if row is None or row["expires_at"] <= now:
            return None
        return LeaseInfo(row["name"], row["holder"], row["acquired_at"], row["expires_at"])

    def list(self, prefix: str = "") -> list[LeaseInfo]:
        """Unexpired leases whose name starts with ``prefix``, by name."""
        with transaction(self.engine) as conn:
            now = db_now(conn)
            rows = conn.execute(select(s.leases).where(s.leases.c.name.startswith(prefix, autoescape=True),
                                                       s.leases.c.expires_at > now)
                                .order_by(s.leases.c.name)).mappings().all()
        return [LeaseInfo(r["name"], r["holder"], r["acquired_at"], r["expires_at"]) for r in rows]


class LeaseKeeper:
    """Renews held leases every ``ttl / 3`` seconds on a daemon thread; remembers the ones it lost."""

    def __init__(self, leases: Leases) -> None:
        self.leases = leases
        self._held: dict[str, Lease] = {}
        self._lost: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, lease: Lease) -> None:
        with self._lock:
            self._held[lease.name] = lease
            self._lost.discard(lease.name)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="vigil-leases", daemon=True)
                self._thread.start()

    def held(self) -> list[Lease]:
        """The leases being renewed now."""
        with self._lock:
            return list(self._held.values())

    def drop(self, name: str) -> Lease | None:
        with self._lock:
            return self._held.pop(name, None)

    def lost(self, name: str) -> bool:
        with self._lock:
            return name in self._lost

    def _loop(self) -> None:
        while not self._stop.wait(self.leases.ttl / 3):
            with self._lock:
                held = list(self._held.values())
            for lease in held:
                try:
                    renewed = self.leases.renew(lease)
                except Exception as exc:  # the database is unreachable: keep trying until the lease expires
                    log.warning("could not renew lease %s: %s", lease.name, exc)
                    continue
                with self._lock:
                    if renewed is None:
                        log.error("lost lease %s (expired and taken over?)", lease.name)
                        self._held.pop(lease.name, None)
                        self._lost.add(lease.name)
                    elif lease.name in self._held:
                        self._held[lease.name] = renewed

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


__all__ = ["DEFAULT_TTL", "Lease", "LeaseInfo", "LeaseKeeper", "Leases", "db_now", "holder_id"]
