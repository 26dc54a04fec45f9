"""Reproduce an output: re-run the datum that made it, and the datums upstream of it, and compare the bytes.

For an output file of a pipeline the datum that wrote it is recorded (``datum_outputs``), with the input roots
it read (``datums.inputs``), the job that ran it and that job's input commits and code identity (the spec as it
was, the code's hashes, the environment). From these the datum is rebuilt exactly (its id is recomputed and
must match), its inputs' blobs are checked (present, or deleted by a retention policy: then it says so), it is
run again through the executor the caller gives (in this process, or in the stage's container image), and every
output is compared with the committed one. Inputs that are outputs of other pipelines are reproduced first, so
the report reads upstream first: validate, detect, threat.

The new outputs are written to the object store like any job's (identical ones are the same blobs; different
ones stay unreferenced until ``vigil gc``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from vigil.errors import NotFoundError, NotReproducedError
from vigil.pipeline import identity
from vigil.pipeline import state as t
from vigil.pipeline.datums import DatumInput, FileRef, datum_id, pfs_units
from vigil.pipeline.jobs import get_job
from vigil.pipeline.spec import PipelineSpec
from vigil.pipeline.transform import DatumResult, DatumTask
from vigil.store import erasure
from vigil.store.database import transaction
from vigil.store.store import Store

RunDatum = Callable[[PipelineSpec, DatumTask], tuple[DatumResult, dict[str, Any] | None]]
"""Runs one datum of a spec; returns its result and the environment it ran in (None: unknown, e.g. an image)."""


@dataclass
class Step:
    """One datum re-run: where, what it read, and per output the recorded and the new sha256."""

    pipeline: str
    datum: str
    job: str
    inputs: list[str]
    outputs: dict[str, list[str | None]] = field(default_factory=dict)  # path -> [recorded oid, new oid]
    identical: bool = False
    difference: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reproduction:
    """The whole re-derivation of one output, upstream first."""

    target: str
    steps: list[Step] = field(default_factory=list)
    code_changes: list[str] = field(default_factory=list)  # code that differs from what the job recorded
    environment_changes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return all(step.identical for step in self.steps)

    @property
    def first_difference(self) -> Step | None:
        return next((step for step in self.steps if not step.identical), None)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "identical": self.identical, "steps": [x.to_dict() for x in self.steps],
                "code_changes": self.code_changes, "environment_changes": self.environment_changes}


def reproduce(store: Store, repo: str, ref: str | None, path: str, run: RunDatum) -> Reproduction:
    """Re-derive ``repo@ref:path`` (an output of pipeline ``repo``) from its recorded inputs and code.
    ``NotFoundError`` for a target that does not exist or is not a pipeline's output; ``NotReproducedError``
    when it cannot be re-run (its evidence deleted by retention, no record of its datum)."""
    info = store.stat(repo, ref, path)
    result = Reproduction(f"{repo}@{store.resolve(repo, ref).id}:{info.path}")
    _reproduce(store, repo, info.path, info.oid, run, result, set())
    return result


def _reproduce(store: Store, pipeline: str, path: str, oid: str, run: RunDatum, result: Reproduction,
               done: set[tuple[str, str]]) -> None:
    if (pipeline, oid) in done:
        return
    done.add((pipeline, oid))
    if not _is_pipeline(store, pipeline):
        raise NotFoundError(f"{pipeline} is not a pipeline's output repo: its files are inputs, not results",
                            "give an output of a pipeline (e.g. threat@master:/cam1/1511891098.json) or an event id")
    datum, job_id, roots = _datum_of(store, pipeline, path, oid)
    job = get_job(store, job_id)
    spec, recorded = _spec_as_run(store, pipeline, job.code_digest, job.version)
    inputs = tuple(_rebuild(store, spec, name, repo, root, job.inputs[name][1]) for name, repo, root in roots)
    salt = _salt(store, pipeline)
    if datum_id(salt, inputs) != datum:
        raise NotReproducedError(f"the inputs of datum {datum[:12]} of {pipeline} cannot be rebuilt as they were "
                                 "(its input files changed since, or the pipeline was reprocessed)",
                                 "reproduce the newest output of the path")
    for part in inputs:
        for f in part.files:
            _check_evidence(store, part.repo, part.commit, f)
    for part in inputs:  # upstream first
        if _is_pipeline(store, part.repo):
            for f in part.files:
                _reproduce(store, part.repo, f.path, f.oid, run, result, done)
    step = Step(pipeline, datum, job_id, [f"{p.repo}@{p.commit}:{f.path}" for p in inputs for f in p.files])
    new, env = run(spec, DatumTask("reproduce", datum, inputs))
    _compare(store, step, _recorded_outputs(store, pipeline, datum), new)
    result.steps.append(step)
    if recorded is not None:
        _note_changes(recorded, spec, env, result)


def _datum_of(store: Store, pipeline: str, path: str, oid: str) -> tuple[str, str, list[tuple[str, str, str]]]:
    """(datum id, job that ran it, [(input name, repo, root)]) of the datum that wrote ``path`` as ``oid``."""
    o, d = t.datum_outputs.c, t.datums.c
    with transaction(store.engine) as conn:
        row = conn.execute(select(o.datum_id, o.oid).where(o.pipeline == pipeline, o.path == path)).first()
        if row is None:
            raise NotFoundError(f"{pipeline}:{path} is not an output of a datum of pipeline {pipeline!r}",
                                "give an output of a pipeline (vigil ls PIPELINE), or an event id")
        if row[1] != oid:
            raise NotReproducedError(f"{pipeline}:{path} at this commit ({oid[:12]}) is an older version; the "
                                     "datum records keep the newest", f"reproduce {pipeline}@master:{path}")
        rec = conn.execute(select(d.job_id, d.inputs).where(d.pipeline == pipeline, d.datum_id == row[0])).first()
    if rec is None:
        raise NotReproducedError(f"no record of datum {row[0][:12]} of {pipeline}", "run `vigil fsck`")
    return str(row[0]), str(rec[0]), [(n, r, root) for n, r, root, _ in json.loads(rec[1])]


def _spec_as_run(store: Store, pipeline: str, digest: str | None,
                 version: str) -> tuple[PipelineSpec, dict[str, Any] | None]:
    """The spec the job ran (from its code identity), and that identity; before identities were recorded,
    the current spec if its version is the job's."""
    from vigil.pipeline.registry import get_pipeline

    doc = None
    if digest is not None:
        with transaction(store.engine) as conn:
            doc = identity.load(conn, digest)
        if doc is not None and "spec_doc" in doc:
            return PipelineSpec.model_validate(doc["spec_doc"]), doc
    current = get_pipeline(store, pipeline)
    if current.version != version:
        raise NotReproducedError(f"the job ran pipeline {pipeline} version {version[:12]}, which was not recorded "
                                 f"(now {current.version[:12]})", "jobs run by this Vigil record their spec")
    return current.spec, doc


