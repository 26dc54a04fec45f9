"""Prometheus metrics of alert delivery (``prometheus_client`` objects on the default registry, so ``vigil serve``
exports them with everything else)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ENQUEUED = Counter("vigil_alerts_enqueued", "Deliveries created by the outbox, by initial state", ["state"])
ATTEMPTS = Counter("vigil_alert_attempts", "Delivery attempts, by channel and outcome (sent, retry, dead, gone)",
                   ["channel", "outcome"])
LATENCY = Histogram("vigil_alert_latency_seconds", "From the frame's commit to the alert handed to the channel",
                    ["channel"], buckets=(0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600))

__all__ = ["ATTEMPTS", "ENQUEUED", "LATENCY"]
