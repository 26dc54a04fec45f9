"""The application API of the HTTP server (``vigil serve``): camera push, events, feedback, stats, tokens, tools.

Mixed into :class:`vigil.app.App`, so handlers make one call into the application API as the CLI does. Every
method takes the caller (:class:`~vigil.domain.access.Principal`): what its tenant and cameras cannot see does not
exist for it (``NotFoundError``), what its role does not allow is ``ForbiddenError``. Heavy modules (SQLAlchemy
queries, image drawing) are imported where used, so the CLI's start-up does not pay for them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from functools import cached_property
from typing import TYPE_CHECKING, Any

from vigil.domain.access import Action, Principal
from vigil.errors import ForbiddenError, NotFoundError, UsageError
from vigil.store import audit, history
from vigil.store.models import Change, CommitInfo, FileInfo, RepoInfo
from vigil.store.paths import RepoRef
from vigil.store.store import DEFAULT_BRANCH, Store

if TYPE_CHECKING:
    from vigil.alerts.service import AlertService
    from vigil.domain.sources import SourceConfig
    from vigil.index import evidence as event_evidence
    from vigil.index.events import EventPage, EventQuery
    from vigil.ingest.committer import Ack, GroupCommitter
    from vigil.ingest.live import LiveSources
    from vigil.ingest.push import FramePush, GivenTime
    from vigil.ingest.push import Upload as PushUpload
    from vigil.pipeline.jobs import JobInfo
    from vigil.store.tokens import TokenInfo


class ServingAPI:
    """The server's part of the application API (see the module docstring)."""

    if TYPE_CHECKING:  # provided by App
        @property
        def store(self) -> Store: ...

        def ls(self, target: str) -> list[FileInfo]: ...

        def diff(self, a: str, b: str) -> list[Change]: ...

        @property
        def alerts(self) -> AlertService: ...

        @property
        def source_configs(self) -> list[SourceConfig]: ...

    @cached_property
    def frame_push(self) -> FramePush:
        from vigil.ingest.push import FramePush

        return FramePush(self.store)

    def committer_for(self, repo: str) -> GroupCommitter:
        """The group committer of ``repo`` in this process: camera push's for the images repo, so pushed and
        ingested frames share commits."""
        from vigil.ingest.committer import GroupCommitter

        if repo == self.frame_push.repo:
            return self.frame_push.committer
        committers: dict[str, GroupCommitter] = self.__dict__.setdefault("_committers", {})
        if repo not in committers:
            committers[repo] = GroupCommitter(self.store, repo)
        return committers[repo]

    @cached_property
    def live_sources(self) -> LiveSources:
        """The ``sources:`` of ``.vigil/vigil.yaml`` (started by ``vigil serve``)."""
        from vigil.ingest.live import LiveSources

        return LiveSources(self.source_configs, self.store, self.committer_for)

    def close_ingest(self) -> None:
        """Stop live sources (committing what they staged), then flush and stop every committer."""
        if "live_sources" in self.__dict__:
            self.live_sources.stop()
        for committer in self.__dict__.get("_committers", {}).values():
            committer.close()
        if "frame_push" in self.__dict__:
            self.frame_push.close()

    def push_frames(self, who: Principal, camera: str, uploads: list[PushUpload],
                    given: GivenTime | None = None) -> Future[list[Ack]]:
        """Store frames pushed for ``camera``; the future resolves once they are committed (group commit)."""
        _require(who, "push")
        if not who.sees_camera(camera):
            raise NotFoundError(f"no camera {camera!r} for this token",
                                "a camera is named [<tenant>-]<device>; a tenant's token pushes to its cameras")
        return self.frame_push.push(camera, uploads, given)

    def verify_token(self, token: str) -> Principal | None:
        """The token's principal, or None. A check that reaches the database is audited as a login (the server
        caches a verified token a few seconds); cameras are not: their pushes are audited as commits."""
        from vigil.store import tokens

        who = tokens.verify(self.store, token)
        if who is None:
            token_id = token.split("_")[1] if token.count("_") >= 2 else "?"
            audit.record(self.store.engine, "login.failed", f"token:{token_id[:32]}",
                         actor=audit.Actor("anonymous", audit.current_actor().origin))
        elif who.role != "camera":
            self._audit(who, "login", f"token:{who.token_id}")
        return who

    def _audit(self, who: Principal, action: str, obj: str, **detail: Any) -> None:
        """Record what ``who`` did (from the request's address, see :func:`vigil.store.audit.set_actor`)."""
        here = audit.current_actor()
        name = here.name if who.token_id == "cli" else f"token:{who.token_id}"  # the CLI acts as its OS user
        audit.record(self.store.engine, action, obj, detail={"role": who.role, "tenant": who.tenant, **detail},
                     actor=audit.Actor(name, here.origin))

    def create_token(self, who: Principal | None, role: str, tenant: str | None = None,
                     cameras: list[str] | None = None, name: str = "") -> tuple[str, TokenInfo]:
        """A new token (``who`` None: the CLI, i.e. the workspace owner). A tenant admin makes its tenant's only."""
        from vigil.store import tokens

        if who is not None:
            _require(who, "admin")
            if who.tenant is not None and tenant != who.tenant:
                raise ForbiddenError("a tenant's admin token creates tokens of its own tenant only",
                                     f"pass tenant={who.tenant}")
        return tokens.create(self.store, role, tenant, cameras, name)

    def list_tokens(self, who: Principal | None = None) -> list[TokenInfo]:
        from vigil.store import tokens

        if who is not None:
            _require(who, "admin")
        return tokens.list_tokens(self.store, who.tenant if who is not None else None)

    def revoke_token(self, token_id: str, who: Principal | None = None) -> TokenInfo:
        from vigil.store import tokens

        if who is not None:
            _require(who, "admin")
        return tokens.revoke(self.store, token_id, who.tenant if who is not None else None)

    def events(self, who: Principal, query: EventQuery) -> EventPage:
        from vigil.index.events import list_events

        _require(who, "read")
        return list_events(self.store, who, query)

    def event(self, who: Principal, event_id: str) -> dict[str, Any]:
        """An event with the reason it fired (its rule as it was, the model) and its lineage."""
        from vigil.index import evidence as event_evidence
        from vigil.index.events import get_event

        _require(who, "read")
        found = event_evidence.explain(self.store, get_event(self.store, who, event_id))
        self._audit(who, "view.event", f"event:{event_id}")
        return found

    def evidence(self, who: Principal, event_id: str, *, thumbnail: bool = False) -> event_evidence.Picture:
        """The event's frame with its objects boxed (or a thumbnail), ETag'd by what it is drawn from."""
        from vigil.index import evidence as event_evidence
        from vigil.index.events import get_event

        _require(who, "read")
        picture = event_evidence.picture(self.store, get_event(self.store, who, event_id), thumbnail)
        self._audit(who, "view.thumbnail" if thumbnail else "view.evidence", f"event:{event_id}")
        return picture

    def feedback(self, who: Principal, event_id: str, verdict: str | None, note: str = "",
                 reviewed: bool = True) -> dict[str, Any]:
        from vigil.index.feedback import record as record_feedback

        _require(who, "review")
        done = record_feedback(self.store, who, event_id, verdict, note, reviewed)
        self._audit(who, "feedback", f"event:{event_id}", verdict=verdict, reviewed=reviewed)
        return done

    def precision(self, who: Principal, by: str = "rule", since: int | None = None,
                  until: int | None = None) -> list[dict[str, Any]]:
        from vigil.index.feedback import precision

        _require(who, "read")
        return precision(self.store, who, by, since, until)  # type: ignore[arg-type]

    def event_counts(self, who: Principal, by: str, since: int | None = None, until: int | None = None
                     ) -> dict[str, int]:
        """Events per camera (the 2017 threats-per-device chart), rule or severity."""
        from vigil.index.events import count_by

        _require(who, "read")
        column = {"camera": "camera", "rule": "rule_id", "severity": "severity"}.get(by)
        if column is None:
            raise UsageError(f"cannot count events by {by!r}", "use camera, rule or severity")
        return count_by(self.store, who, column, since, until)

    def daily_events(self, who: Principal, since: int | None = None, until: int | None = None
                     ) -> list[dict[str, Any]]:
        from vigil.index.events import daily

        _require(who, "read")
        return daily(self.store, who, since, until)

    def cameras(self, who: Principal) -> list[dict[str, Any]]:
        from vigil.index.cameras import list_cameras

        _require(who, "read")
        return self._with_sources(list_cameras(self.store, who))

    def camera(self, who: Principal, camera: str) -> dict[str, Any]:
        from vigil.index.cameras import get_camera

        _require(who, "read")
        return self._with_sources([get_camera(self.store, who, camera)])[0]

    def _with_sources(self, cameras: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Cameras with the stats of the live sources this process runs for them (``sources``: a list)."""
        if "live_sources" not in self.__dict__:
            return cameras
        by_camera: dict[str, list[dict[str, Any]]] = {}
        for stats in self.live_sources.stats():
            by_camera.setdefault(stats["camera"], []).append(stats)
        return [{**c, "sources": by_camera.get(c["camera"], [])} for c in cameras]

    def latest_frame(self, who: Principal, camera: str) -> event_evidence.Picture:
        """The camera's newest valid frame, as stored."""
        from vigil.index import evidence as event_evidence
        from vigil.index.cameras import get_camera

        _require(who, "read")
        picture = event_evidence.latest_frame(self.store, get_camera(self.store, who, camera))
        self._audit(who, "view.frame", f"camera:{camera}")
        return picture

    def rules(self, who: Principal) -> dict[str, Any]:
        """The current rule set; a tenant's token sees only the rules naming its tenant."""
        from vigil.index import evidence as event_evidence

        _require(who, "read")
        return event_evidence.current_rules(self.store, who)

    def _tools(self, who: Principal, action: Action = "read") -> Store:
        """The store, for the generic repo/pipeline endpoints: all-tenant tokens only (tenants get 'not
        found': repos are not partitioned by tenant)."""
        if not who.all_tenants:
            raise NotFoundError("not found", "this endpoint is for tokens of every tenant")
        _require(who, action)
        return self.store

    def repos(self, who: Principal) -> list[RepoInfo]:
        return self._tools(who).list_repos()

    def repo(self, who: Principal, name: str) -> RepoInfo:
        return self._tools(who).inspect_repo(name)

    def log(self, who: Principal, repo: str, ref: str | None = None, limit: int = 50) -> list[CommitInfo]:
        return history.log(self._tools(who), repo, ref, limit)

    def commit(self, who: Principal, repo: str, ref: str) -> tuple[CommitInfo, list[Change]]:
        """A commit and what it changed."""
        store = self._tools(who)
        return store.resolve(repo, ref), history.changes(store, repo, ref)

    def compare(self, who: Principal, a: str, b: str) -> list[Change]:
        self._tools(who)
        return self.diff(a, b)

    def files(self, who: Principal, target: str) -> list[FileInfo]:
        self._tools(who)
        return self.ls(target)

    def read_file(self, who: Principal, repo: str, ref: str | None, path: str) -> tuple[FileInfo, bytes]:
        store = self._tools(who)
        from vigil.store.objects import open_verified

        info, commit = store.locate(repo, ref, path)
        with open_verified(store.objects, info.oid, repo, info.path, commit, info.size) as fh:
            data = fh.read()
        self._audit(who, "export.file", f"{repo}@{ref or DEFAULT_BRANCH}:{info.path}", oid=info.oid)
        return info, data

    def pipelines(self, who: Principal) -> list[dict[str, Any]]:
        """Pipelines, upstream first, each with its last job."""
        from vigil.pipeline import registry
        from vigil.pipeline.jobs import list_jobs

        store = self._tools(who)
        return [{**p.to_dict(), "last_job": next((j.to_dict() for j in list_jobs(store, p.name, 1)), None)}
                for p in registry.list_pipelines(store)]

    def pipeline(self, who: Principal, name: str) -> dict[str, Any]:
        from vigil.pipeline import registry

        return registry.get_pipeline(self._tools(who), name).to_dict()

    def jobs(self, who: Principal, pipeline: str | None = None, limit: int = 20) -> list[JobInfo]:
        from vigil.pipeline.jobs import list_jobs

        return list_jobs(self._tools(who), pipeline, limit)

    def job(self, who: Principal, job_id: str) -> JobInfo:
        from vigil.pipeline.jobs import get_job

        return get_job(self._tools(who), job_id)

    def datum_seconds(self, job_id: str) -> list[float]:
        """Processing time of each datum a job ran (for the datum latency histogram)."""
        from vigil.pipeline import datum_records

        return [float(r["seconds"]) for r in datum_records.for_job(self.store, job_id) if r["seconds"]]

    def write_file(self, who: Principal, target: str, data: bytes, message: str = "") -> CommitInfo:
        """Write one file (``REPO[@BRANCH]:PATH``) as a commit."""
        ref = RepoRef.parse(target)
        store = self._tools(who, "write")
        if not ref.path or ref.path == "/":
            raise UsageError("a file path is needed", "PUT /api/v1/repos/REPO/files/PATH")
        with store.begin_commit(ref.repo, ref.ref or DEFAULT_BRANCH, description=message, origin="api") as c:
            c.put_bytes(ref.path, data)
        assert c.result is not None
        return c.result

    def readiness(self) -> dict[str, str]:
        """Whether the metadata database and the object store answer: {"database": "ok"|why, "objects": ...}."""
        checks: dict[str, str] = {}
        probes: list[tuple[str, Callable[[], object]]] = [
            ("database", lambda: _ping(self.store)), ("objects", lambda: self.store.objects.exists("0" * 64))]
        for name, probe in probes:
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:  # report, never raise: this is what a probe asks
                checks[name] = f"{exc.__class__.__name__}"
        return checks

    def status(self) -> dict[str, Any]:
        """What monitoring reads: jobs and datums by state, lease holders, index sizes (one call per scrape)."""
        from vigil.index import monitoring

        return {**monitoring.snapshot(self.store), "outbox": self.alert_counts()}

    def alert_counts(self) -> dict[str, int]:
        """Alert deliveries by state (the outbox depth)."""
        return self.alerts.counts()


def _ping(store: Store) -> None:
    from vigil.store.database import transaction

    with transaction(store.engine) as conn:
        conn.exec_driver_sql("SELECT 1")


def _require(who: Principal, action: Action) -> None:
    if not who.can(action):
        raise ForbiddenError(f"a {who.role} token cannot {action}", "use a token whose role allows it")


__all__ = ["ServingAPI"]
