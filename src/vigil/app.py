"""The application API: the one place the CLI (and any HTTP front end) calls into.

It opens the workspace and turns user-level requests ("put these files and folders there") into store calls.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from vigil.dashboard import DashboardAPI
from vigil.errors import NotFoundError, UsageError, VigilError
from vigil.proof import ProofAPI
from vigil.serving import ServingAPI
from vigil.settings import STDIN_MAX_MB, stdin_max_bytes
from vigil.store import history, integrity
from vigil.store.models import Change, CommitInfo, FileInfo
from vigil.store.paths import RepoRef, join, normalize_path
from vigil.store.store import DEFAULT_BRANCH, Store
from vigil.store.workspace import ContainersConfig, Workspace, WorkspaceConfig

# Pipelines, stages, executors and models are imported where used: `vigil put` and the other data commands
# need only the store, and each command pays only for what it uses (issue 18: start-up).
if TYPE_CHECKING:
    from vigil.alerts.service import AlertService
    from vigil.domain.sources import SourceConfig
    from vigil.executors.container import ContainerExecutor
    from vigil.executors.local import LocalExecutor
    from vigil.pipeline.jobs import JobInfo, ProgressFn
    from vigil.pipeline.registry import Action, Mode, Pipeline
    from vigil.pipeline.runner import Runner, RunReport
    from vigil.pipeline.spec import PipelineSpec
    from vigil.pipeline.transform import Executor, TransformFactory

log = logging.getLogger(__name__)

STDIN = "-"
ENV_CACHE = "VIGIL_CACHE"


def cache_dir() -> Path:
    """Where downloaded models and samples are cached: ``$VIGIL_CACHE`` or ``~/.cache/vigil``."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "vigil")


def resolve_model(model: str | Path, progress: Callable[[int, int], None] | None = None) -> Path:
    """An ``.onnx`` file as given, or a catalogue name pulled into the cache (``VIGIL_MIRROR`` first)."""
    from vigil.vision import catalog

    path = Path(model)
    if path.is_file():
        return path
    if str(model).endswith(".onnx") or "/" in str(model):
        raise NotFoundError(f"no model file {model}", "give an .onnx file or a catalogue name")
    return catalog.pull(str(model), cache_dir(), progress=progress)


@dataclass(frozen=True)
class Upload:
    """One file to upload: its repo path and where its bytes come from (a file, or stdin when None)."""

    path: str
    source: str | None


@dataclass(frozen=True)
class Skipped:
    """A local entry `put` did not upload, and why (a dangling link, a FIFO, a link to a folder...)."""

    source: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "reason": self.reason}


@dataclass
class UploadPlan:
    """Every file one `put` uploads, in order, and the local entries it skips (with reasons)."""

    uploads: list[Upload]
    skipped: list[Skipped]

    def __len__(self) -> int:
        return len(self.uploads)


@dataclass(frozen=True)
class PutResult:
    """What `put` did: the commit (the unchanged head when every file was already there, byte for byte),
    whether it changed anything, and the local entries it skipped."""

    commit: CommitInfo
    changed: bool
    skipped: list[Skipped]

    def to_dict(self) -> dict[str, object]:
        return {**self.commit.to_dict(), "changed": self.changed, "skipped": [s.to_dict() for s in self.skipped]}


def plan_uploads(dest: str | None, sources: list[str], *, dest_is_folder: bool = False) -> UploadPlan:
    """Map CLI sources onto repo paths: a file lands at DEST/<name>, a folder keeps its layout below
    DEST/<folder name>, ``-`` (stdin) lands at DEST itself (which must then name a file: no trailing slash,
    ``dest_is_folder`` False). Symlinks are handled alike at the top level and inside folders: a link to a
    regular file is uploaded under the link's own name with the target's bytes, provided the target lies in
    the folder holding the link (the folder given, for links inside it); dangling links, links to folders,
    FIFOs, sockets and devices are skipped and reported. Every path is validated before anything is written.
    """
    plan = UploadPlan([], [])
    base = dest or "/"
    for src in sources:
        if src == STDIN:
            if not dest or dest_is_folder:
                raise UsageError("reading stdin needs a file path (not a folder)",
                                 "write e.g. `vigil put images:/cam1/1.jpg -`")
            plan.uploads.append(Upload(normalize_path(dest), None))
            continue
        top = os.path.abspath(src)
        try:
            st = os.lstat(top)
        except FileNotFoundError:
            raise NotFoundError(f"no such file or folder: {src}", "check the path") from None
        name = _checked_name(os.path.basename(top))
        if stat.S_ISDIR(st.st_mode):
            prefix = join(base, name)
            _walk(top, os.path.realpath(top), prefix, plan)
        else:
            _add_entry(top, st, os.path.realpath(os.path.dirname(top)), join(base, name), plan)
    seen: dict[str, str | None] = {}
    for up in plan.uploads:
        if up.path in seen:
            raise UsageError(f"two sources map to {up.path}: {seen[up.path]} and {up.source}",
                             "upload them under different paths")
        seen[up.path] = up.source
    return plan


