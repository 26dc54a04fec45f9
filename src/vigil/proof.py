"""The application API of proof: the audit log, reproducing results, retention.

Mixed into :class:`vigil.app.App` (like :class:`vigil.serving.ServingAPI`), so the CLI and the HTTP server
make one call each. Heavy modules are imported where used.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from vigil.errors import AuditChainError, NotReproducedError, UsageError
from vigil.store import audit

if TYPE_CHECKING:
    from vigil.executors.container import ContainerExecutor
    from vigil.executors.local import LocalExecutor
    from vigil.index.retention import RetentionReport
    from vigil.pipeline.reproduce import Reproduction
    from vigil.pipeline.spec import PipelineSpec
    from vigil.pipeline.transform import DatumResult, DatumTask, Executor, TransformFactory
    from vigil.store.store import Store
    from vigil.store.workspace import Workspace

_ANCHOR = re.compile(r"^(?P<seq>\d+):(?P<hash>[0-9a-f]{64})$")


def parse_anchor(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` as printed by `vigil audit head`."""
    m = _ANCHOR.match(text.strip().lower())
    if m is None:
        raise UsageError(f"{text!r} is not an anchor", "give SEQ:HASH as `vigil audit head` prints it")
    return int(m["seq"]), m["hash"]


class ProofAPI:
    """Audit log, reproduce and retention (see the module docstring)."""

    if TYPE_CHECKING:  # provided by App
        @property
        def store(self) -> Store: ...

        workspace: Workspace

        @property
        def executor(self) -> LocalExecutor: ...

        @property
        def container_executor(self) -> ContainerExecutor: ...

        def factory_in(self, spec: PipelineSpec, image: str | None) -> TransformFactory: ...

        def stage_image(self, spec: PipelineSpec) -> str: ...

        def close_workers(self) -> None: ...

    def audit_log(self, *, limit: int | None = None, action: str | None = None) -> list[audit.Entry]:
        """Audit entries oldest first (the newest ``limit``), optionally of one action or action prefix."""
        return audit.entries(self.store.engine, limit=limit, action=action)

    def audit_head(self) -> audit.Head:
        return audit.head(self.store.engine)

    def audit_verify(self, anchor: str | None = None) -> audit.Verdict:
        """Recompute the chain; ``AuditChainError`` naming the first broken entry."""
        verdict = audit.verify(self.store.engine, anchor=parse_anchor(anchor) if anchor else None)
        if not verdict.ok:
            raise AuditChainError(f"audit log broken at entry {verdict.broken_seq}: {verdict.problem} "
                                  f"({verdict.checked} entries before it verify)",
                                  "restore the metadata database from a backup and compare; the entries before "
                                  "it are intact")
        return verdict

    # ------------------------------------------------------------------------------------------- reproduce
    def reproduce(self, target: str, *, container: bool = False) -> Reproduction:
        """Re-run what produced ``target`` (an event id, or ``REPO[@COMMIT]:PATH`` of a pipeline's output) from
        its recorded inputs and code, in this process or (``container``) in each stage's image. The result says
        whether every output came out identical; ``NotReproducedError`` when it cannot be re-run."""
        from vigil.pipeline.reproduce import reproduce
        from vigil.store.paths import RepoRef

        if ":" in target or "@" in target:
            ref = RepoRef.parse(target)
            if not ref.path or ref.path == "/":
                raise UsageError(f"{target!r} names no file", "give REPO[@COMMIT]:PATH or an event id")
            repo, commit, path = ref.repo, ref.ref, ref.path
        else:
            repo, commit, path = self._event_output(target)

        def run(spec: PipelineSpec, task: DatumTask) -> tuple[DatumResult, dict[str, Any] | None]:
            return self._run_datum(spec, task, container)

        try:
            result = reproduce(self.store, repo, commit, path, run)
        finally:
            if container:
                self.close_workers()
        audit.record(self.store.engine, "reproduce", result.target,
                     detail={"identical": result.identical, "container": container, "steps": len(result.steps)})
        return result

    def _event_output(self, event_id: str) -> tuple[str, str | None, str]:
        """The threat record an event is in: (repo, None = its head, path)."""
        from vigil.domain.access import Principal
        from vigil.index.events import REPO, get_event

        event = get_event(self.store, Principal("cli", "admin"), event_id)
        return REPO, None, str(event["threat_path"])

    def _run_datum(self, spec: PipelineSpec, task: DatumTask, container: bool
                   ) -> tuple[DatumResult, dict[str, Any] | None]:
        from vigil import __version__
        from vigil.pipeline import identity
        from vigil.pipeline.transform import RunOptions

        if spec.incremental:
            raise NotReproducedError(f"{spec.name} is incremental: its datum sums every earlier job",
                                     "reproduce the outputs it summarises instead (an event, a detection)")
        image = self.stage_image(spec) if container else None
        factory = self.factory_in(spec, image)
        executor: Executor = self.container_executor if image is not None else self.executor
        options = RunOptions(parallelism=1, batch_size=1, tries=1, timeout=spec.datum_timeout,
                             params=spec.transform.params, lister=self.store.list_range)
        results = list(executor.run(f"reproduce:{spec.name}:{spec.fingerprint()}:{image}", factory, [task],
                                    self.store.objects, options))
        env = None if image is not None else {**identity.environment(), "vigil": __version__}
        return results[0], env

    # ------------------------------------------------------------------------------------------- retention
    def retention_apply(self, *, dry_run: bool = False, now: float | None = None) -> RetentionReport:
        """Delete the frame bytes past the workspace's retention policies (``retention:`` in vigil.yaml);
        records, hashes and events stay. ``UsageError`` when no policy is configured."""
        import time

        from vigil.index.retention import apply

        policies = self.workspace.config.retention
        if not policies:
            raise UsageError("no retention policy is configured",
                             "add `retention:` to .vigil/vigil.yaml, e.g. [{name: frames-30d, frames_days: 30, "
                             "event_frames_days: 365}] (README: Proof)")
        return apply(self.store, policies, time.time() if now is None else now, dry_run=dry_run)

    def retention_erase(self, camera: str, since: int, until: int, *, reason: str = "",
                        dry_run: bool = False) -> RetentionReport:
        """An erasure request: every frame of ``camera`` captured in ``[since, until)``, events or not."""
        from vigil.domain.identity import parse_camera
        from vigil.index.retention import erase_camera

        if parse_camera(camera) is None:
            raise UsageError(f"{camera!r} is not a camera name", "a camera is named [<tenant>-]<device>")
        if until <= since:
            raise UsageError("--to must be after --from", "give the time range to erase, e.g. --from 2017-11-28 "
                             "--to 2017-11-29")
        return erase_camera(self.store, camera, since, until, reason=reason, dry_run=dry_run)


class RetentionDuty:
    """``vigil serve`` applies the retention policies once an hour (a duty beside the indexes)."""

    name = "retention"
    interval = 3600.0

    def __init__(self, api: ProofAPI) -> None:
        self.api = api
        self._next = 0.0

    def run_once(self) -> int:
        import time

        if time.monotonic() < self._next:
            return 0
        self._next = time.monotonic() + self.interval
        report = self.api.retention_apply()
        return sum(report.frames.values())


__all__ = ["ProofAPI", "RetentionDuty", "parse_anchor"]
