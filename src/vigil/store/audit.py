"""The audit log: an append-only, hash-chained table in the metadata database.

Each entry records who (``actor``) did what (``action``) to which ``object``, when (``at``, UTC), from where
(``origin``: ``cli`` or the client address) and why (``reason``, optional), plus a small ``detail`` document.
Its ``hash`` is ``sha256(previous hash || canonical JSON of the entry)`` (the first entry's previous hash is 64
zeros), so editing, deleting or reordering any entry breaks the chain at that entry, which :func:`verify` names.
Rewriting the whole chain after an edit is caught by an anchor: the head hash (:func:`head`) copied outside the
system (an e-mail, a ticket) must still be in the chain at its position (``verify(anchor=...)``).

Appending is safe under concurrent writers: the previous head is read inside the caller's write transaction
under the database's lock (SQLite: the write lock ``BEGIN IMMEDIATE`` takes; PostgreSQL: a transaction-scoped
advisory lock), and ``prev_hash`` is unique, so the chain cannot fork even if that lock were bypassed. Triggers
refuse UPDATE and DELETE on the table (migration 0005): changing an entry takes dropping them first, which the
chain then reveals.

Who acts is a context variable (:func:`acting`): the CLI's default is the OS user, the HTTP server sets the
token and the client address per request.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, Connection, Engine, Integer, String, Table, Text, func, insert, select, text

from vigil.store.database import transaction
from vigil.store.schema import metadata

GENESIS = "0" * 64
_PG_LOCK = 0x5649_4755_4454  # "VIGUDT": the advisory lock that serialises appends on PostgreSQL

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False),  # ISO 8601 UTC, microseconds: canonical as text
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object", Text, nullable=False),
    Column("origin", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("detail", Text, nullable=False),  # canonical JSON
    Column("prev_hash", String(64), nullable=False, unique=True),
    Column("hash", String(64), nullable=False),
    sqlite_autoincrement=True,
)


@dataclass(frozen=True)
class Actor:
    """Who acts (``user:alice``, ``token:3f2a9c01b7e4 (viewer, tenant acme)``) and from where."""

    name: str
    origin: str = "cli"


@lru_cache(maxsize=1)
def _default_actor() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = "unknown"
    return Actor(f"user:{user}")


_ACTOR: ContextVar[Actor | None] = ContextVar("vigil_audit_actor", default=None)


def current_actor() -> Actor:
    return _ACTOR.get() or _default_actor()


def set_actor(actor: Actor) -> None:
    """Make ``actor`` the one recorded by later entries in this context (an HTTP request sets its caller)."""
    _ACTOR.set(actor)


@contextmanager
def acting(actor: Actor) -> Iterator[None]:
    """Record entries made inside the block as ``actor``'s."""
    token = _ACTOR.set(actor)
    try:
        yield
    finally:
        _ACTOR.reset(token)


@dataclass(frozen=True)
class Entry:
    """One audit log entry as stored."""

    seq: int
    at: str
    actor: str
    action: str
    object: str
    origin: str
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def canonical(seq: int, at: str, actor: str, action: str, obj: str, origin: str, reason: str,
              detail: str) -> bytes:
    """The bytes an entry's hash covers: sorted keys, no spaces, UTF-8 (``detail`` as its stored JSON text)."""
    doc = {"seq": seq, "at": at, "actor": actor, "action": action, "object": obj, "from": origin,
           "reason": reason, "detail": detail}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


