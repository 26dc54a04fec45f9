"""The application API: the one place the CLI (and any HTTP front end) calls into.

It opens the workspace and turns user-level requests ("put these files and folders there") into store calls.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from vigil.errors import NotFoundError, UsageError
from vigil.executors.container import ContainerExecutor, InImage
from vigil.executors.local import LocalExecutor
from vigil.pipeline import registry
from vigil.pipeline.command import CommandTransform
from vigil.pipeline.jobs import JobInfo, ProgressFn
from vigil.pipeline.pyfunc import PythonTransform
from vigil.pipeline.registry import Pipeline
from vigil.pipeline.runner import run_pending
from vigil.pipeline.spec import PipelineSpec, load_specs
from vigil.pipeline.spec import Transform as TransformSpec
from vigil.pipeline.transform import DatumResult, DatumTask, Executor, RunOptions, TransformFactory
from vigil.stages.registry import STAGES, stage_factory
from vigil.store import history, integrity
from vigil.store.models import Change, CommitInfo, FileInfo
from vigil.store.objects import ObjectStore
from vigil.store.paths import RepoRef, join, normalize_path
from vigil.store.store import DEFAULT_BRANCH, Store
from vigil.store.workspace import ContainersConfig, Workspace
from vigil.vision import catalog

STDIN = "-"
ENV_CACHE = "VIGIL_CACHE"


def cache_dir() -> Path:
    """Where downloaded models and samples are cached: ``$VIGIL_CACHE`` or ``~/.cache/vigil``."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "vigil")


def resolve_model(model: str | Path, progress: Callable[[int, int], None] | None = None) -> Path:
    """An ``.onnx`` file as given, or a catalogue name pulled into the cache (``VIGIL_MIRROR`` first)."""
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
    source: Path | None


def plan_uploads(dest: str | None, sources: list[str]) -> list[Upload]:
    """Map CLI sources onto repo paths: a file lands at DEST/<basename>, a folder keeps its layout below
    DEST/<folder name>, ``-`` (stdin) lands at DEST itself. Every path is validated before anything is written.
    """
    uploads: list[Upload] = []
    base = dest or "/"
    for src in sources:
        if src == STDIN:
            if not dest or dest.endswith("/"):
                raise UsageError("reading stdin needs a file path", "write e.g. `vigil put images:/cam1/1.jpg -`")
            uploads.append(Upload(normalize_path(dest), None))
            continue
        path = Path(src)
        if path.is_dir():
            root = path.resolve()
            uploads.extend(Upload(join(base, path.resolve().name, rel), file) for rel, file in _walk(root))
        elif path.is_file():
            uploads.append(Upload(join(base, _checked_name(path.name)), path))
        elif path.exists():
            raise UsageError(f"{src} is not a regular file or folder", "give files or folders")
        else:
            raise NotFoundError(f"no such file or folder: {src}", "check the path")
    seen: dict[str, Path | None] = {}
    for up in uploads:
        if up.path in seen:
            raise UsageError(f"two sources map to {up.path}: {seen[up.path]} and {up.source}",
                             "upload them under different paths")
        seen[up.path] = up.source
    return uploads