def _salt(store: Store, pipeline: str) -> str:
    with transaction(store.engine) as conn:
        return str(conn.execute(select(t.pipelines.c.salt).where(t.pipelines.c.name == pipeline)).scalar_one())


def _is_pipeline(store: Store, repo: str) -> bool:
    with transaction(store.engine) as conn:
        return conn.execute(select(t.pipelines.c.name).where(t.pipelines.c.name == repo)).first() is not None


def _rebuild(store: Store, spec: PipelineSpec, name: str, repo: str, root: str, commit: str) -> DatumInput:
    pfs = next((p for p in spec.input.walk() if p.name == name), None)
    if pfs is None:
        raise NotReproducedError(f"pipeline {spec.name} has no input {name!r} any more", "")
    files = [FileRef(f.path, f.oid, f.size) for f in store.list_files(repo, commit, root)]
    unit = next((u for u in pfs_units(pfs.glob, name, repo, commit, files) if u.root == root), None)
    if unit is None:
        raise NotReproducedError(f"input {name} ({repo}@{commit}) has nothing at {root} any more", "")
    return unit


def _check_evidence(store: Store, repo: str, commit: str, f: FileRef) -> None:
    """The input blob must be there; one deleted by retention says by which policy and when."""
    with transaction(store.engine) as conn:
        gone = erasure.erased(conn, f.oid)
    if gone is not None:
        raise NotReproducedError(f"evidence {gone.describe()}: {repo}@{commit}:{f.path} (sha256 {f.oid}; its "
                                 "record and hash remain)",
                                 "the record still proves what was alerted; the bytes cannot be re-run")
    if not store.objects.exists(f.oid):
        raise NotReproducedError(f"the bytes of {repo}@{commit}:{f.path} ({f.oid[:12]}) are missing from the "
                                 "object store", "run `vigil fsck`")


