"""Builders for store test data: commits from plain dicts, and file trees read back as dicts."""

from __future__ import annotations

from collections.abc import Mapping

from vigil.store.models import CommitInfo
from vigil.store.store import DEFAULT_BRANCH, Store

Tree = dict[str, bytes]


def commit(store: Store, repo: str, changes: Mapping[str, bytes | None], *, branch: str = DEFAULT_BRANCH,
           message: str = "", provenance: tuple[tuple[str, str], ...] = (), origin: str = "user") -> CommitInfo:
    """One commit on ``repo@branch``: ``{path: bytes}`` puts, ``{path: None}`` deletes (files or folders)."""
    with store.begin_commit(repo, branch, description=message, provenance=provenance, origin=origin) as c:
        for path, data in changes.items():
            if data is None:
                c.delete(path)
            else:
                c.put_bytes(path, data)
    assert c.result is not None
    return c.result


def tree(store: Store, repo: str, ref: str | None = None) -> Tree:
    """Every file of ``repo@ref`` with its bytes."""
    return {f.path: store.read_bytes(repo, ref, f.path) for f in store.list_files(repo, ref)}


def listing(store: Store, repo: str, ref: str | None = None) -> dict[str, str]:
    """``{path: oid}`` of ``repo@ref``."""
    return {f.path: f.oid for f in store.list_files(repo, ref)}


def object_files(store: Store) -> list[str]:
    """The oids stored in the object store."""
    return sorted(oid for oid, _ in store.objects.iter_oids())
