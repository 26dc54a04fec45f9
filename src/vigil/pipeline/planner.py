"""Job planning: which datums a job must process, which it skips, and which outputs it must remove.

Two ways to the same answer:

* **incremental** (pfs inputs and crosses of them, the common case): diff each input between the commits of
  the last successful job and now (O(changes), through the entries' validity intervals), map changed paths to
  their glob roots, and rebuild only the datums touching those roots. Cost is independent of history size.
* **full**: list every input, build every datum and compare ids with the committed ones (any input tree).

Datum ids depend only on content, so both give the same ids for the same datums.

Failed datums (uncommitted records in state FAILED) are left out while they back off, and come back once their
``retry_at`` has passed: a full plan lists them anyway; an incremental plan rebuilds them from the roots they
read (cost: the failed datums, not the history).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from vigil.pipeline import state as t
from vigil.pipeline.datums import Datum, DatumInput, FileRef, Unit, build_datums, make_datums, pfs_units
from vigil.pipeline.glob import compile_glob
from vigil.pipeline.spec import InputSpec, PfsInput, PipelineSpec
from vigil.pipeline.transform import IncrementalBase
from vigil.store import history
from vigil.store import schema as s
from vigil.store.models import Change
from vigil.store.store import Store, chunks


@dataclass(frozen=True)
class InputHead:
    name: str
    repo: str
    commit: str
    seq: int


@dataclass
class Plan:
    inputs: dict[str, InputHead]
    todo: list[Datum] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # committed datum ids that no longer exist
    n_total: int = 0
    incremental: bool = False
    empty_reason: str | None = None
    base: IncrementalBase | None = None  # incremental pipelines: what their one datum starts from
    retries: list[str] = field(default_factory=list)  # failed datums retried by this job
    obsolete: list[str] = field(default_factory=list)  # failed datums whose inputs changed or went: forget them
    waiting: int = 0  # failed datums still backing off

    @property
    def n_skipped(self) -> int:
        return self.n_total - len(self.todo)


def input_heads(store: Store, conn: Connection, spec: PipelineSpec) -> dict[str, InputHead] | str:
    """Head commit of every pfs input, or a sentence saying which input has no commits yet."""
    heads: dict[str, InputHead] = {}
    for name, repo, branch in spec.input_repos():
        seq = store.branch_head_seq(conn, repo, branch)
        if seq is None:
            return f"input {name!r} ({repo}@{branch}) has no commits yet"
        heads[name] = InputHead(name, repo, store.commit_info_at(conn, seq).id, seq)
    return heads


def plan_job(store: Store, conn: Connection, spec: PipelineSpec, salt: str, heads: dict[str, InputHead],
             last_inputs: dict[str, list[str]] | None, every_job: bool, last_total: int | None = None,
             *, now: float | None = None) -> Plan:
    """Plan a job over ``heads``; ``last_inputs`` are the input commits of the last published job and
    ``last_total`` its datum count (saves counting the committed datums, which grows with history). Failed
    datums whose back-off has not passed at ``now`` are left out; due ones are retried."""
    now = time.time() if now is None else now
    if spec.incremental:
        return _plan_incremental_pipeline(store, conn, spec, salt, heads, None if every_job else last_inputs)
    plan = None
    if last_inputs is not None and not every_job and _incremental_shape(spec.input):
        plan = _plan_incremental(store, conn, spec, salt, heads, last_inputs, last_total)
    if plan is None:
        plan = _plan_full(store, conn, spec, salt, heads, every_job)
    _failed_datums(store, conn, spec, salt, plan, now)
    return plan


def _plan_incremental_pipeline(store: Store, conn: Connection, spec: PipelineSpec, salt: str,
                               heads: dict[str, InputHead], last_inputs: dict[str, list[str]] | None) -> Plan:
    """One datum per input commit, with no file list: it gets the previous output and the input's net changes
    since the last published job (or, fresh, every file as added). Cost: the changes, not the repo."""
    pfs = spec.input.pfs
    assert pfs is not None  # checked by the spec
    head = heads[pfs.name]
    key = json.dumps([salt, pfs.name, pfs.glob, head.commit], separators=(",", ":"))
    datum = Datum(hashlib.sha256(key.encode()).hexdigest(), (DatumInput(pfs.name, pfs.repo, head.commit, "/", ()),))
    committed = set(conn.execute(select(t.datums.c.datum_id).where(
        t.datums.c.pipeline == spec.name, t.datums.c.committed.is_(True))).scalars())
    if not store.has_files(conn, head.seq):  # as a full plan: an empty input has no datum, and no output
        plan = Plan(heads, n_total=0, incremental=True)
        plan.removed = sorted(committed)
        plan.empty_reason = "no input file matches the globs any more"
        return plan
    plan = Plan(heads, n_total=1, incremental=True)
    plan.todo = [] if datum.id in committed else [datum]
    plan.removed = sorted(committed - {datum.id})
    plan.base = _incremental_base(store, conn, spec, head, last_inputs)
    return plan


def _incremental_base(store: Store, conn: Connection, spec: PipelineSpec, head: InputHead,
                      last_inputs: dict[str, list[str]] | None) -> IncrementalBase:
    out_seq = store.branch_head_seq(conn, spec.name, spec.output_branch)
    last = (last_inputs or {}).get(head.name)
    if last is not None and last[0] == head.repo and out_seq is not None:
        old_seq = conn.execute(select(s.commits.c.seq).where(s.commits.c.id == last[1])).scalar()
        changes = history.changes_between(store, conn, old_seq, head.seq) if old_seq is not None else None
        if changes is not None:
            previous = tuple(FileRef(f.path, f.oid, f.size) for f in store.files_at(conn, out_seq))
            return IncrementalBase(previous, tuple(changes))
    files = store.files_at(conn, head.seq)
    return IncrementalBase((), tuple(Change("added", f.path, f.oid, None, f.size) for f in files))


def _failed_datums(store: Store, conn: Connection, spec: PipelineSpec, salt: str, plan: Plan, now: float) -> None:
    d = t.datums.c
    failed = conn.execute(select(d.datum_id, d.retry_at, d.inputs).where(
        d.pipeline == spec.name, d.committed.is_(False), d.state == "FAILED")).all()
    if not failed:
        return
    waiting = {i for i, retry_at, _ in failed if retry_at is not None and retry_at > now}
    plan.waiting = len(waiting)
    plan.todo = [x for x in plan.todo if x.id not in waiting]
    planned = {x.id for x in plan.todo}
    plan.retries = sorted(i for i, _, _ in failed if i in planned)
    if not plan.incremental:
        return  # a full plan lists every datum: the due ones are in it already
    for datum_id, _, inputs in failed:
        if datum_id in waiting or datum_id in planned:
            continue
        datum = _rebuild(store, conn, spec, salt, plan.inputs, json.loads(inputs))
        if datum is not None and datum.id == datum_id:
            plan.todo.append(datum)
            plan.retries.append(datum_id)
            plan.n_total += 1
        else:
            plan.obsolete.append(datum_id)


def _rebuild(store: Store, conn: Connection, spec: PipelineSpec, salt: str, heads: dict[str, InputHead],
             inputs: list[list[Any]]) -> Datum | None:
    """The datum reading exactly ``inputs`` ([[name, repo, root, n files]]) at ``heads``, or None if gone."""
    roots = {name: root for name, _repo, root, _n in inputs}
    parts: list[DatumInput] = []
    for pfs in _pfs_nodes(spec.input):
        root = roots.get(pfs.name)
        if root is None:
            return None
        head = heads[pfs.name]
        files = [(f.path, f.oid, f.size) for f in store.files_at(conn, head.seq, root)]
        units = [u for u in pfs_units(pfs.glob, pfs.name, pfs.repo, head.commit, files) if u.root == root]
        if len(units) != 1:
            return None
        parts.append(units[0])
    (datum,) = make_datums([tuple(parts)], salt)
    return datum


def _incremental_shape(node: InputSpec) -> bool:
    return node.pfs is not None or (node.cross is not None and all(c.pfs is not None for c in node.cross))


def _plan_full(store: Store, conn: Connection, spec: PipelineSpec, salt: str, heads: dict[str, InputHead],
               every_job: bool) -> Plan:
    listings = {h.name: (h.commit, [(f.path, f.oid, f.size) for f in store.files_at(conn, h.seq)])
                for h in heads.values()}
    datums = build_datums(spec.input, listings, salt)
    plan = Plan(heads, n_total=len(datums))
    committed = set(conn.execute(select(t.datums.c.datum_id).where(
        t.datums.c.pipeline == spec.name, t.datums.c.committed.is_(True))).scalars())
    if not datums:
        plan.empty_reason = _empty_reason(spec, listings)
        plan.removed = sorted(committed)
        return plan
    ids = {d.id for d in datums}
    plan.todo = list(datums) if every_job else [d for d in datums if d.id not in committed]
    plan.removed = sorted(committed - ids)
    return plan


def _empty_reason(spec: PipelineSpec, listings: dict[str, tuple[str, list[Any]]]) -> str:
    for pfs in spec.input.walk():
        files = listings[pfs.name][1]
        glob = compile_glob(pfs.glob)
        if not any(glob.root_of(f[0]) for f in files):
            return (f"input {pfs.name!r}: glob {pfs.glob!r} matched nothing in {pfs.repo}@"
                    f"{listings[pfs.name][0][:12]} ({len(files)} files)")
    return "the input tree yields no datums (a join or group found no matching keys)"


def _pfs_nodes(node: InputSpec) -> list[PfsInput]:
    return [node.pfs] if node.pfs is not None else [c.pfs for c in node.cross or [] if c.pfs is not None]


def _plan_incremental(store: Store, conn: Connection, spec: PipelineSpec, salt: str,
                      heads: dict[str, InputHead], last: dict[str, list[str]], last_total: int | None
                      ) -> Plan | None:
    nodes = _pfs_nodes(spec.input)
    changed: dict[str, set[str]] = {}
    for pfs in nodes:
        if pfs.name not in last or last[pfs.name][0] != pfs.repo:
            return None
        roots = _changed_roots(store, conn, pfs, last[pfs.name][1], heads[pfs.name].seq)
        if roots is None:
            return None
        if roots:
            changed[pfs.name] = roots
    plan = Plan(heads, incremental=True)
    committed_count = last_total if last_total is not None else _count_committed(conn, spec.name)
    if not changed:
        plan.n_total = committed_count
        return plan
    full: dict[str, list[DatumInput]] = {}

    def units(pfs: PfsInput, only: set[str] | None) -> list[DatumInput]:
        head = heads[pfs.name]
        if only is None:
            if pfs.name not in full:
                files = [(f.path, f.oid, f.size) for f in store.files_at(conn, head.seq)]
                full[pfs.name] = pfs_units(pfs.glob, pfs.name, pfs.repo, head.commit, files)
            return full[pfs.name]
        files = [(f.path, f.oid, f.size) for root in sorted(only) for f in store.files_at(conn, head.seq, root)]
        return pfs_units(pfs.glob, pfs.name, pfs.repo, head.commit, files)

    new: dict[str, Datum] = {}
    for pfs in nodes:
        if pfs.name not in changed:
            continue
        lists: list[Sequence[DatumInput]] = [units(o, changed[o.name] if o is pfs else None) for o in nodes]
        combos: list[Unit] = [tuple(c) for c in itertools.product(*lists)]
        for d in make_datums(combos, salt):
            new[d.id] = d
    stale = _datums_reading(conn, spec.name, changed)
    already = _committed_among(conn, spec.name, list(new))
    plan.todo = [d for d in new.values() if d.id not in already]
    plan.removed = sorted(stale - set(new))
    plan.n_total = committed_count - len(plan.removed) + len(plan.todo)
    if plan.n_total == 0:
        plan.empty_reason = "no input file matches the globs any more"
    return plan


def _changed_roots(store: Store, conn: Connection, pfs: PfsInput, old_commit: str, new_seq: int
                   ) -> set[str] | None:
    """Glob roots touched between two commits of one chain, or None when they are not on one chain."""
    old_seq = conn.execute(select(s.commits.c.seq).where(s.commits.c.id == old_commit)).scalar()
    if old_seq is None:
        return None
    if old_seq == new_seq:
        return set()
    old_pos, new_pos = store.position(conn, old_seq), store.position(conn, new_seq)
    if old_pos.chain_id != new_pos.chain_id or old_seq > new_seq:
        return None
    e = s.entries.c
    paths = conn.execute(select(e.path).where(e.chain_id == new_pos.chain_id, or_(
        and_(e.from_seq > old_seq, e.from_seq <= new_seq),
        and_(e.to_seq > old_seq, e.to_seq <= new_seq)))).scalars()
    glob = compile_glob(pfs.glob)
    return {r for p in paths if (r := glob.root_of(p)) is not None}


def _count_committed(conn: Connection, pipeline: str) -> int:
    return int(conn.execute(select(func.count()).select_from(t.datums).where(
        t.datums.c.pipeline == pipeline, t.datums.c.committed.is_(True))).scalar_one())


def _datums_reading(conn: Connection, pipeline: str, roots: dict[str, set[str]]) -> set[str]:
    u = t.datum_units.c
    found: set[str] = set()
    for name, rs in roots.items():
        for part in chunks(sorted(rs)):
            found.update(conn.execute(select(u.datum_id).where(
                u.pipeline == pipeline, u.input_name == name, u.root.in_(part))).scalars())
    return found & _committed_among(conn, pipeline, sorted(found))


def _committed_among(conn: Connection, pipeline: str, ids: Sequence[str]) -> set[str]:
    d = t.datums.c
    out: set[str] = set()
    for part in chunks(list(ids)):
        out.update(conn.execute(select(d.datum_id).where(
            d.pipeline == pipeline, d.committed.is_(True), d.datum_id.in_(part))).scalars())
    return out


def parse_inputs(raw: str) -> dict[str, list[str]]:
    """The ``jobs.inputs`` JSON: input name -> [repo, commit id]."""
    data: dict[str, list[str]] = json.loads(raw)
    return data