def _recorded_outputs(store: Store, pipeline: str, datum: str) -> dict[str, str]:
    """{path the datum wrote: oid} as committed (a renamed duplicate under the path it claimed)."""
    o = t.datum_outputs.c
    with transaction(store.engine) as conn:
        rows = conn.execute(select(o.path, o.claimed_path, o.oid).where(o.pipeline == pipeline,
                                                                        o.datum_id == datum)).all()
    return {claimed or path: oid for path, claimed, oid in rows}


def _compare(store: Store, step: Step, recorded: dict[str, str], result: DatumResult) -> None:
    if result.state != "SUCCESS":
        step.difference = f"the datum failed when re-run: {result.error}"
        step.outputs = {p: [oid, None] for p, oid in sorted(recorded.items())}
        return
    new = {p: oid for p, (oid, _size) in result.outputs.items()}
    step.outputs = {p: [recorded.get(p), new.get(p)] for p in sorted(recorded.keys() | new.keys())}
    for path, (old, now) in step.outputs.items():
        if old == now:
            continue
        if old is None or now is None:
            step.difference = f"{path}: {'not written before' if old is None else 'not written now'}"
        else:
            step.difference = f"{path}: {first_difference(_blob(store, old), _blob(store, now))}"
        return
    step.identical = True


def _blob(store: Store, oid: str) -> bytes:
    with store.objects.open(oid) as fh:
        return fh.read()


def first_difference(old: bytes, new: bytes) -> str:
    """Where two outputs first differ: a JSON field path with both values, else the first differing byte."""
    try:
        a, b = json.loads(old), json.loads(new)
    except ValueError:
        at = next((i for i, (x, y) in enumerate(zip(old, new, strict=False)) if x != y), min(len(old), len(new)))
        return f"bytes differ from offset {at} ({len(old)} vs {len(new)} bytes)"
    found = _json_difference(a, b, "")
    return found or "same JSON values, different bytes (formatting)"


def _json_difference(a: Any, b: Any, where: str) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            if key not in a or key not in b:
                return f"field {where}{key} only in the {'new' if key not in a else 'recorded'} output"
            found = _json_difference(a[key], b[key], f"{where}{key}.")
            if found:
                return found
        return ""
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            found = _json_difference(x, y, f"{where.rstrip('.')}[{i}].")
            if found:
                return found
        if len(a) != len(b):
            return f"field {where.rstrip('.')}: {len(a)} items recorded, {len(b)} now"
        return ""
    if a != b or type(a) is not type(b):
        return f"field {where.rstrip('.')}: recorded {a!r}, now {b!r}"
    return ""


def _note_changes(recorded: dict[str, Any], spec: PipelineSpec, env: dict[str, Any] | None,
                  result: Reproduction) -> None:
    """What differs from the recorded identity: the stage's source files, Vigil, libraries, CPU flags."""
    modules = recorded.get("code", {}).get("modules")
    if modules and spec.transform.kind in ("stage", "python"):
        now = identity.transform_modules(spec)
        for rel in sorted(modules.keys() | now.keys()):
            if modules.get(rel) != now.get(rel):
                _add(result.code_changes, f"{spec.name}: {rel} {_short(modules.get(rel))} -> {_short(now.get(rel))}")
    then = recorded.get("environment", {})
    if env is None:
        return
    if recorded.get("vigil") != env.get("vigil", recorded.get("vigil")):
        _add(result.environment_changes, f"vigil {recorded.get('vigil')} -> {env.get('vigil')}")
    for key in ("python", "machine"):
        if then.get(key) != env.get(key):
            _add(result.environment_changes, f"{key} {then.get(key)} -> {env.get(key)}")
    libs_then, libs_now = then.get("libraries", {}), env.get("libraries", {})
    for lib in sorted(libs_then.keys() | libs_now.keys()):
        if libs_then.get(lib) != libs_now.get(lib):
            _add(result.environment_changes, f"{lib} {libs_then.get(lib)} -> {libs_now.get(lib)}")
    if then.get("cpu_flags") != env.get("cpu_flags"):
        _add(result.environment_changes, f"CPU flags {' '.join(then.get('cpu_flags', []))} -> "
                                         f"{' '.join(env.get('cpu_flags', []))}")


def _short(digest: str | None) -> str:
    return digest[:12] if digest else "(none)"


def _add(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


__all__ = ["Reproduction", "RunDatum", "Step", "first_difference", "reproduce"]