def _detail_json(detail: dict[str, Any] | None) -> str:
    return json.dumps(detail or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Built once: constructing statements per append cost more than running them (every commit appends).
_HEAD = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_INSERT = insert(audit_log)


def append(conn: Connection, action: str, obj: str, *, reason: str = "", detail: dict[str, Any] | None = None,
           actor: Actor | None = None) -> Entry:
    """Append one entry inside ``conn``'s WRITE transaction (so it commits, or not, with what it records)."""
    who = actor or current_actor()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    last = conn.execute(_HEAD).first()
    seq, prev = (int(last[0]) + 1, str(last[1])) if last is not None else (1, GENESIS)
    at, detail_text = _now(), _detail_json(detail)
    digest = entry_hash(prev, canonical(seq, at, who.name, action, obj, who.origin, reason, detail_text))
    conn.execute(_INSERT, {"seq": seq, "at": at, "actor": who.name, "action": action, "object": obj,
                           "origin": who.origin, "reason": reason, "detail": detail_text, "prev_hash": prev,
                           "hash": digest})
    return Entry(seq, at, who.name, action, obj, who.origin, reason, json.loads(detail_text), prev, digest)


def record(engine: Engine, action: str, obj: str, *, reason: str = "", detail: dict[str, Any] | None = None,
           actor: Actor | None = None) -> Entry:
    """Append one entry in its own transaction."""
    with transaction(engine, write=True) as conn:
        return append(conn, action, obj, reason=reason, detail=detail, actor=actor)


def _entry(row: Any) -> Entry:
    try:
        detail = json.loads(row.detail)
    except ValueError:
        detail = {"unparseable": row.detail}
    return Entry(row.seq, row.at, row.actor, row.action, row.object, row.origin, row.reason, detail,
                 row.prev_hash, row.hash)


def entries(engine: Engine, *, limit: int | None = None, action: str | None = None,
            since_seq: int = 0) -> list[Entry]:
    """Entries oldest first (the newest ``limit`` when given), optionally of one action (a prefix: ``view``)."""
    q = select(audit_log).where(audit_log.c.seq > since_seq)
    if action:
        q = q.where(audit_log.c.action.like(action + "%"))
    with transaction(engine) as conn:
        if limit is not None:
            rows = list(conn.execute(q.order_by(audit_log.c.seq.desc()).limit(limit)))[::-1]
        else:
            rows = list(conn.execute(q.order_by(audit_log.c.seq)))
    return [_entry(r) for r in rows]


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def head(engine: Engine) -> Head:
    """The newest entry's position and hash (seq 0 and the genesis hash for an empty log)."""
    with transaction(engine) as conn:
        last = conn.execute(select(audit_log.c.seq, audit_log.c.hash)
                            .order_by(audit_log.c.seq.desc()).limit(1)).first()
        count = int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())
    return Head(0, GENESIS, 0) if last is None else Head(int(last[0]), str(last[1]), count)


@dataclass(frozen=True)
class Verdict:
    """The result of :func:`verify`: ``ok``, the entries checked, and the first broken one (seq and why)."""

    ok: bool
    checked: int
    head: str
    broken_seq: int | None = None
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(engine: Engine, *, anchor: tuple[int, str] | None = None, batch: int = 5000) -> Verdict:
    """Recompute the chain from the first entry; stop at the first entry that does not follow from the one
    before it. ``anchor`` (seq, hash), a head copied earlier, must still be the hash of entry ``seq``."""
    prev, expected_seq, checked, last_seq = GENESIS, 1, 0, 0
    anchor_seen = False
    with transaction(engine) as conn:
        while True:
            rows = list(conn.execute(select(audit_log).where(audit_log.c.seq > last_seq)
                                     .order_by(audit_log.c.seq).limit(batch)))
            if not rows:
                break
            for row in rows:
                problem = _check(row, prev, expected_seq)
                if problem:
                    return Verdict(False, checked, prev, int(row.seq), problem)
                if anchor is not None and row.seq == anchor[0]:
                    anchor_seen = True
                    if row.hash != anchor[1]:
                        return Verdict(False, checked, prev, int(row.seq),
                                       f"entry {row.seq} hashes to {row.hash[:16]}..., not the anchored "
                                       f"{anchor[1][:16]}...: the log was rewritten from here or earlier")
                prev, expected_seq, last_seq = row.hash, int(row.seq) + 1, int(row.seq)
                checked += 1
    if anchor is not None and not anchor_seen and anchor[0] > 0:
        return Verdict(False, checked, prev, anchor[0],
                       f"the anchored entry {anchor[0]} is missing (the log ends at {last_seq}): entries were "
                       "deleted from the end")
    return Verdict(True, checked, prev)


def _check(row: Any, prev: str, expected_seq: int) -> str:
    if row.prev_hash != prev:
        what = "the entry before it was deleted, or entries were reordered"
        if row.seq == expected_seq + 1:
            what = f"entry {expected_seq} is missing"
        elif row.seq > expected_seq:
            what = f"entries {expected_seq}..{row.seq - 1} are missing"
        return f"entry {row.seq} does not follow the entry before it ({what})"
    body = canonical(int(row.seq), row.at, row.actor, row.action, row.object, row.origin, row.reason, row.detail)
    if entry_hash(prev, body) != row.hash:
        return f"entry {row.seq} was changed after it was written (its content no longer matches its hash)"
    if row.seq != expected_seq:
        return f"entry {row.seq} follows entry {expected_seq - 1} but is numbered {row.seq} (renumbered)"
    return ""


__all__ = ["GENESIS", "Actor", "Entry", "Head", "Verdict", "acting", "append", "audit_log", "canonical",
           "current_actor", "entries", "entry_hash", "head", "record", "set_actor", "verify"]
