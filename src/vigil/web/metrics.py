"""Prometheus metrics of one server: counters kept in-process (frames, bytes, requests, latencies) and a
collector that reads the site's state (jobs, datums, leases, indexes) from the application once per scrape.

Alert delivery's own metrics (``vigil.alerts.metrics``) are exported too, and the outbox depth (deliveries by
state) is read with the site's state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from vigil.app import App

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class SiteCollector(Collector):
    """Jobs and datums by pipeline and state, lease holders, cameras and events indexed."""

    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[Any]:
        try:
            snap = self.app.status()
        except Exception as exc:  # a scrape must answer even when the database is down
            log.warning("metrics: cannot read the site's state: %s", exc)
            return
        for name, key, text in (("vigil_jobs", "jobs", "Jobs by pipeline and state."),
                                ("vigil_datums", "datums", "Datums (latest record) by pipeline and state.")):
            family = GaugeMetricFamily(name, text, labels=["pipeline", "state"])
            for (pipeline, state), n in sorted(snap[key].items()):
                family.add_metric([pipeline, state], n)
            yield family
        leases = GaugeMetricFamily("vigil_lease_held", "Leases held now (1 per lease and holder).",
                                   labels=["lease", "holder"])
        for lease, holder in snap["leases"]:
            leases.add_metric([lease, holder], 1)
        yield leases
        yield GaugeMetricFamily("vigil_events_indexed", "Events in the events index.", value=snap["events"])
        yield GaugeMetricFamily("vigil_cameras", "Cameras with valid frames.", value=snap["cameras"])
        outbox = GaugeMetricFamily("vigil_alert_outbox", "Alert deliveries in the outbox, by state.", labels=["state"])
        for state, n in sorted(snap.get("outbox", {}).items()):
            outbox.add_metric([state], n)
        yield outbox


class SourcesCollector(Collector):
    """Per live source (``sources:`` of vigil.yaml, labelled by source name and kind: camera names carry
    tenants): frames in and out, reconnects, stalls, errors, restarts, frame rates and the newest frame."""

    COUNTERS = (("frames_in", "Frames a live source received."),
                ("frames_out", "Frames a live source kept (sampled at its fps) and stored."),
                ("committed", "Frames of a live source in a durable commit."),
                ("reconnects", "Reconnects of a live source."),
                ("stalls", "Streams of a live source that went silent or ended."),
                ("errors", "Failed connects, reads and commits of a live source."),
                ("restarts", "Times a live source's thread was restarted after a failure."))

    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[Any]:
        if "live_sources" not in self.app.__dict__:
            return
        rows = self.app.live_sources.stats()
        labels = ["source", "kind"]
        for key, text in self.COUNTERS:
            family = CounterMetricFamily(f"vigil_source_{key}", text, labels=labels)
            for row in rows:
                family.add_metric([row["name"], row["kind"]], row[key])
            yield family
        gauges = (("fps_in", "Frames per second a live source received (last 10 s)."),
                  ("fps_out", "Frames per second a live source kept (last 10 s)."),
                  ("last_frame_timestamp", "When a live source's newest frame arrived (unix time)."),
                  ("up", "1 while a live source is streaming."))
        for key, text in gauges:
            gauge = GaugeMetricFamily(f"vigil_source_{key}", text, labels=labels)
            for row in rows:
                value = {"last_frame_timestamp": row["last_frame"], "up": row["state"] == "streaming"}.get(
                    key, row.get(key))
                if value is not None:
                    gauge.add_metric([row["name"], row["kind"]], float(value))
            yield gauge


class Metrics:
    """The metrics of one server, on their own registry."""

    def __init__(self, app: App) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # No tenant label: /metrics answers without a token, and tenant names are customers' data.
        self.frames = Counter("vigil_frames_ingested", "Frames accepted by camera push.", registry=r)
        self.bytes = Counter("vigil_frame_bytes_ingested", "Bytes of frames accepted by camera push.", registry=r)
        self.push_commits = Counter("vigil_push_commits", "Group commits of pushed frames.", registry=r)
        self.push_batch = Histogram("vigil_push_batch_frames", "Frames per group commit.", registry=r,
                                    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))
        self.ack_seconds = Histogram("vigil_push_ack_seconds", "Camera push: request received to frame durable.",
                                     registry=r, buckets=LATENCY_BUCKETS)
        self.requests = Counter("vigil_http_requests", "HTTP requests by route, method and status.",
                                ["route", "method", "status"], registry=r)
        self.datum_seconds = Histogram("vigil_datum_seconds", "Datum processing time by pipeline (stage).",
                                       ["pipeline"], registry=r, buckets=LATENCY_BUCKETS)
        self.jobs_run = Counter("vigil_jobs_run", "Jobs run by this server's runner, by pipeline and state.",
                                ["pipeline", "state"], registry=r)
        self.runner_alive = Gauge("vigil_runner_alive", "1 while this server's runner thread is running.",
                                  registry=r)
        self.runner_last_pass = Gauge("vigil_runner_last_pass_timestamp", "When the runner last finished a pass.",
                                      registry=r)
        r.register(SiteCollector(app))
        r.register(SourcesCollector(app))
        register_alert_metrics(r)

    def pushed(self, frames: int, size: int, seconds: float) -> None:
        self.frames.inc(frames)
        self.bytes.inc(size)
        self.ack_seconds.observe(seconds)

    def committed(self, frames: int) -> None:
        self.push_commits.inc()
        self.push_batch.observe(frames)

    def runner_pass(self) -> None:
        self.runner_last_pass.set(time.time())


def register_alert_metrics(registry: CollectorRegistry) -> None:
    """Alert delivery's metrics (``vigil.alerts.metrics``: deliveries enqueued by state, attempts by channel and
    outcome, frame-commit-to-alert latency by channel) on this server's registry too."""
    from vigil.alerts import metrics as alert_metrics

    for collector in (alert_metrics.ENQUEUED, alert_metrics.ATTEMPTS, alert_metrics.LATENCY):
        registry.register(collector)


__all__ = ["Metrics", "register_alert_metrics"]