def _checked_name(name: str) -> str:
    return normalize_path(name).lstrip("/")


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    """Regular files below ``root`` as (relative path, file), sorted; symlinks leading outside are refused."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            file = Path(folder) / name
            real = file.resolve()
            if not real.is_relative_to(root):
                raise UsageError(f"{file} links outside {root}", "copy the target in, or remove the link")
            if real.is_file():
                yield _checked_name(str(file.relative_to(root))), file


def match_glob(pattern: str, path: str) -> bool:
    """``*`` and ``?`` stay within one path segment, ``**`` crosses segments, ``[...]`` is a class."""
    regex = re.escape(pattern).replace(r"\*\*", "\x00").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    regex = regex.replace("\x00", ".*").replace(r"\[", "[").replace(r"\]", "]").replace("[!", "[^")
    return re.fullmatch(regex, path) is not None


class App:
    """Vigil for one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    @classmethod
    def open(cls, workspace: Path | None = None) -> App:
        return cls(Workspace.find(workspace))

    @classmethod
    def init(cls, folder: Path) -> App:
        return cls(Workspace.init(folder))

    @cached_property
    def store(self) -> Store:
        return self.workspace.store

    def put(self, target: str, sources: list[str], message: str = "",
            progress: Callable[[int], None] | None = None) -> CommitInfo:
        """Upload files, folders or stdin into ``REPO[@BRANCH][:PATH]`` as one commit."""
        ref = RepoRef.parse(target)
        uploads = plan_uploads(ref.path, sources)
        if not uploads:
            raise UsageError("nothing to upload: the folders given are empty", "give files or non-empty folders")
        self.store.head(ref.repo, ref.ref or DEFAULT_BRANCH)  # fail fast on a missing repo/branch
        with self.store.begin_commit(ref.repo, ref.ref or DEFAULT_BRANCH, description=message) as commit:
            for up in uploads:
                if up.source is None:
                    commit.put_stream(up.path, sys.stdin.buffer)
                else:
                    commit.put_file(up.path, up.source)
                if progress:
                    progress(1)
        assert commit.result is not None
        return commit.result

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
        return LocalExecutor(max_workers=os.cpu_count() or 1)

    @cached_property
    def containers(self) -> ContainersConfig:
        """Container settings: the workspace's ``containers`` section (callers may adjust a run's copy)."""
        return self.workspace.config.containers.model_copy(deep=True)

    @cached_property
    def container_executor(self) -> ContainerExecutor:
        """Long-lived worker containers (podman) for transforms that name an image."""
        return ContainerExecutor(max_workers=os.cpu_count() or 1, podman=self.containers.podman)

    def set_containers(self, image_map: list[str], *, enabled: bool | None = None) -> None:
        """This run's container settings: ``SPEC_IMAGE=IMAGE`` entries added to the image map, and containers
        turned on or off (None: as configured)."""
        self.containers.image_map.update(parse_image_map(image_map))
        if enabled is not None:
            self.containers.enabled = enabled

    def image_for(self, pipeline: Pipeline) -> str | None:
        """The image ``pipeline`` runs in (after ``containers.image_map``), or None to run it in-process."""
        image = pipeline.spec.transform.image
        if image is None or not self.containers.enabled:
            return None
        return map_image(image, self.containers.image_map)

    def factory_for(self, pipeline: Pipeline) -> TransformFactory:
        """How to build the transform of ``pipeline`` on a worker: in its image, or in this process."""
        image = self.image_for(pipeline)
        if image is not None:
            return InImage(image, pipeline.spec.transform.model_dump(mode="json"), pipeline.spec.datum_timeout)
        return transform_factory(pipeline.spec.transform, pipeline.spec.datum_timeout)

    def executor_for(self, factory: TransformFactory) -> Executor:
        """The executor choice: worker containers for a transform in an image, else the in-process pool."""
        return self.container_executor if isinstance(factory, InImage) else self.executor

    def close(self) -> None:
        """Stop warm workers (threads' transforms, worker containers)."""
        self.executor.close()
        if "container_executor" in self.__dict__:
            self.container_executor.close()

    def create_pipelines(self, path: Path, *, update: bool = False, reprocess: bool = False) -> list[Pipeline]:
        """Create (or update) every pipeline in a spec file, upstream first."""
        specs = load_specs(path)
        for spec in specs:
            if spec.transform.kind == "stage" and spec.transform.stage not in STAGES:
                stage_factory(spec.transform.stage or "")  # raises naming the known stages
        names = {s.name for s in specs}
        ordered = [s for s in _upstream_first(specs) if s.name in names]
        return [registry.create_pipeline(self.store, s, update_existing=update, reprocess=reprocess)
                for s in ordered]

    def run(self, pipeline: str | None = None, *, force: bool = False,
            progress: ProgressFn | None = None) -> list[JobInfo]:
        return run_pending(self.store, _Chosen(self), self.factory_for, only=pipeline, force=force,
                           progress=progress)

    # --------------------------------------------------------- models, rules
    def model_pull(self, name: str, progress: Callable[[int, int], None] | None = None) -> Path:
        """Download (or find in the cache / ``VIGIL_MIRROR``) catalogue model ``name``; sha256-verified."""
        return catalog.pull(name, cache_dir(), progress=progress)

    def model_add(self, source: str, progress: Callable[[int, int], None] | None = None,
                  repo: str = "model") -> CommitInfo:
        """Commit a model (a file, or a catalogue name) to the model repo, replacing the current one: a new
        model is a new commit, which re-runs detection for every frame with full provenance."""
        path = resolve_model(source, progress)
        self.store.create_repo(repo, "detection models (one .onnx at a time)", exist_ok=True)
        current = self.store.list_files(repo) if self.store.head(repo) else []
        with self.store.begin_commit(repo, description=f"model {path.name}") as commit:
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
        from vigil.domain.rules import parse_ruleset
        from vigil.domain.threat import ThreatState, evaluate
        from vigil.stages.frames import FramePath
        from vigil.stages.threat import frame_facts

        try:
            text = rules_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise NotFoundError(f"cannot read rule file {rules_file}: {exc}", "check the path") from exc
        rules = parse_ruleset(text, str(rules_file))
        version = rules.fingerprint()
        frames = []
        for f in self.store.list_files(detections, ref):
            if f.path.endswith(".json"):
                frame = FramePath.parse(f.path)
                if since is None or frame.ts >= since:
                    frames.append((frame.camera, frame.ts, f))
        events: list[dict[str, object]] = []
        state = ThreatState()
        for _camera, _ts, f in sorted(frames, key=lambda x: (x[0], x[1], x[2].path)):
            doc = json.loads(self.store.objects.open(f.oid).read())
            new, state = evaluate(rules, frame_facts(doc, f.path), state, rules_version=version)
            events.extend(e.to_dict() for e in new)
        return events

    def fsck(self, progress: Callable[[int], None] | None = None) -> integrity.FsckReport:
        return integrity.fsck(self.store, progress)

    def gc(self, grace_seconds: float) -> integrity.GcReport:
        return integrity.gc(self.store, grace_seconds)


