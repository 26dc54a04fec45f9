"""The application API of the operator's dashboard (the pages of ``vigil serve``): what each page shows, in one
call per page, for one caller (:class:`~vigil.domain.access.Principal`).

Mixed into :class:`vigil.app.App` beside :class:`~vigil.serving.ServingAPI`, whose scoped queries it composes:
a tenant's login sees its tenant's events, cameras, feedback and rules only; the System page (pipelines, jobs,
outbox, storage) is for tokens of every tenant, as the API's tool endpoints are.
"""

from __future__ import annotations

import csv
import io
import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil import __version__
from vigil.domain.access import Action, Principal
from vigil.domain.review import group_bursts, liveness
from vigil.errors import AuthenticationError, ForbiddenError, NotFoundError
from vigil.store.store import Store

if TYPE_CHECKING:
    from vigil.alerts.service import AlertService
    from vigil.index.events import EventPage, EventQuery
    from vigil.index.evidence import Picture
    from vigil.pipeline.jobs import JobInfo
    from vigil.store.workspace import Workspace

SESSION_KEY = "session.key"
CSV_COLUMNS = ("event_id", "ts", "time_utc", "camera", "tenant", "rule_id", "severity", "labels", "max_score",
               "reviewed", "verdict")


class DashboardAPI:
    """The dashboard's part of the application API (see the module docstring)."""

    if TYPE_CHECKING:  # provided by App and ServingAPI
        workspace: Workspace

        @property
        def store(self) -> Store: ...

        @property
        def alerts(self) -> AlertService: ...

        def verify_token(self, token: str) -> Principal | None: ...
        def events(self, who: Principal, query: EventQuery) -> EventPage: ...
        def event(self, who: Principal, event_id: str) -> dict[str, Any]: ...
        def precision(self, who: Principal, by: str = "rule", since: int | None = None,
                      until: int | None = None) -> list[dict[str, Any]]: ...
        def event_counts(self, who: Principal, by: str, since: int | None = None,
                         until: int | None = None) -> dict[str, int]: ...
        def daily_events(self, who: Principal, since: int | None = None,
                         until: int | None = None) -> list[dict[str, Any]]: ...
        def cameras(self, who: Principal) -> list[dict[str, Any]]: ...
        def pipelines(self, who: Principal) -> list[dict[str, Any]]: ...
        def jobs(self, who: Principal, pipeline: str | None = None, limit: int = 20) -> list[JobInfo]: ...
        def alert_counts(self) -> dict[str, int]: ...
        def feedback(self, who: Principal, event_id: str, verdict: str | None, note: str = "",
                     reviewed: bool = True) -> dict[str, Any]: ...
        def _tools(self, who: Principal, action: Action = "read") -> Store: ...
        def rules(self, who: Principal) -> dict[str, Any]: ...
        def rules_test_text(self, text: str, source: str, *, detections: str = "detect", ref: str | None = None,
                            since: int | None = None, until: int | None = None,
                            cameras: Callable[[str], bool] = ...) -> list[dict[str, object]]: ...

    # ------------------------------------------------------------------ sessions
    def session_secret(self) -> bytes:
        """The key that signs this workspace's dashboard sessions: 32 random bytes made on first use and kept
        in ``.vigil/session.key`` (owner-only), so every server of the workspace accepts the same sessions and a
        restart logs nobody out. Deleting the file logs everyone out."""
        path = Path(self.workspace.config_dir) / SESSION_KEY
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        key = os.urandom(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another server made it first: use theirs
            return path.read_bytes()
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key

    def login(self, token: str) -> Principal:
        """The principal of an API token typed into the login form; it must be able to read events."""
        who = self.verify_token(token.strip())
        if who is None:
            raise AuthenticationError("invalid or revoked token",
                                      "paste a token from `vigil token create --role viewer --tenant TENANT`")
        if not who.can("read"):
            raise ForbiddenError(f"a {who.role} token cannot read events",
                                 "log in with a viewer, operator or admin token")
        return who

    def session_principal(self, token_id: str) -> Principal | None:
        """The principal behind a session (by token id), None once its token is revoked."""
        from vigil.store import tokens

        return tokens.active(self.store, token_id)

    # ------------------------------------------------------------------ review
    def review(self, who: Principal, query: EventQuery) -> dict[str, Any]:
        """The review screen: a page of events (newest first) in bursts per camera, the filters' choices, and
        precision per rule."""
        page = self.events(who, query)
        return {"bursts": group_bursts(page.events), "count": len(page.events), "next_cursor": page.next_cursor,
                "top": page.events[0]["event_id"] if page.events else None,
                "cameras": [c["camera"] for c in self.cameras(who)],
                "rules": sorted(self.event_counts(who, "rule")), "precision": self.precision(who, "rule")}

    def review_if_changed(self, who: Principal, query: EventQuery, top: str | None) -> dict[str, Any] | None:
        """The review screen again if its newest event is no longer ``top`` (what the page polls), else None:
        one probe for the newest event when nothing came."""
        events = self.events(who, replace(query, limit=1, cursor=None)).events
        if (events[0]["event_id"] if events else None) == top:
            return None
        return self.review(who, query)

    def mark(self, who: Principal, event_id: str, verdict: str | None) -> dict[str, Any]:
        """Record an operator's verdict (or a "reviewed" mark with ``verdict`` None) and return it with the
        event's rule's precision after it."""
        record = self.feedback(who, event_id, verdict)
        precision = next((r for r in self.precision(who, "rule") if r["rule"] == record["rule_id"]), None)
        return {**record, "rule_precision": precision}

    def event_page(self, who: Principal, event_id: str) -> dict[str, Any]:
        """One event with why it fired and its lineage, the rule's zones, the camera's frames around it, the
        deliveries of its alerts and its rule's precision."""
        from vigil.index.reports import frames_around

        event = self.event(who, event_id)
        rule = event["reason"].get("rule") or {}
        precision = next((r for r in self.precision(who, "rule") if r["rule"] == event["rule_id"]), None)
        return {**event, "zones": rule.get("zones") or [],
                "neighbours": frames_around(self.store, event["camera"], int(event["ts"])),
                "deliveries": self.alerts.deliveries(event_id=event_id, limit=50), "rule_precision": precision}

    def camera_frame(self, who: Principal, camera: str, ts: int) -> Picture:
        """A valid frame of a camera the principal sees, taken at ``ts`` (as stored)."""
        from vigil.index.evidence import Picture
        from vigil.index.reports import frames_around

        _require(who, "read")
        found = frames_around(self.store, camera, ts, span=0, limit=1) if who.sees_camera(camera) else []
        if not found:
            raise NotFoundError(f"no frame of {camera!r} at {ts}", "see the camera's events for its frames")
        with self.store.objects.open(found[0]["sha256"]) as fh:
            data = fh.read()
        media = "image/png" if found[0]["path"].endswith(".png") else "image/jpeg"
        return Picture(found[0]["sha256"][:32], media, data)

    # ------------------------------------------------------------------ cameras
    def camera_tiles(self, who: Principal, now: float | None = None) -> list[dict[str, Any]]:
        """Per camera: the index's row, frames today (UTC), invalid ratio and reasons, usual interval and
        health (ok, late, offline)."""
        from vigil.index.reports import activity

        at = int(time.time() if now is None else now)
        today = at - at % 86400
        tiles = []
        for cam in self.cameras(who):
            act = activity(self.store, cam["camera"], today)
            recent = act["recent"] or ([cam["last_ts"]] if cam["last_ts"] is not None else [])
            state, interval = liveness(recent, at)
            tiles.append({**cam, **act, "state": state, "interval": interval,
                          "age": at - recent[-1] if recent else None,
                          "invalid_ratio": act["invalid"] / act["frames"] if act["frames"] else 0.0})
        return tiles

    # ------------------------------------------------------------------ reports
    def report(self, who: Principal, since: int | None = None, until: int | None = None) -> dict[str, Any]:
        """Events per camera and per day, precision per rule and camera, events per day and hour."""
        from vigil.index.reports import hourly

        _require(who, "read")
        return {"per_camera": self.event_counts(who, "camera", since, until),
                "daily": self.daily_events(who, since, until),
                "precision_rule": self.precision(who, "rule", since, until),
                "precision_camera": self.precision(who, "camera", since, until),
                "hourly": hourly(self.store, who, since, until)}

    def events_csv(self, who: Principal, query: EventQuery) -> Iterator[str]:
        """Every event matching ``query`` as CSV lines (header first), paged through the index."""
        buf = io.StringIO()
        out = csv.writer(buf)

        def line(row: Any) -> str:
            buf.seek(0)
            buf.truncate()
            out.writerow(row)
            return buf.getvalue()

        yield line(CSV_COLUMNS)
        page_query = replace(query, limit=1000, cursor=None)
        while True:
            page = self.events(who, page_query)
            for e in page.events:
                fb = e.get("feedback") or {}
                objects = e.get("objects", [])
                yield line((e["event_id"], e["ts"], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e["ts"])),
                            e["camera"], e.get("tenant") or "", e["rule_id"], e["severity"],
                            " ".join(sorted({str(o["label"]) for o in objects})),
                            max((float(o["score"]) for o in objects), default=0.0),
                            bool(fb.get("reviewed")), fb.get("verdict") or ""))
            if page.next_cursor is None:
                return
            page_query = replace(page_query, cursor=page.next_cursor)

    # ------------------------------------------------------------------ rules
    def rules_page(self, who: Principal) -> dict[str, Any]:
        """The rules in force for the caller, and the same rules as YAML text to start a back-test from."""
        import yaml

        current = self.rules(who)
        doc = {"version": 1, "timezone": current["timezone"], "rules": current["rules"]}
        return {**current, "text": yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)}

    def backtest(self, who: Principal, text: str, since: int | None = None, until: int | None = None
                 ) -> dict[str, Any]:
        """The events rule-file ``text`` would have raised on the caller's cameras' stored detections in
        ``[since, until)``, beside what the rules in force raised there (per rule). Nothing is sent or
        written. ``SpecError`` names what is wrong in the text."""
        _require(who, "read")
        would = self.rules_test_text(text, "the back-test rules", since=since, until=until,
                                     cameras=who.sees_camera)
        current = self.event_counts(who, "rule", since, until)
        by_rule = Counter(str(e["rule_id"]) for e in would)
        return {"events": would[:200], "total": len(would), "by_rule": dict(sorted(by_rule.items())),
                "current_by_rule": current, "current_total": sum(current.values())}

    # ------------------------------------------------------------------ system
    def system(self, who: Principal) -> dict[str, Any]:
        """Pipelines and recent jobs, the outbox by state, dead deliveries, storage, versions (tokens of every
        tenant only: this is the whole site)."""
        from vigil.index.reports import storage
        from vigil.store.migrations import HEAD

        store = self._tools(who)
        return {"pipelines": self.pipelines(who), "jobs": [j.to_dict() for j in self.jobs(who, None, 20)],
                "outbox": self.alert_counts(), "dead": self.alerts.deliveries("dead", 50), "storage": storage(store),
                "versions": {"vigil": __version__, "schema": HEAD, "python": platform.python_version()}}

    def retry_delivery(self, who: Principal, ident: str) -> int:
        """Queue a dead (or failed) delivery again; returns how many were queued."""
        self._tools(who, "write")
        return self.alerts.retry(ident)


def _require(who: Principal, action: Action) -> None:
    if not who.can(action):
        raise ForbiddenError(f"a {who.role} token cannot {action}", "use a token whose role allows it")


__all__ = ["CSV_COLUMNS", "DashboardAPI"]
