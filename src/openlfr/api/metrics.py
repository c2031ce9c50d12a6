"""Prometheus metrics (text format at ``/metrics``, supervisors only).

Live counters (frames analysed, faces seen, quality rejections, queue drops, source reconnects)
are read from the running camera workers at scrape time; alerts, alert latency (a face's first
sighting to its alert), alert push latency (the runner receiving an alert to it being queued for
the console) and HTTP request latency are recorded as they happen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

LIVE_COUNTERS = {
    "frames_analysed": "Frames analysed by the face engine",
    "faces_detected": "Faces detected (before tracking)",
    "faces_seen": "Faces seen (tracks)",
    "quality_rejected": "Faces that failed the quality gate",
    "queue_drops": "Frames dropped by a full camera queue",
    "source_reconnects": "Times a camera source was reconnected",
}


class _LiveCollector(Collector):
    def __init__(self, snapshot: Callable[[], list[dict[str, Any]]]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Any]:
        cams = self.snapshot()
        fams = {
            k: CounterMetricFamily(f"openlfr_{k}", h, labels=["deployment", "camera"]) for k, h in LIVE_COUNTERS.items()
        }
        state = GaugeMetricFamily(
            "openlfr_camera_state", "1 for the camera's current state", labels=["deployment", "camera", "state"]
        )
        for c in cams:
            labels = [str(c["deployment_id"]), c["camera"]]
            for k, fam in fams.items():
                fam.add_metric(labels, float(c["counters"].get(k, 0)))
            state.add_metric([*labels, c["state"]], 1.0)
        yield from fams.values()
        yield state


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("openlfr_http_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.request_seconds = Histogram(
            "openlfr_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.alerts = Counter("openlfr_alerts", "Alerts raised", ["deployment", "camera"], registry=r)
        self.alert_latency = Histogram(
            "openlfr_alert_latency_seconds",
            "Seconds from a face's first sighting to its alert (video time)",
            registry=r,
            buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30),
        )
        self.push_seconds = Histogram(
            "openlfr_alert_push_seconds",
            "Seconds from the runner receiving an alert to its event being written "
            "to a console stream (stored and committed in between)",
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2),
        )
        self.sse_clients = Gauge("openlfr_console_streams", "Open console event streams", registry=r)
        self.live_runs = Gauge("openlfr_live_deployments", "Deployments running in this server", registry=r)
        self.store_unavailable = Gauge(
            "openlfr_store_unavailable",
            "1 while a running deployment cannot reach its alert store (alerts and counters are spooled on disk)",
            ["deployment"],
            registry=r,
        )

    def attach_live(self, snapshot: Callable[[], list[dict[str, Any]]]) -> None:
        self.registry.register(_LiveCollector(snapshot))

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
