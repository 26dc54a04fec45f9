"""The audit log: entries chain by hash; editing, deleting or reordering rows directly in the database is caught
at the right entry; the table refuses UPDATE/DELETE; two writers never fork the chain. SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from vigil.store import audit
from vigil.store.database import transaction


def _fill(engine: Engine, n: int = 6) -> list[audit.Entry]:
    return [audit.record(engine, "view.evidence", f"event:e{i}", reason="case 42" if i % 2 else "",
                         detail={"i": i}, actor=audit.Actor(f"token:t{i}", "http:10.0.0.9")) for i in range(n)]


def _tamper(engine: Engine, *statements: str) -> None:
    """Run SQL on the audit table as someone with database access would: with the append-only triggers gone."""
    with transaction(engine, write=True) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        for sql in statements:
            conn.exec_driver_sql(sql)


def _swap(a: int, b: int) -> tuple[str, ...]:
    """Reorder: entries a and b exchange places (their seq numbers)."""
    return (f"UPDATE audit_log SET seq = -1 WHERE seq = {a}", f"UPDATE audit_log SET seq = {a} WHERE seq = {b}",
            f"UPDATE audit_log SET seq = {b} WHERE seq = -1")


TAMPERING: list[tuple[str, tuple[str, ...], int]] = [
    ("edit the object", ("UPDATE audit_log SET object = 'event:other' WHERE seq = 3",), 3),
    ("edit the actor", ("UPDATE audit_log SET actor = 'token:innocent' WHERE seq = 4",), 4),
    ("edit the reason", ("UPDATE audit_log SET reason = '' WHERE seq = 2",), 2),
    ("edit the time", ("UPDATE audit_log SET at = '2020-01-01T00:00:00.000000Z' WHERE seq = 5",), 5),
    ("edit the detail", ("UPDATE audit_log SET detail = '{\"i\":9}' WHERE seq = 1",), 1),
    ("delete one", ("DELETE FROM audit_log WHERE seq = 3",), 4),
    ("delete the first", ("DELETE FROM audit_log WHERE seq = 1",), 2),
    ("reorder two", _swap(2, 5), 2),
    ("reorder neighbours", _swap(4, 5), 4),
    ("renumber the rest", ("DELETE FROM audit_log WHERE seq = 3",
                           *(f"UPDATE audit_log SET seq = {i - 1} WHERE seq = {i}" for i in range(4, 7))), 3),
]


def test_a_clean_log_verifies_and_its_head_is_the_last_hash(engine: Engine) -> None:
    assert audit.verify(engine).ok and audit.head(engine).seq == 0
    written = _fill(engine)
    verdict = audit.verify(engine)
    assert verdict.ok and verdict.checked == 6 and verdict.head == written[-1].hash
    h = audit.head(engine)
    assert (h.seq, h.hash, h.count) == (6, written[-1].hash, 6)
    assert [e.prev_hash for e in written[1:]] == [e.hash for e in written[:-1]]
    assert audit.entries(engine) == written
    assert audit.verify(engine, anchor=(h.seq, h.hash)).ok


@pytest.mark.parametrize(("what", "statements", "broken"), TAMPERING, ids=[t[0] for t in TAMPERING])
def test_tampering_is_caught_at_the_first_changed_entry(engine: Engine, what: str, statements: tuple[str, ...],
                                                        broken: int) -> None:
    _fill(engine)
    _tamper(engine, *statements)
    verdict = audit.verify(engine)
    assert not verdict.ok, what
    assert verdict.broken_seq == broken, verdict.problem
    assert verdict.checked == sum(1 for e in audit.entries(engine) if e.seq < broken)  # all before it verify


def test_a_log_rewritten_or_cut_short_is_caught_by_an_anchor(engine: Engine) -> None:
    _fill(engine)
    anchor = audit.head(engine)
    _tamper(engine, "DELETE FROM audit_log WHERE seq = 6")
    assert audit.verify(engine).ok  # a cut at the end leaves a valid chain...
    verdict = audit.verify(engine, anchor=(anchor.seq, anchor.hash))
    assert not verdict.ok and verdict.broken_seq == 6 and "missing" in verdict.problem  # ...but not the anchor
    # Rewritten from entry 2 on with correct hashes: only the anchor can tell.
    _tamper(engine, "DELETE FROM audit_log WHERE seq >= 2")
    _fill(engine, 5)
    assert audit.verify(engine).ok
    verdict = audit.verify(engine, anchor=(6, anchor.hash))
    assert not verdict.ok and verdict.broken_seq == 6


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'x' WHERE seq = 1",
                                       "DELETE FROM audit_log WHERE seq = 1"])
def test_the_database_refuses_to_change_entries(engine: Engine, statement: str) -> None:
    _fill(engine, 2)
    with pytest.raises(DBAPIError, match="append-only"), transaction(engine, write=True) as conn:
        conn.execute(text(statement))
    assert audit.verify(engine).ok and audit.head(engine).count == 2


def test_an_entry_rolls_back_with_the_transaction_it_records(engine: Engine) -> None:
    with pytest.raises(RuntimeError), transaction(engine, write=True) as conn:
        audit.append(conn, "commit", "images@x")
        raise RuntimeError("the commit failed")
    assert audit.head(engine).count == 0


def test_concurrent_writers_never_fork_the_chain(engine: Engine) -> None:
    n, writers = 40, 4
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for i in range(n):
                audit.record(engine, "commit", f"repo{k}@{i}", actor=audit.Actor(f"writer{k}"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    verdict = audit.verify(engine)
    assert verdict.ok and verdict.checked == n * writers
    assert sorted(e.object for e in audit.entries(engine)) == sorted(f"repo{k}@{i}" for k in range(writers)
                                                                     for i in range(n))