def transform_factory(spec: TransformSpec, timeout: float | None, pfs_root: Path | None = None) -> TransformFactory:
    """How to build a transform from its spec in this process (a worker container's ``vigil worker`` too,
    with its own ``/pfs`` as ``pfs_root`` for commands)."""
    if spec.kind == "cmd":
        return lambda: CommandTransform(spec, timeout, pfs_root=pfs_root)
    if spec.kind == "python":
        target = spec.python or ""
        return lambda: PythonTransform(target)
    make = stage_factory(spec.stage or "")
    params = dict(spec.params)
    return lambda: make(params)


def map_image(image: str, image_map: dict[str, str]) -> str:
    """``image`` through ``image_map``: an exact entry first, else one for its name without the tag
    (``dwhitena/mgmt-plot`` maps ``dwhitena/mgmt-plot:fix2``)."""
    if image in image_map:
        return image_map[image]
    name, sep, tag = image.rpartition(":")
    if sep and "/" not in tag and name in image_map:
        return image_map[name]
    return image


def parse_image_map(entries: list[str]) -> dict[str, str]:
    """``SPEC_IMAGE=IMAGE`` pairs (the CLI's ``--image-map``) as a mapping."""
    mapping: dict[str, str] = {}
    for entry in entries:
        source, sep, target = entry.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise UsageError(f"--image-map {entry!r} is not SPEC_IMAGE=IMAGE",
                             "e.g. --image-map dwhitena/mgmt-object-detect=localhost/vigil-detect")
        mapping[source.strip()] = target.strip()
    return mapping


def serve_worker() -> int:
    """``vigil worker --stdio``: serve the container executor's protocol on stdin/stdout (inside an image)."""
    from vigil.executors.worker import serve_stdio

    def build(transform: dict[str, object], timeout: float | None, pfs: Path | None) -> TransformFactory:
        return transform_factory(TransformSpec.model_validate(transform), timeout, pfs)

    return serve_stdio(build)


class _Chosen:
    """The executor a run hands the engine: each job goes to :meth:`App.executor_for` its transform."""

    def __init__(self, app: App) -> None:
        self.app = app

    def run(self, key: str, factory: TransformFactory, tasks: Sequence[DatumTask], objects: ObjectStore,
            options: RunOptions) -> Iterator[DatumResult]:
        return self.app.executor_for(factory).run(key, factory, tasks, objects, options)

    def close(self) -> None:
        self.app.close()


def _upstream_first(specs: list[PipelineSpec]) -> list[PipelineSpec]:
    from vigil.pipeline.draw import topological_order

    return topological_order(specs)


__all__ = ["App", "Upload", "map_image", "match_glob", "parse_image_map", "plan_uploads", "serve_worker",
           "transform_factory"]