def _checked_name(name: str) -> str:
    """A local file name as one repo path segment (UTF-8, no control characters, no backslash)."""
    return normalize_path(name).lstrip("/")


def _add_entry(path: str, st: os.stat_result, root: str, repo_path: str, plan: UploadPlan) -> None:
    """Plan one non-folder entry (``st`` from lstat): a regular file, a symlink to one inside ``root``, or a
    skipped entry with its reason."""
    if stat.S_ISREG(st.st_mode):
        plan.uploads.append(Upload(repo_path, path))
        return
    if not stat.S_ISLNK(st.st_mode):
        kind = "FIFO" if stat.S_ISFIFO(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode) else "device file"
        plan.skipped.append(Skipped(path, f"a {kind}, not a regular file"))
        return
    real = os.path.realpath(path)
    if not os.path.exists(real):
        plan.skipped.append(Skipped(path, "a dangling symlink"))
    elif os.path.commonpath([real, root]) != root:
        raise UsageError(f"{path} links outside {root}", "copy the target in, or remove the link")
    elif os.path.isdir(real):
        plan.skipped.append(Skipped(path, "a symlink to a folder (not followed)"))
    elif os.path.isfile(real):
        plan.uploads.append(Upload(repo_path, path))
    else:
        plan.skipped.append(Skipped(path, "a symlink to something that is not a regular file"))


def _walk(folder: str, root: str, prefix: str, plan: UploadPlan) -> None:
    """Plan every entry below ``folder`` (depth first, sorted by name) under repo folder ``prefix``. One
    ``scandir`` per folder and plain string paths: planning 10,000 files costs milliseconds, not seconds."""
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        repo_path = f"{prefix}/{_checked_name(entry.name)}"
        if entry.is_dir(follow_symlinks=False):
            _walk(entry.path, root, repo_path, plan)
        elif entry.is_file(follow_symlinks=False):
            plan.uploads.append(Upload(repo_path, entry.path))
        else:
            _add_entry(entry.path, entry.stat(follow_symlinks=False), root, repo_path, plan)


class _Limited:
    """A binary stream that refuses to yield more than ``limit`` bytes (stdin uploads)."""

    def __init__(self, stream: BinaryIO, limit: int, name: str) -> None:
        self.stream, self.limit, self.name, self.read_bytes = stream, limit, name, 0

    def read(self, n: int = -1) -> bytes:
        chunk = self.stream.read(n)
        self.read_bytes += len(chunk)
        if self.read_bytes > self.limit:
            raise UsageError(f"stdin for {self.name} is larger than {self.limit >> 20} MiB ({STDIN_MAX_MB})",
                             f"upload a file instead, or raise {STDIN_MAX_MB}")
        return chunk


def render_evidence(oid: str, read: Callable[[], bytes], objects: list[dict[str, Any]]) -> bytes:
    """The evidence picture of an event: its frame (blob ``oid``, bytes from ``read``) with the event's objects
    boxed, as JPEG. Boxes are drawn where a person looks at them (alerts, the demo), from the records; the pixels
    come from the decoded-frame cache when this process validated the frame moments ago."""
    from vigil.domain.detections import Detections
    from vigil.vision.draw import annotate
    from vigil.vision.framecache import shared_frames
    from vigil.vision.image import encode_jpeg

    return encode_jpeg(annotate(shared_frames().decoded(oid, read), Detections.from_records(objects)), 85)


