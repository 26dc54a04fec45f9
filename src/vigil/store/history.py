"""History queries over the store: log, per-commit changes, diff between commits, lineage (provenance)."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, and_, or_, select

from vigil.errors import NotFoundError
from vigil.store import schema as s
from vigil.store.database import transaction
from vigil.store.models import Change, CommitInfo
from vigil.store.store import DEFAULT_BRANCH, Store


def log(store: Store, repo: str, ref: str | None = None, limit: int | None = None) -> list[CommitInfo]:
    """Commits reachable from ``ref`` (default: master's head), newest first, following parents."""
    with transaction(store.engine) as conn:
        ref = ref or DEFAULT_BRANCH
        b = s.branches.c
        branch = conn.execute(select(b.head_seq).where(
            b.repo_id == store.repo_id(conn, repo), b.name == ref)).first()
        if branch is not None and branch[0] is None:
            return []  # a branch with no commits yet has an empty log
        seq: int | None = store.resolve_seq(conn, repo, ref)
        out: list[CommitInfo] = []
        c = s.commits.c
        while seq is not None and (limit is None or len(out) < limit):
            chain = conn.execute(select(c.chain_id).where(c.seq == seq)).scalar_one()
            # Walk the run of this chain in one query, then hop to the parent chain (forks are rare).
            q = select(c.seq, c.parent_seq).where(c.chain_id == chain, c.seq <= seq).order_by(c.seq.desc())
            if limit is not None:
                q = q.limit(limit - len(out))
            rows = conn.execute(q).all()
            for row_seq, _ in rows:
                out.append(store.commit_info_at(conn, row_seq))
            seq = rows[-1][1] if rows else None
        return out


def changes(store: Store, repo: str, ref: str | None) -> list[Change]:
    """What the commit ``ref`` itself changed relative to its parent."""
    with transaction(store.engine) as conn:
        seq = store.resolve_seq(conn, repo, ref)
        return commit_changes(store, conn, seq)


def commit_changes(store: Store, conn: Connection, seq: int) -> list[Change]:
    e = s.entries.c
    chain = store.position(conn, seq).chain_id
    new = {r[0]: (r[1], r[2]) for r in conn.execute(
        select(e.path, e.oid, e.size).where(e.chain_id == chain, e.from_seq == seq))}
    old = {r[0]: (r[1], r[2]) for r in conn.execute(
        select(e.path, e.oid, e.size).where(e.chain_id == chain, e.to_seq == seq))}
    out: list[Change] = []
    for path in sorted(new.keys() | old.keys()):
        n, o = new.get(path), old.get(path)
        if n and o:
            out.append(Change("modified", path, n[0], o[0], n[1]))
        elif n:
            out.append(Change("added", path, n[0], None, n[1]))
        elif o:
            out.append(Change("deleted", path, None, o[0], o[1]))
    return out


def changes_between(store: Store, conn: Connection, old_seq: int, new_seq: int) -> list[Change] | None:
    """Net changes from commit ``old_seq`` to ``new_seq`` of one chain (sorted by path), read through the
    entries' validity intervals: O(changes), whatever the history. None when they are not on one chain."""
    old, new = store.position(conn, old_seq), store.position(conn, new_seq)
    if old.chain_id != new.chain_id or old_seq > new_seq:
        return None
    e = s.entries.c
    rows = conn.execute(select(e.path, e.oid, e.size, e.from_seq, e.to_seq).where(
        e.chain_id == new.chain_id, or_(and_(e.from_seq > old_seq, e.from_seq <= new_seq),
                                        and_(e.to_seq > old_seq, e.to_seq <= new_seq)))).all()
    before: dict[str, tuple[str, int]] = {}  # live at old_seq
    after: dict[str, tuple[str, int]] = {}  # live at new_seq
    for path, oid, size, frm, to in rows:
        if frm <= old_seq and (to is None or to > old_seq):
            before[path] = (oid, size)
        if frm <= new_seq and (to is None or to > new_seq):
            after[path] = (oid, size)
    out: list[Change] = []
    for path in sorted(before.keys() | after.keys()):
        a, b = before.get(path), after.get(path)
        if a and b:
            if a[0] != b[0]:
                out.append(Change("modified", path, b[0], a[0], b[1]))
        elif b:
            out.append(Change("added", path, b[0], None, b[1]))
        elif a:
            out.append(Change("deleted", path, None, a[0], a[1]))
    return out


def diff(store: Store, repo_a: str, ref_a: str | None, repo_b: str, ref_b: str | None,
         prefix: str = "/") -> list[Change]:
    """Changes that turn ``repo_a@ref_a`` into ``repo_b@ref_b`` (sorted by path)."""
    with transaction(store.engine) as conn:
        a = {f.path: f for f in store.files_at(conn, store.resolve_seq(conn, repo_a, ref_a), prefix)}
        b = {f.path: f for f in store.files_at(conn, store.resolve_seq(conn, repo_b, ref_b), prefix)}
    out: list[Change] = []
    for path in sorted(a.keys() | b.keys()):
        fa, fb = a.get(path), b.get(path)
        if fa and fb:
            if fa.oid != fb.oid:
                out.append(Change("modified", path, fb.oid, fa.oid, fb.size))
        elif fb:
            out.append(Change("added", path, fb.oid, None, fb.size))
        elif fa:
            out.append(Change("deleted", path, None, fa.oid, fa.size))
    return out


@dataclass
class LineageNode:
    repo: str
    commit: str
    origin: str
    description: str
    depth: int
    links: list[str] = field(default_factory=list)  # "repo@commit" one step further in this direction

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lineage(store: Store, repo: str, ref: str | None, direction: Literal["up", "down"],
            max_depth: int = 50) -> list[LineageNode]:
    """Provenance walked breadth-first: ``up`` = what this commit came from; ``down`` = what was made from it."""
    src_col, dst_col = (s.provenance.c.commit_seq, s.provenance.c.source_seq)
    if direction == "down":
        src_col, dst_col = dst_col, src_col
    with transaction(store.engine) as conn:
        start = store.resolve_seq(conn, repo, ref)
        seen = {start: 0}
        queue = deque([start])
        nodes: list[LineageNode] = []
        while queue:
            seq = queue.popleft()
            info = store.commit_info_at(conn, seq)
            nexts = list(conn.execute(select(dst_col).where(src_col == seq).order_by(dst_col)).scalars())
            node = LineageNode(info.repo, info.id, info.origin, info.description, seen[seq])
            for n in nexts:
                other = store.commit_info_at(conn, n)
                node.links.append(f"{other.repo}@{other.id}")
                if n not in seen and seen[seq] < max_depth:
                    seen[n] = seen[seq] + 1
                    queue.append(n)
            nodes.append(node)
        return nodes


def last_writer(store: Store, repo: str, ref: str | None, path: str) -> CommitInfo:
    """The commit that wrote the version of ``path`` live at ``repo@ref``; ``NotFoundError`` if it is absent."""
    with transaction(store.engine) as conn:
        seq = store.resolve_seq(conn, repo, ref)
        pos = store.position(conn, seq)
        e = s.entries.c
        row = conn.execute(select(e.from_seq, e.to_seq).where(
            e.chain_id == pos.chain_id, e.path == path, e.from_seq <= seq
        ).order_by(e.from_seq.desc()).limit(1)).first()
        if row is None or (row[1] is not None and row[1] <= seq):
            raise NotFoundError(f"no file {path} in {repo}@{ref or DEFAULT_BRANCH}",
                                f"list files with `vigil ls {repo}`")
        return store.commit_info_at(conn, int(row[0]))
