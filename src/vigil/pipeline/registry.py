"""Pipelines known to a workspace: create, update, list, inspect, delete."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import delete, insert, select, update

from vigil.errors import AlreadyExistsError, ConflictError, NotFoundError, SpecError
from vigil.pipeline import state as t
from vigil.pipeline.draw import topological_order
from vigil.pipeline.spec import PipelineSpec, parse_specs
from vigil.store import audit
from vigil.store.database import transaction
from vigil.store.store import Store


@dataclass(frozen=True)
class Pipeline:
    spec: PipelineSpec
    version: str
    salt: str
    created_at: float
    updated_at: float
    failures: int = 0  # consecutive failed jobs (the runner backs off)
    retry_at: float | None = None  # when the runner tries it again
    last_error: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spec"] = self.spec.model_dump(mode="json", exclude_defaults=True)
        return d


Mode = Literal["create", "update", "apply"]
Action = Literal["created", "updated", "unchanged"]


def plan_pipelines(store: Store, specs: Sequence[PipelineSpec], mode: Mode,
                   reprocess: bool = False) -> list[tuple[PipelineSpec, Action]]:
    """Every check that creating (``create``), updating (``update``) or applying (``apply``: either, and
    nothing for an unchanged spec) ``specs`` makes, without writing anything: each input repo exists or is
    written by a pipeline (existing or in ``specs``), no cycle across ``specs`` and the existing DAG, and the
    pipeline exists (update) or not (create). Returns (spec, what would happen), upstream first."""
    current = {p.name: p for p in list_pipelines(store)}
    names = {s.name for s in specs}
    available = {r.name for r in store.list_repos()} | set(current) | names
    for spec in specs:
        for name, repo, _branch in spec.input_repos():
            if repo not in available:
                raise SpecError(f"pipeline {spec.name!r}: input {name!r} reads repo {repo!r}, which does not exist",
                                f"create it with `vigil repo create {repo}` or create the pipeline that writes it")
    others = [p.spec for n, p in current.items() if n not in names]
    plan: list[tuple[PipelineSpec, Action]] = []
    for spec in topological_order([*others, *specs]):  # raises on a cycle
        if spec.name not in names:
            continue
        existing = current.get(spec.name)
        if existing is not None and mode == "create":
            raise AlreadyExistsError(f"pipeline {spec.name!r} already exists",
                                     "use `vigil pipeline update` (or `apply`) to change it; nothing was created")
        if existing is None and mode == "update":
            raise NotFoundError(f"pipeline {spec.name!r} does not exist",
                                "create it with `vigil pipeline create` (or `apply`); nothing was updated")
        same = existing is not None and existing.version == spec.fingerprint() and not reprocess
        plan.append((spec, "created" if existing is None else "unchanged" if mode == "apply" and same else "updated"))
    return plan


def apply_pipelines(store: Store, specs: Sequence[PipelineSpec], mode: Mode, *,
                    reprocess: bool = False) -> list[tuple[Pipeline, Action]]:
    """Create/update/apply ``specs`` (see :func:`plan_pipelines`) all or nothing: every check first, then one
    transaction for every pipeline record, output repo and reader list. Updating keeps the datum salt (so
    finished datums are not redone) unless ``reprocess``."""
    plan = plan_pipelines(store, specs, mode, reprocess)
    now = time.time()
    with transaction(store.engine, write=True) as conn:
        for spec, action in plan:
            row = conn.execute(select(t.pipelines.c.salt).where(t.pipelines.c.name == spec.name)).first()
            if (row is None) != (action == "created"):
                raise ConflictError(f"pipeline {spec.name!r} was created or deleted meanwhile",
                                    "retry; nothing was changed")
            if action == "unchanged":
                continue
            # a new spec may fix what made the pipeline fail: try it at once
            values = {"spec": spec.canonical_json(), "version": spec.fingerprint(), "updated_at": now,
                      "failures": 0, "retry_at": None, "last_error": None}
            if row is None:
                conn.execute(insert(t.pipelines).values(name=spec.name, salt=spec.salt or uuid.uuid4().hex,
                                                        created_at=now, **values))
            else:
                if reprocess:
                    values["salt"] = uuid.uuid4().hex
                conn.execute(update(t.pipelines).where(t.pipelines.c.name == spec.name).values(**values))
            audit.append(conn, "pipeline.create" if row is None else "pipeline.update", f"pipeline:{spec.name}",
                         detail={"version": values["version"], "reprocess": reprocess})
            store.create_repo_in(conn, spec.name, f"output of pipeline {spec.name}", exist_ok=True)
            store.set_readers_in(conn, spec.name, [repo for _, repo, _ in spec.input_repos()])
    return [(get_pipeline(store, spec.name), action) for spec, action in plan]


def create_pipeline(store: Store, spec: PipelineSpec, *, update_existing: bool = False,
                    reprocess: bool = False) -> Pipeline:
    """Register ``spec`` and create its output repo (:func:`apply_pipelines` of one spec); creating a pipeline
    that exists is an error unless ``update_existing``."""
    ((pipeline, _),) = apply_pipelines(store, [spec], "update" if update_existing else "create",
                                       reprocess=reprocess)
    return pipeline


def get_pipeline(store: Store, name: str) -> Pipeline:
    with transaction(store.engine) as conn:
        row = conn.execute(select(t.pipelines).where(t.pipelines.c.name == name)).mappings().first()
    if row is None:
        raise NotFoundError(f"pipeline {name!r} does not exist", "list pipelines with `vigil pipeline list`")
    (spec,) = parse_specs(row["spec"], f"<stored pipeline {name}>")
    return Pipeline(spec, row["version"], row["salt"], row["created_at"], row["updated_at"], row["failures"],
                    row["retry_at"], row["last_error"])


def list_pipelines(store: Store) -> list[Pipeline]:
    """All pipelines in topological order (each after the pipelines it reads)."""
    with transaction(store.engine) as conn:
        names = list(conn.execute(select(t.pipelines.c.name)).scalars())
    pipelines = {n: get_pipeline(store, n) for n in names}
    return [pipelines[s.name] for s in topological_order([p.spec for p in pipelines.values()])]


def delete_pipeline(store: Store, name: str, *, keep_repo: bool = False) -> None:
    """Delete a pipeline, its job and datum records, and (unless ``keep_repo``) its output repo."""
    get_pipeline(store, name)
    readers = [p.name for p in list_pipelines(store) if name in {r for _, r, _ in p.spec.input_repos()}]
    if readers:
        raise SpecError(f"pipeline {name!r} feeds {', '.join(readers)}", "delete those pipelines first")
    store.set_readers(name, [])
    with transaction(store.engine, write=True) as conn:
        for table in (t.datum_outputs, t.datum_units, t.datums):
            conn.execute(delete(table).where(table.c.pipeline == name))
        conn.execute(delete(t.jobs).where(t.jobs.c.pipeline == name))
        conn.execute(delete(t.pipelines).where(t.pipelines.c.name == name))
        audit.append(conn, "pipeline.delete", f"pipeline:{name}", detail={"keep_repo": keep_repo})
    if not keep_repo:
        store.delete_repo(name, force=True)
