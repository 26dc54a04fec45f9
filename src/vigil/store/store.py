"""The versioned store: repos, branches, immutable commits, reads at any commit.

``Store`` is the read side and the entry point; writing goes through :class:`vigil.store.commit.CommitBuilder`
(``store.begin_commit(...)``), history queries through :mod:`vigil.store.history`, checks through
:mod:`vigil.store.integrity`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy import Connection, Engine, delete, func, insert, literal, or_, select

from vigil.errors import AlreadyExistsError, AmbiguousRefError, ConflictError, NotFoundError, UsageError
from vigil.store import audit
from vigil.store import schema as s
from vigil.store.database import transaction
from vigil.store.models import CommitInfo, FileInfo, Position, RepoInfo
from vigil.store.objects import ObjectStore, open_verified
from vigil.store.paths import check_name, normalize_path

if TYPE_CHECKING:
    from vigil.store.commit import CommitBuilder

DEFAULT_BRANCH = "master"
_ANCESTOR = re.compile(r"^(?P<base>.+?)\^(?P<n>\d*)$")
_HEX = re.compile(r"^[0-9a-f]{4,32}$")


def prefix_bounds(prefix: str) -> tuple[str, str]:
    """Half-open string range [lo, hi) holding every path strictly below directory ``prefix``."""
    base = prefix.rstrip("/") + "/"
    return base, base[:-1] + "0"  # '0' sorts right after '/'


class Store:
    """Repos of versioned files over an :class:`ObjectStore` (bytes) and a SQL database (metadata)."""

    def __init__(self, engine: Engine, objects: ObjectStore) -> None:
        self.engine = engine
        self.objects = objects

    def close(self) -> None:
        """Release database connections (the store is unusable afterwards)."""
        self.engine.dispose()

    # ---------------------------------------------------------------- repos
    def create_repo(self, name: str, description: str = "", *, exist_ok: bool = False) -> RepoInfo:
        """Create a repo with an empty ``master`` branch; ``AlreadyExistsError`` unless ``exist_ok``."""
        with transaction(self.engine, write=True) as conn:
            return self.create_repo_in(conn, name, description, exist_ok=exist_ok)

    def create_repo_in(self, conn: Connection, name: str, description: str = "", *,
                       exist_ok: bool = False) -> RepoInfo:
        """:meth:`create_repo` inside the caller's write transaction (atomic with the caller's other writes)."""
        check_name("repo", name)
        if conn.execute(select(s.repos.c.id).where(s.repos.c.name == name)).first():
            if exist_ok:
                return self._repo_info(conn, name)
            raise AlreadyExistsError(f"repo {name!r} already exists", f"use `vigil repo inspect {name}`")
        repo_id = inserted_id(conn.execute(
            insert(s.repos).values(name=name, description=description, created_at=time.time())))
        self._new_branch(conn, repo_id, DEFAULT_BRANCH, None)
        return self._repo_info(conn, name)

    def list_repos(self) -> list[RepoInfo]:
        with transaction(self.engine) as conn:
            names = conn.execute(select(s.repos.c.name).order_by(s.repos.c.name)).scalars().all()
            return [self._repo_info(conn, n) for n in names]

    def inspect_repo(self, name: str) -> RepoInfo:
        with transaction(self.engine) as conn:
            return self._repo_info(conn, name)

    def delete_repo(self, name: str, *, force: bool = False) -> None:
        """Delete a repo and its history (blobs stay until ``gc``). Refuses while a pipeline reads it."""
        with transaction(self.engine, write=True) as conn:
            repo_id = self._repo_id(conn, name)
            readers = self._readers(conn, repo_id)
            if readers and not force:
                raise ConflictError(
                    f"repo {name!r} is read by pipeline(s) {', '.join(readers)}",
                    "delete those pipelines first, or pass --force",
                )
            conn.execute(delete(s.provenance).where(s.provenance.c.commit_seq.in_(
                select(s.commits.c.seq).where(s.commits.c.repo_id == repo_id))))
            conn.execute(delete(s.entries).where(s.entries.c.chain_id.in_(
                select(s.chains.c.id).where(s.chains.c.repo_id == repo_id))))
            for table in (s.branches, s.commits, s.chains, s.readers):
                conn.execute(delete(table).where(table.c.repo_id == repo_id))
            conn.execute(delete(s.repos).where(s.repos.c.id == repo_id))
            audit.append(conn, "repo.delete", name, detail={"force": force, "readers": readers})

    def set_readers(self, reader: str, repos: Sequence[str]) -> None:
        """Record that ``reader`` (a pipeline) reads exactly ``repos`` (replacing what it read before)."""
        with transaction(self.engine, write=True) as conn:
            self.set_readers_in(conn, reader, repos)

    def set_readers_in(self, conn: Connection, reader: str, repos: Sequence[str]) -> None:
        """:meth:`set_readers` inside the caller's write transaction."""
        conn.execute(delete(s.readers).where(s.readers.c.reader == reader))
        for name in sorted(set(repos)):
            conn.execute(insert(s.readers).values(repo_id=self._repo_id(conn, name), reader=reader))

    def _repo_id(self, conn: Connection, name: str) -> int:
        row = conn.execute(select(s.repos.c.id).where(s.repos.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"repo {name!r} does not exist", "list repos with `vigil repo list`")
        return int(row[0])

    def _readers(self, conn: Connection, repo_id: int) -> list[str]:
        q = select(s.readers.c.reader).where(s.readers.c.repo_id == repo_id).order_by(s.readers.c.reader)
        return list(conn.execute(q).scalars())

    def _repo_info(self, conn: Connection, name: str) -> RepoInfo:
        repo_id = self._repo_id(conn, name)
        row = conn.execute(select(s.repos).where(s.repos.c.id == repo_id)).mappings().one()
        branches = conn.execute(
            select(s.branches.c.name).where(s.branches.c.repo_id == repo_id).order_by(s.branches.c.name)
        ).scalars()
        n = conn.execute(select(func.count()).where(s.commits.c.repo_id == repo_id)).scalar_one()
        return RepoInfo(name, row["description"], row["created_at"], list(branches), n,
                        self._readers(conn, repo_id))

    # ------------------------------------------------------------- branches
    def create_branch(self, repo: str, name: str, head: str | None = None) -> str | None:
        """Create branch ``name``; with ``head`` (a ref) it starts at that commit. Returns the head commit id."""
        check_name("branch", name)
        with transaction(self.engine, write=True) as conn:
            repo_id = self._repo_id(conn, repo)
            if conn.execute(select(s.branches.c.id).where(
                    s.branches.c.repo_id == repo_id, s.branches.c.name == name)).first():
                raise AlreadyExistsError(f"branch {repo}@{name} already exists", "pick another name")
            seq = self._resolve_seq(conn, repo_id, repo, head) if head else None
            self._new_branch(conn, repo_id, name, seq)
            return self._commit_id(conn, seq) if seq else None

    def _new_branch(self, conn: Connection, repo_id: int, name: str, head_seq: int | None) -> None:
        chain_id = inserted_id(conn.execute(insert(s.chains).values(repo_id=repo_id)))
        conn.execute(insert(s.branches).values(repo_id=repo_id, name=name, chain_id=chain_id, head_seq=head_seq))
        if head_seq is not None:  # the new chain starts with a copy of the files live at the fork point
            pos = self._position(conn, head_seq)
            e = s.entries.c
            src = select(literal(chain_id, e.chain_id.type), e.path, e.oid, e.size,
                         literal(head_seq, e.from_seq.type)).where(e.chain_id == pos.chain_id, *_live_at(pos))
            conn.execute(insert(s.entries).from_select(["chain_id", "path", "oid", "size", "from_seq"], src))

    def list_branches(self, repo: str) -> list[tuple[str, str | None]]:
        """(branch name, head commit id or None) for each branch of ``repo``."""
        with transaction(self.engine) as conn:
            repo_id = self._repo_id(conn, repo)
            rows = conn.execute(select(s.branches.c.name, s.commits.c.id).select_from(
                s.branches.outerjoin(s.commits, s.commits.c.seq == s.branches.c.head_seq)
            ).where(s.branches.c.repo_id == repo_id).order_by(s.branches.c.name)).all()
            return [(r[0], r[1]) for r in rows]

    def branch_exists(self, repo: str, branch: str) -> bool:
        with transaction(self.engine) as conn:
            repo_id = self._repo_id(conn, repo)
            return conn.execute(select(s.branches.c.id).where(
                s.branches.c.repo_id == repo_id, s.branches.c.name == branch)).first() is not None

    # ------------------------------------------------------------ resolving
    def resolve(self, repo: str, ref: str | None = None) -> CommitInfo:
        """The commit named by ``ref``: a branch (its head), a commit id or unique prefix, or ``REF^N``."""
        with transaction(self.engine) as conn:
            return self.commit_info_at(conn, self._resolve_seq(conn, self._repo_id(conn, repo), repo, ref))

    def head(self, repo: str, branch: str = DEFAULT_BRANCH) -> CommitInfo | None:
        """The head commit of a branch, or None if the branch has no commits yet."""
        with transaction(self.engine) as conn:
            seq = self._branch_head(conn, self._repo_id(conn, repo), repo, branch)
            return self.commit_info_at(conn, seq) if seq is not None else None

    def _branch_head(self, conn: Connection, repo_id: int, repo: str, branch: str) -> int | None:
        row = conn.execute(select(s.branches.c.head_seq).where(
            s.branches.c.repo_id == repo_id, s.branches.c.name == branch)).first()
        if row is None:
            raise NotFoundError(f"branch {repo}@{branch} does not exist",
                                f"list branches with `vigil repo inspect {repo}`")
        return None if row[0] is None else int(row[0])

    def _resolve_seq(self, conn: Connection, repo_id: int, repo: str, ref: str | None) -> int:
        ref = ref or DEFAULT_BRANCH
        back = 0
        if m := _ANCESTOR.match(ref):
            ref, back = m["base"], int(m["n"] or 1)
        seq = self._resolve_base(conn, repo_id, repo, ref)
        for _ in range(back):
            parent = conn.execute(select(s.commits.c.parent_seq).where(s.commits.c.seq == seq)).scalar_one()
            if parent is None:
                raise NotFoundError(f"{repo}@{ref}^{back} goes past the first commit",
                                    f"see `vigil log {repo}` for the history")
            seq = parent
        return seq

    def _resolve_base(self, conn: Connection, repo_id: int, repo: str, ref: str) -> int:
        branch = conn.execute(select(s.branches.c.head_seq, s.branches.c.id).where(
            s.branches.c.repo_id == repo_id, s.branches.c.name == ref)).first()
        if branch is not None:
            if branch[0] is None:
                raise NotFoundError(f"branch {repo}@{ref} has no commits yet",
                                    f"add files with `vigil put {repo}@{ref} FILE...`")
            return int(branch[0])
        if _HEX.match(ref):
            rows = conn.execute(select(s.commits.c.seq, s.commits.c.id).where(
                s.commits.c.repo_id == repo_id, s.commits.c.id.like(ref + "%")).limit(2)).all()
            if len(rows) > 1:
                raise AmbiguousRefError(f"commit prefix {ref!r} matches several commits in {repo}",
                                        "give more characters of the commit id")
            if rows:
                return int(rows[0][0])
        raise NotFoundError(f"no branch or commit {ref!r} in repo {repo!r}",
                            f"see `vigil log {repo}` and `vigil repo inspect {repo}`")

    def _position(self, conn: Connection, seq: int) -> Position:
        chain_id = conn.execute(select(s.commits.c.chain_id).where(s.commits.c.seq == seq)).scalar_one()
        tip = conn.execute(select(func.max(s.commits.c.seq)).where(s.commits.c.chain_id == chain_id)).scalar_one()
        return Position(chain_id, seq, tip == seq)

    def _commit_id(self, conn: Connection, seq: int) -> str:
        return str(conn.execute(select(s.commits.c.id).where(s.commits.c.seq == seq)).scalar_one())

    def commit_info_at(self, conn: Connection, seq: int) -> CommitInfo:
        c = s.commits.alias("c")
        p = s.commits.alias("p")
        row = conn.execute(select(c, p.c.id.label("parent_id"), s.repos.c.name.label("repo_name")).select_from(
            c.outerjoin(p, p.c.seq == c.c.parent_seq).join(s.repos, s.repos.c.id == c.c.repo_id)
        ).where(c.c.seq == seq)).mappings().one()
        src = s.commits.alias("src")
        prov = conn.execute(select(s.repos.c.name, src.c.id).select_from(
            s.provenance.join(src, src.c.seq == s.provenance.c.source_seq).join(s.repos, s.repos.c.id == src.c.repo_id)
        ).where(s.provenance.c.commit_seq == seq).order_by(s.repos.c.name, src.c.seq)).all()
        return CommitInfo(
            id=row["id"], seq=row["seq"], repo=row["repo_name"], branch=row["branch"], parent=row["parent_id"],
            created_at=row["created_at"], description=row["description"], origin=row["origin"],
            n_added=row["n_added"], n_modified=row["n_modified"], n_deleted=row["n_deleted"],
            bytes_added=row["bytes_added"], provenance=[f"{r[0]}@{r[1]}" for r in prov],
        )

    def commit_info(self, seq: int) -> CommitInfo:
        with transaction(self.engine) as conn:
            return self.commit_info_at(conn, seq)

    # ---------------------------------------------------------------- reads
    def list_files(self, repo: str, ref: str | None = None, prefix: str = "/") -> list[FileInfo]:
        """Files at a commit under ``prefix`` (a directory or a file path), sorted by path."""
        with transaction(self.engine) as conn:
            seq = self._resolve_seq(conn, self._repo_id(conn, repo), repo, ref)
            return self.files_at(conn, seq, prefix)

    def files_at(self, conn: Connection, seq: int, prefix: str = "/") -> list[FileInfo]:
        pos = self._position(conn, seq)
        e = s.entries.c
        q = select(e.path, e.oid, e.size).where(e.chain_id == pos.chain_id, *_live_at(pos))
        prefix = normalize_path(prefix)
        if prefix == "/":
            return [FileInfo(r[0], r[1], r[2]) for r in conn.execute(q.order_by(e.path))]
        # The file itself, then everything below it: two index probes (an OR of both makes SQLite scan).
        lo, hi = prefix_bounds(prefix)
        rows = [*conn.execute(q.where(e.path == prefix)),
                *conn.execute(q.where(e.path >= lo, e.path < hi).order_by(e.path))]
        return [FileInfo(r[0], r[1], r[2]) for r in rows]

    def has_files(self, conn: Connection, seq: int) -> bool:
        """Whether the commit at ``seq`` holds any file (one index probe, whatever its size)."""
        pos = self._position(conn, seq)
        e = s.entries.c
        first = conn.execute(select(e.path).where(e.chain_id == pos.chain_id, *_live_at(pos)).limit(1)).first()
        return first is not None

    def list_range(self, repo: str, ref: str, lo: str, hi: str) -> list[FileInfo]:
        """Files at ``repo@ref`` with ``lo <= path < hi``, sorted: one index range scan."""
        e = s.entries.c
        with transaction(self.engine) as conn:
            pos = self._position(conn, self._resolve_seq(conn, self._repo_id(conn, repo), repo, ref))
            rows = conn.execute(select(e.path, e.oid, e.size).where(
                e.chain_id == pos.chain_id, *_live_at(pos), e.path >= lo, e.path < hi).order_by(e.path))
            return [FileInfo(r[0], r[1], r[2]) for r in rows]

    def stat(self, repo: str, ref: str | None, path: str) -> FileInfo:
        """The file at ``path``; ``NotFoundError`` if absent, ``UsageError`` if it is a directory."""
        return self.locate(repo, ref, path)[0]

    def locate(self, repo: str, ref: str | None, path: str) -> tuple[FileInfo, str]:
        """The file at ``path`` and the id of the commit ``ref`` names; errors as :meth:`stat`."""
        path = normalize_path(path)
        with transaction(self.engine) as conn:
            seq = self._resolve_seq(conn, self._repo_id(conn, repo), repo, ref)
            found = self._lookup(conn, seq, path)
            if found is not None:
                return found, self._commit_id(conn, seq)
            if path == "/" or self.files_at(conn, seq, path):
                raise UsageError(f"{repo}:{path} is a directory", f"list it with `vigil ls {repo}:{path}/*`")
            raise NotFoundError(f"no file {path} in {repo}@{ref or DEFAULT_BRANCH}",
                                f"list files with `vigil ls {repo}@{ref or DEFAULT_BRANCH}`")

    def _lookup(self, conn: Connection, seq: int, path: str) -> FileInfo | None:
        pos = self._position(conn, seq)
        e = s.entries.c
        row = conn.execute(select(e.path, e.oid, e.size, e.to_seq).where(
            e.chain_id == pos.chain_id, e.path == path, e.from_seq <= seq
        ).order_by(e.from_seq.desc()).limit(1)).first()
        if row is None or (row[3] is not None and row[3] <= seq):
            return None
        return FileInfo(row[0], row[1], row[2])

    def open(self, repo: str, ref: str | None, path: str) -> BinaryIO:
        """A binary stream of the file at ``path`` in ``repo@ref``, verified as it is read: reading to its end
        raises ``CorruptBlobError`` naming repo, path and commit when the stored bytes are damaged or gone."""
        info, commit = self.locate(repo, ref, path)
        return open_verified(self.objects, info.oid, repo, info.path, commit, info.size)

    def read_bytes(self, repo: str, ref: str | None, path: str) -> bytes:
        with self.open(repo, ref, path) as fh:
            return fh.read()

    # --------------------------------------------------------------- writes
    def begin_commit(self, repo: str, branch: str = DEFAULT_BRANCH, *, description: str = "",
                     origin: str = "user", provenance: Sequence[tuple[str, str]] = (),
                     parent: str | None = None) -> CommitBuilder:
        """Start a commit on ``repo@branch``: stage puts and deletes, then ``finish()`` (or use ``with``).

        ``provenance``: (repo, commit id) pairs this commit derives from. ``parent``: if given, the commit
        fails with ``ConflictError`` unless the branch head is still that commit (optimistic concurrency).
        """
        from vigil.store.commit import CommitBuilder

        return CommitBuilder(self, repo, branch, description=description, origin=origin,
                             provenance=list(provenance), expected_parent=parent)

    def repo_id(self, conn: Connection, name: str) -> int:
        return self._repo_id(conn, name)

    def resolve_seq(self, conn: Connection, repo: str, ref: str | None) -> int:
        return self._resolve_seq(conn, self._repo_id(conn, repo), repo, ref)

    def position(self, conn: Connection, seq: int) -> Position:
        return self._position(conn, seq)

    def branch_head_seq(self, conn: Connection, repo: str, branch: str) -> int | None:
        return self._branch_head(conn, self._repo_id(conn, repo), repo, branch)


def _live_at(pos: Position) -> list[Any]:
    """Conditions selecting the entries of ``pos.chain_id`` live at commit ``pos.seq``."""
    e = s.entries.c
    if pos.is_tip:
        return [e.to_seq.is_(None)]
    return [e.from_seq <= pos.seq, or_(e.to_seq.is_(None), e.to_seq > pos.seq)]


def inserted_id(result: Any) -> int:
    """The primary key a single-row INSERT created."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


__all__ = ["DEFAULT_BRANCH", "Store", "chunks", "prefix_bounds"]
