"""The app factory: one FastAPI application per workspace, with a router per domain.

Pages (the dashboard) are added as more routers on the same app (``extra_routers``), so they share its
authentication, error handling and metrics. ``runner=True`` also runs the pipelines and duties continuously on
a background thread for the app's lifetime (``vigil serve``); ``--no-runner`` replicas only answer requests.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil import __version__
from vigil.app import App
from vigil.pipeline.runner import RunReport
from vigil.web import errors, pages
from vigil.web.auth import TTL as TOKEN_TTL
from vigil.web.auth import TokenCache
from vigil.web.metrics import Metrics
from vigil.web.routes import cameras, events, health, ingest, pipelines, repos, rules, stats, tokens
from vigil.web.runner import BackgroundRunner

log = logging.getLogger(__name__)

ROUTERS: tuple[APIRouter, ...] = (health.router, ingest.router, events.router, cameras.router, stats.router,
                                  repos.router, pipelines.router, rules.router, tokens.router)
MAX_BODY = 32 * 1024 * 1024


def create_app(app: App, *, runner: bool = False, interval: float = 0.5, max_body: int = MAX_BODY,
               extra_routers: Sequence[APIRouter] = (), shutdown_grace: float = 20.0,
               token_ttl: float = TOKEN_TTL) -> FastAPI:
    """The HTTP API over ``app``'s workspace. The caller owns ``app`` until the server stops (then closed)."""
    metrics = Metrics(app)

    @asynccontextmanager
    async def lifespan(web: FastAPI) -> AsyncIterator[None]:
        background = None
        if runner:
            background = BackgroundRunner(app, interval=interval, on_report=_observe(app, metrics),
                                          on_pass=metrics.runner_pass)
            background.start()
            metrics.runner_alive.set(1)
        web.state.runner = background
        if runner:  # sources run beside the runner; API-only replicas must not ingest the same cameras again
            app.live_sources.start()
        app.frame_push.committer.on_commit = lambda _commit, n: metrics.committed(n)
        log.info("vigil %s serving %s (runner %s)", __version__, app.workspace.root, "on" if runner else "off")
        try:
            yield
        finally:
            if background is not None:
                background.stop(shutdown_grace)
                metrics.runner_alive.set(0)
            app.close()
            log.info("stopped: pushed frames flushed, leases handed back")

    web = FastAPI(title="Vigil", version=__version__, lifespan=lifespan,
                  description="Camera push, events, feedback, stats and operations of one Vigil site. "
                              "Authenticate with `Authorization: Bearer TOKEN` (`vigil token create`).")
    web.state.vigil = app
    web.state.metrics = metrics
    web.state.tokens = TokenCache(token_ttl)
    web.state.max_body = max_body
    web.state.runner = None
    errors.install(web)
    for router in (*ROUTERS, *extra_routers):
        web.include_router(router)
    pages.install(web)  # the operator's dashboard under /ui (same auth tokens, via a session cookie)

    web.add_middleware(RequestMetrics, metrics=metrics)
    return web


class RequestMetrics:
    """Counts requests by route template, method and status (a plain ASGI middleware: Starlette's
    ``BaseHTTPMiddleware`` costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(path, scope["method"], str(status)).inc()


def _observe(app: App, metrics: Metrics) -> Callable[[RunReport], None]:
    def on_report(report: RunReport) -> None:
        for job in report.jobs:
            metrics.jobs_run.labels(job.pipeline, job.state).inc()
            for seconds in app.datum_seconds(job.id):
                metrics.datum_seconds.labels(job.pipeline).observe(seconds)
        for name, exc in report.errors.items():
            log.error("pipeline %s failed: %s", name, exc)
    return on_report


__all__ = ["MAX_BODY", "ROUTERS", "create_app"]
