"""Where a pipeline's transform runs: built in this process, in its container image, or on a Dask cluster.

:func:`transform_factory` builds a transform from its spec (the in-process executor's workers, ``vigil worker``
inside an image and Dask workers use the same :class:`BuildTransform`, so a stage is the same code either way);
:class:`OnDask` marks a pipeline placed on a Dask cluster; :func:`map_image` and :func:`parse_image_map`
resolve the image a spec names (``containers.image_map``, ``--image-map``); :class:`ChosenExecutor` hands each
job to the executor the application picks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.errors import SpecError, UsageError
from vigil.pipeline.spec import Transform as TransformSpec
from vigil.pipeline.transform import DatumResult, DatumTask, Executor, RunOptions, Transform, TransformFactory
from vigil.store.objects import ObjectStore

# The role image (localhost/vigil-<role>, deploy/containers) that carries each built-in stage: motion works on
# decoded frames with OpenCV like validate, so it shares validate's image.
STAGE_ROLES = {"noop": "threat", "validate": "validate", "motion": "validate", "detect": "detect",
               "threat": "threat", "report": "report"}


def stage_image(stage: str, prefix: str = "localhost/vigil-") -> str:
    """The image that runs built-in ``stage`` (``make images`` builds them as ``localhost/vigil-<role>``)."""
    if stage not in STAGE_ROLES:
        raise UsageError(f"no image carries stage {stage!r}", f"images carry: {', '.join(sorted(STAGE_ROLES))}")
    return prefix + STAGE_ROLES[stage]


@dataclass(frozen=True)
class BuildTransform:
    """How to build a transform from its spec: plain data (it pickles), so a Dask worker builds the same
    transform as this process does. Calling it builds one."""

    spec: TransformSpec
    timeout: float | None = None
    pfs_root: Path | None = None

    def __call__(self) -> Transform:
        from vigil.pipeline.command import CommandTransform
        from vigil.pipeline.pyfunc import PythonTransform
        from vigil.stages.registry import stage_factory

        if self.spec.kind == "cmd":
            return CommandTransform(self.spec, self.timeout, pfs_root=self.pfs_root)
        if self.spec.kind == "python":
            return PythonTransform(self.spec.python or "")
        return stage_factory(self.spec.stage or "")(dict(self.spec.params))


@dataclass(frozen=True)
class OnDask:
    """The transform factory of a pipeline placed on a Dask cluster: the runner hands it to the Dask executor
    for ``address``, which ships ``build`` to the workers."""

    address: str
    connect_timeout: float
    build: BuildTransform

    def __call__(self) -> Transform:
        return self.build()


def transform_factory(spec: TransformSpec, timeout: float | None, pfs_root: Path | None = None) -> TransformFactory:
    """How to build a transform from its spec in this process (a worker container's ``vigil worker`` too,
    with its own ``/pfs`` as ``pfs_root`` for commands). An unknown stage fails here, not on a worker."""
    from vigil.stages.registry import stage_factory

    if spec.kind == "stage":
        stage_factory(spec.stage or "")
        check_stage_params(spec.stage or "", dict(spec.params))
    return BuildTransform(spec, timeout, pfs_root)


def check_stage_params(stage: str, params: dict[str, Any]) -> None:
    """``SpecError`` when ``params`` do not fit built-in ``stage`` (a pipeline stored before params were
    checked at create time fails to load with this reason, not as an internal error)."""
    from pydantic import ValidationError

    from vigil.stages.params import PARAMS

    try:
        PARAMS[stage].model_validate(params)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise SpecError(f"stage {stage} params: {key}: {first['msg']} (got {first.get('input')!r})",
                        "fix the spec and run `vigil pipeline apply FILE`") from None


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


class ChosenExecutor:
    """The executor a run hands the engine: each job goes to the executor ``choose`` picks for its
    transform factory (the application's choice: in-process pool or worker containers)."""

    def __init__(self, choose: Callable[[TransformFactory], Executor], close: Callable[[], None]) -> None:
        self._choose, self._close = choose, close

    def run(self, key: str, factory: TransformFactory, tasks: Sequence[DatumTask], objects: ObjectStore,
            options: RunOptions) -> Iterator[DatumResult]:
        return self._choose(factory).run(key, factory, tasks, objects, options)

    def close(self) -> None:
        self._close()