def match_glob(pattern: str, path: str) -> bool:
    """``*`` and ``?`` stay within one path segment, ``**`` crosses segments, ``[...]`` is a class."""
    regex = re.escape(pattern).replace(r"\*\*", "\x00").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    regex = regex.replace("\x00", ".*").replace(r"\[", "[").replace(r"\]", "]").replace("[!", "[^")
    return re.fullmatch(regex, path) is not None


class Duty(Protocol):
    """Work the runner does after each pass over the DAG (``vigil run``, ``vigil run --watch``, ``vigil serve``):
    derive an index from new commits, deliver due alerts, ... Registered explicitly in :attr:`App.duties`."""

    name: str

    def run_once(self) -> int:
        """Do what is due now; return how much was done (0: idle). Failures of single items are recorded and
        retried by the duty itself; only an unusable environment (database down) raises."""
        ...


class App(ServingAPI, DashboardAPI, ProofAPI):
    """Vigil for one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    @classmethod
    def open(cls, workspace: Path | None = None) -> App:
        return cls(Workspace.find(workspace))

    @staticmethod
    def migrate(workspace: Path | None = None, *, check: bool = False) -> tuple[str | None, str]:
        """Bring the workspace's metadata schema to this Vigil's revision (or, with ``check``, only say where it
        is): (revision before, revision after). ``WorkspaceError`` if the schema is newer than this Vigil."""
        from vigil.store import migrations
        from vigil.store.database import make_engine

        ws = Workspace.find(workspace)
        engine = make_engine(ws.metadata_url(), migrate=None)
        try:
            with engine.connect() as conn:
                before = migrations.current_revision(conn)
            if check or before == migrations.HEAD:
                return before, before or "none"
            migrations.ensure_current(engine)  # refuses a newer schema
            return before, migrations.HEAD
        finally:
            engine.dispose()

    @classmethod
    def init(cls, folder: Path, config: WorkspaceConfig | None = None) -> App:
        return cls(Workspace.init(folder, config))

    @cached_property
    def store(self) -> Store:
        return self.workspace.store

    def put(self, target: str, sources: list[str], message: str = "",
            progress: Callable[[int, int], None] | None = None) -> PutResult:
        """Upload files, folders or stdin into ``REPO[@BRANCH][:PATH]`` as one commit (planned once). A trailing
        slash on PATH names a folder. ``progress(done, total)`` is called once planned (done 0) and after each
        file. When every file is already there byte for byte no commit is made (``changed`` False)."""
        ref = RepoRef.parse(target)
        plan = plan_uploads(ref.path, sources, dest_is_folder=target.endswith("/"))
        if not plan.uploads:
            what = "; ".join(f"{s.source}: {s.reason}" for s in plan.skipped[:3])
            raise UsageError("nothing to upload: " + (f"every entry was skipped ({what})" if plan.skipped
                                                      else "the folders given are empty"),
                             "give regular files or folders holding some")
        branch = ref.ref or DEFAULT_BRANCH
        self.store.head(ref.repo, branch)  # fail fast on a missing repo/branch
        if progress:
            progress(0, len(plan))
        with self.store.begin_commit(ref.repo, branch, description=message) as commit:
            commit.empty_ok = False
            for done, up in enumerate(plan.uploads, 1):
                if up.source is None:
                    commit.put_stream(up.path, _Limited(sys.stdin.buffer, stdin_max_bytes(), up.path))  # type: ignore[arg-type]
                else:
                    commit.put_file(up.path, Path(up.source))
                if progress:
                    progress(done, len(plan))
        assert commit.result is not None
        return PutResult(commit.result, not commit.unchanged, plan.skipped)

    def rm(self, targets: list[str], message: str = "") -> CommitInfo:
        refs = [RepoRef.parse(t) for t in targets]
        if len({(r.repo, r.ref) for r in refs}) != 1:
            raise UsageError("all paths given to rm must be in one repo and branch", "run rm once per branch")
        if any(r.path in (None, "/") for r in refs):
            raise UsageError("rm needs REPO[@BRANCH]:PATH with a path below the root", "name files or folders")
        with self.store.begin_commit(refs[0].repo, refs[0].ref or DEFAULT_BRANCH, description=message) as commit:
            for r in refs:
                commit.delete(r.path or "/")
        assert commit.result is not None
        return commit.result

    def ls(self, target: str) -> list[FileInfo]:
        ref = RepoRef.parse(target)
        path = ref.path or "/"
        if not any(c in path for c in "*?["):
            return self.store.list_files(ref.repo, ref.ref, path)
        fixed = path[: min(path.index(c) for c in "*?[" if c in path)]
        prefix = fixed.rsplit("/", 1)[0] or "/"
        return [f for f in self.store.list_files(ref.repo, ref.ref, prefix) if match_glob(path, f.path)]

    def diff(self, a: str, b: str) -> list[Change]:
        ra, rb = RepoRef.parse(a), RepoRef.parse(b)
        return history.diff(self.store, ra.repo, ra.ref, rb.repo, rb.ref, ra.path or "/")

    def lineage(self, target: str, depth: int = 50) -> dict[str, object]:
        """Provenance of a commit (or of the commit that last wrote PATH): where it came from, what it fed."""
        ref = RepoRef.parse(target)
        commit = self.store.resolve(ref.repo, ref.ref)
        file = None
        if ref.path and ref.path != "/":
            file = self.store.stat(ref.repo, commit.id, ref.path)
        return {
            "commit": f"{commit.repo}@{commit.id}",
            "file": file.to_dict() if file else None,
            "upstream": [n.to_dict() for n in history.lineage(self.store, ref.repo, commit.id, "up", depth)],
            "downstream": [n.to_dict() for n in history.lineage(self.store, ref.repo, commit.id, "down", depth)],
        }

    # ------------------------------------------------------------ pipelines
    @cached_property
    def executor(self) -> LocalExecutor:
        """The in-process pool (transforms without an image, or with containers off)."""
        from vigil.executors.local import LocalExecutor

        return LocalExecutor(max_workers=os.cpu_count() or 1)

    @cached_property
    def containers(self) -> ContainersConfig:
        """Container settings: the workspace's ``containers`` section (callers may adjust a run's copy)."""
        return self.workspace.config.containers.model_copy(deep=True)

    @cached_property
    def container_executor(self) -> ContainerExecutor:
        """Long-lived worker containers (podman) for transforms that name an image."""
        from vigil.executors.container import ContainerExecutor

        return ContainerExecutor(max_workers=os.cpu_count() or 1, podman=self.containers.podman)

    def set_containers(self, image_map: list[str], *, enabled: bool | None = None) -> None:
        """This run's container settings: ``SPEC_IMAGE=IMAGE`` entries added to the image map, and containers
        turned on or off (None: as configured)."""
        from vigil.execution import parse_image_map

        self.containers.image_map.update(parse_image_map(image_map))
        if enabled is not None:
            self.containers.enabled = enabled

    def image_for(self, pipeline: Pipeline) -> str | None:
        """The image ``pipeline`` runs in (after ``containers.image_map``), or None to run it in-process."""
        from vigil.execution import map_image

        image = pipeline.spec.transform.image
        if image is None or not self.containers.enabled:
            return None
        return map_image(image, self.containers.image_map)

    def factory_for(self, pipeline: Pipeline) -> TransformFactory:
        """How to build the transform of ``pipeline`` on a worker: on the Dask cluster its placement names (its
        spec's ``executor``, else the workspace's), in its image, or in this process."""
        from vigil.execution import BuildTransform, OnDask

        placement = pipeline.spec.executor or self.workspace.config.executor
        if placement.type == "dask":  # the workers' own environment runs it (their image, if any)
            build = self.factory_in(pipeline.spec, None)
            assert isinstance(build, BuildTransform)
            return OnDask(placement.address, placement.connect_timeout, build)
        return self.factory_in(pipeline.spec, self.image_for(pipeline))

    def factory_in(self, spec: PipelineSpec, image: str | None) -> TransformFactory:
        """The transform factory of ``spec`` in ``image`` (a worker container), or in this process (None)."""
        from vigil.execution import transform_factory
        from vigil.executors.container import InImage

        if image is not None:
            return InImage(image, spec.transform.model_dump(mode="json"), spec.datum_timeout)
        return transform_factory(spec.transform, spec.datum_timeout)

    def stage_image(self, spec: PipelineSpec) -> str:
        """The image that runs ``spec``'s transform: its own (mapped), or its built-in stage's role image."""
        from vigil.execution import map_image, stage_image

        if spec.transform.image:
            return map_image(spec.transform.image, self.containers.image_map)
        if spec.transform.stage is None:
            raise UsageError(f"pipeline {spec.name} names no image and runs no built-in stage",
                             "give its transform an image")
        return stage_image(spec.transform.stage)

    def executor_for(self, factory: TransformFactory) -> Executor:
        """The executor choice: the Dask cluster a pipeline is placed on, worker containers for a transform in
        an image, else the in-process pool."""
        from vigil.execution import OnDask
        from vigil.executors.container import InImage

        if isinstance(factory, OnDask):
            return self.dask_executor(factory.address, factory.connect_timeout)
        return self.container_executor if isinstance(factory, InImage) else self.executor

    def dask_executor(self, address: str, connect_timeout: float = 10.0) -> Executor:
        """The executor of the Dask cluster at ``address`` (one client per scheduler, kept across jobs)."""
        executors: dict[str, Executor] = self.__dict__.setdefault("_dask_executors", {})
        if address not in executors:
            try:
                from vigil.executors.dask import DaskExecutor
            except ImportError as exc:
                raise UsageError(f"pipelines placed on Dask ({address}) need the dask extra: {exc}",
                                 "pip install 'vigil[dask]'") from None
            executors[address] = DaskExecutor(address, connect_timeout=connect_timeout)
        return executors[address]

    def close_workers(self) -> None:
        """Stop warm workers (threads' transforms, worker containers) and Dask clients."""
        self.executor.close()
        if "container_executor" in self.__dict__:
            self.container_executor.close()
        for executor in self.__dict__.pop("_dask_executors", {}).values():
            executor.close()

    def create_pipelines(self, path: Path, *, update: bool = False, reprocess: bool = False) -> list[Pipeline]:
        """Create (or update) every pipeline in a spec file, upstream first, all or nothing."""
        return [p for p, _ in self.apply_pipelines(path, "update" if update else "create", reprocess=reprocess)]

    def apply_pipelines(self, path: Path, mode: Mode = "apply", *,
                        reprocess: bool = False) -> list[tuple[Pipeline, Action]]:
        """Create, update or apply (create or update each, skip unchanged ones) every pipeline in a spec file,
        in one transaction after every check (:meth:`check_pipelines`)."""
        from vigil.pipeline import registry

        return registry.apply_pipelines(self.store, load_checked_specs(path), mode, reprocess=reprocess)

    def check_pipelines(self, path: Path, mode: Mode = "apply") -> list[tuple[PipelineSpec, Action]]:
        """Every check that ``pipeline create``/``update``/``apply`` of ``path`` makes, writing nothing: the
        specs and stage params, input repos, cycles across the file and the existing DAG."""
        from vigil.pipeline import registry

        return registry.plan_pipelines(self.store, load_checked_specs(path), mode)

    @cached_property
    def runner(self) -> Runner:
        from vigil.execution import ChosenExecutor
        from vigil.pipeline.runner import Runner
        from vigil.store.leases import Leases

        return Runner(self.store, ChosenExecutor(self.executor_for, self.close_workers), self.factory_for,
                      leases=Leases(self.store.engine, ttl=self.workspace.config.lease_ttl))

    @property
    def source_configs(self) -> list[SourceConfig]:
        """The live sources configured in ``.vigil/vigil.yaml`` (``sources:``)."""
        return self.workspace.config.sources

    @cached_property
    def alerts(self) -> AlertService:
        """Alerts: the outbox, delivery, channels (``alerts:`` in ``.vigil/vigil.yaml``)."""
        from vigil.alerts.service import AlertService
        from vigil.domain.alerting import AlertsConfig

        config = self.workspace.config.alerts or AlertsConfig()
        return AlertService(self.store, config, self.workspace.root, renderer=render_evidence)

    @cached_property
    def duties(self) -> list[Duty]:
        """What runs after each pass of the runner (and after each published job), in this order: new events
        into the alert outbox (after the cameras' offline check), delivery of the alerts due, then the derived
        indexes the API reads, then retention (hourly, when policies are configured)."""
        from vigil.index.cameras import cameras_index
        from vigil.index.events import events_index
        from vigil.index.feedback import feedback_index
        from vigil.ingest.offline import OfflineWatch
        from vigil.proof import RetentionDuty

        retention = [RetentionDuty(self)] if self.workspace.config.retention else []
        # the offline check first: its events go through the outbox in the same pass
        return [OfflineWatch(self.store), self.alerts.feeder(), self.alerts.worker(),
                events_index(self.store), cameras_index(self.store), feedback_index(self.store), *retention]

    def rebuild_indexes(self) -> dict[str, int]:
        """Derive every index again from its repo (``vigil index rebuild``): records derived per index."""
        from vigil.index.feed import FeedIndex

        return {duty.name: duty.rebuild() for duty in self.duties if isinstance(duty, FeedIndex)}

    def run_duties(self) -> int:
        """Run every duty once; returns the work done. A failing duty is logged and does not stop the others."""
        done = 0
        for duty in self.duties:
            try:
                done += duty.run_once()
            except VigilError as exc:
                log.error("%s failed: %s", duty.name, exc)
            except Exception:  # a bug in one duty must not stop the runner or the other duties
                log.exception("%s failed", duty.name)
        return done

    def run_pipelines(self, pipeline: str | None = None, *, force: bool = False,
                      progress: ProgressFn | None = None) -> RunReport:
        """One pass over the DAG (or one pipeline), then the duties: jobs run, pipelines skipped and why,
        pipelines that failed."""
        report = self.runner.run_once(pipeline, force=force, progress=progress, after_job=self._after_job)
        self.run_duties()
        return report

    def _after_job(self, job: JobInfo) -> None:
        """Duties right after a published job, so an alert is handed over as soon as its threat commit is
        durable, without waiting for the pipelines downstream (the report)."""
        self.run_duties()

    def run(self, pipeline: str | None = None, *, force: bool = False,
            progress: ProgressFn | None = None) -> list[JobInfo]:
        """The jobs of one pass. Naming a pipeline that cannot run raises its error; over the whole DAG a
        broken pipeline is recorded (see :meth:`run_pipelines`) and the others run."""
        report = self.run_pipelines(pipeline, force=force, progress=progress)
        if pipeline is not None and pipeline in report.errors:
            raise report.errors[pipeline]
        return report.jobs

    def watch(self, *, interval: float = 1.0, should_stop: Callable[[], bool] = lambda: False,
              on_report: Callable[[RunReport], None] | None = None, progress: ProgressFn | None = None) -> None:
        """Run pipelines as commits arrive until ``should_stop``; never stops on a failure."""
        self.runner.watch(interval=interval, should_stop=should_stop, on_report=on_report, progress=progress,
                          between=self.run_duties, after_job=self._after_job)

    def close(self) -> None:
        """Stop live sources, flush pushed and ingested frames, stop background threads, release database
        connections."""
        self.close_ingest()
        for duty in self.__dict__.get("duties", []):  # the delivery worker keeps channel connections open
            close = getattr(duty, "close", None)
            if close is not None:
                close()
        if "runner" in self.__dict__:
            self.runner.close()
        if {"executor", "container_executor", "_dask_executors"} & self.__dict__.keys():
            self.close_workers()
        if "store" in self.__dict__:
            self.store.close()

    # --------------------------------------------------------- models, rules
    def model_pull(self, name: str, progress: Callable[[int, int], None] | None = None) -> Path:
        """Download (or find in the cache / ``VIGIL_MIRROR``) catalogue model ``name``; sha256-verified."""
        from vigil.vision import catalog

        return catalog.pull(name, cache_dir(), progress=progress)

    def model_add(self, source: str, progress: Callable[[int, int], None] | None = None,
                  repo: str = "model", *, any_input_size: bool = True) -> CommitInfo:
        """Commit a model (a file, or a catalogue name) to the model repo, replacing the current one: a new
        model is a new commit, which re-runs detection for every frame with full provenance.

        With ``any_input_size`` a YOLOX graph's input height and width are made variable first (needs the
        ``onnx`` package; outputs at the original size stay bit-identical), so the detect stage's per-camera
        ``input_size`` can differ from the exported size; what was done is in the commit description, and a
        warning is logged when it could not be done."""
        from vigil.vision.graph import any_input_size as make_any_size
        from vigil.vision.graph import onnx_missing

        path = resolve_model(source, progress)
        note = "input size as exported"
        missing = onnx_missing() if any_input_size else None
        if missing:
            log.warning("model %s: %s", path.name, missing)
            note += " (onnx not installed)"
        elif any_input_size:
            path, note = make_any_size(path, cache_dir())
        self.store.create_repo(repo, "detection models (one .onnx at a time)", exist_ok=True)
        current = self.store.list_files(repo) if self.store.head(repo) else []
        with self.store.begin_commit(repo, description=f"model {path.name}: {note}") as commit:
            for f in current:
                if f.path != "/" + path.name:
                    commit.delete(f.path)
            commit.put_file("/" + path.name, path)
        assert commit.result is not None
        return commit.result

    def rules_test(self, rules_file: Path, *, detections: str = "detect", ref: str | None = None,
                   since: int | None = None) -> list[dict[str, object]]:
        """Back-test a rule set over stored detections (``detections@ref``): the events it would have raised,
        camera by camera in time order with full temporal state. Nothing is sent or committed."""
        try:
            text = rules_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise NotFoundError(f"cannot read rule file {rules_file}: {exc}", "check the path") from exc
        return self.rules_test_text(text, str(rules_file), detections=detections, ref=ref, since=since)

    def rules_test_text(self, text: str, source: str, *, detections: str = "detect", ref: str | None = None,
                        since: int | None = None, until: int | None = None,
                        cameras: Callable[[str], bool] = lambda _camera: True) -> list[dict[str, object]]:
        """:meth:`rules_test` of rule-file text (``source`` names it in errors), over the frames with
        ``since <= ts < until`` of the cameras ``cameras`` accepts."""
        from vigil.domain.rules import parse_ruleset
        from vigil.domain.threat import ThreatState, evaluate
        from vigil.stages.frames import FramePath
        from vigil.stages.threat import frame_facts

        rules = parse_ruleset(text, source)
        version = rules.fingerprint()
        frames = []
        for f in self.store.list_files(detections, ref):
            if f.path.endswith(".json"):
                frame = FramePath.parse(f.path)
                if ((since is None or frame.ts >= since) and (until is None or frame.ts < until)
                        and cameras(frame.camera)):
                    frames.append((frame.camera, frame.ts, f))
        events: list[dict[str, object]] = []
        state = ThreatState()
        for _camera, _ts, f in sorted(frames, key=lambda x: (x[0], x[1], x[2].path)):
            with self.store.objects.open(f.oid) as fh:  # closed at once: a back-test reads many records
                doc = json.loads(fh.read())
            new, state = evaluate(rules, frame_facts(doc, f.path), state, rules_version=version)
            events.extend(e.to_dict() for e in new)
        return events

    def fsck(self, progress: Callable[[int], None] | None = None, *, repair: bool = False) -> integrity.FsckReport:
        return integrity.fsck(self.store, progress, repair=repair)

    def gc(self, grace_seconds: float) -> integrity.GcReport:
        return integrity.gc(self.store, grace_seconds)


def load_checked_specs(path: Path) -> list[PipelineSpec]:
    """The specs of a file with every check that needs no workspace: syntax, keys, built-in stage names and
    their params, one name per pipeline, no cycle within the file."""
    from vigil.pipeline.spec import load_specs
    from vigil.stages.params import PARAMS

    specs = load_specs(path, PARAMS)
    _upstream_first(specs)  # raises on a cycle within the file
    return specs


def _upstream_first(specs: list[PipelineSpec]) -> list[PipelineSpec]:
    from vigil.pipeline.draw import topological_order

    return topological_order(specs)


__all__ = ["App", "Duty", "PutResult", "Skipped", "Upload", "UploadPlan", "match_glob", "plan_uploads",
           "render_evidence"]
