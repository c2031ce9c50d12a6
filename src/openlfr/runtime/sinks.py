"""Where the live pipeline sends what it is allowed to keep: alerts and counters.

The live runtime knows only this protocol; services implement it (e.g. the deployment's alert
store). An ``AlertRecord`` is built only for a match at or above threshold (P1); counters are
the only trace of every other face.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol, runtime_checkable

from openlfr.runtime.events import AlertRaised, Counters, EventBus
from openlfr.types import AlertRecord

COUNTER_NAMES = (
    "frames_analysed",
    "faces_detected",
    "faces_seen",
    "quality_rejected",
    "alerts",
    "queue_drops",
    "source_reconnects",
    "source_failures",
    "source_timeouts",
    "searches",
    "alerts_suppressed",
    "alerts_early",
)
"""Counter names used across the live path. ``faces_seen`` counts tracks (people), not detections."""


@runtime_checkable
class AlertSink(Protocol):
    def submit(self, alert: AlertRecord) -> None:
        """Persist or forward one alert. Must be idempotent on ``alert.alert_id``."""
        ...

    def count(self, camera: str, deltas: dict[str, int]) -> None:
        """Add to the named counters of a camera (names from COUNTER_NAMES)."""
        ...


class MemorySink:
    """Keeps alerts and counters in memory (retrospective search, tests, the CLI's JSON output)."""

    def __init__(self) -> None:
        self.alerts: dict[str, AlertRecord] = {}
        self.counters: dict[str, Counter[str]] = {}

    def submit(self, alert: AlertRecord) -> None:
        self.alerts.setdefault(alert.alert_id, alert)

    def count(self, camera: str, deltas: dict[str, int]) -> None:
        self.counters.setdefault(camera, Counter()).update(deltas)


def feed(bus: EventBus, sink: AlertSink) -> None:
    """Subscribe ``sink`` to a run's bus: each alert to ``submit``, each counter flush to ``count`` (a
    sink that raises is logged by the bus; ``services.live`` stops its runs on a store's refusal instead)."""
    bus.subscribe(AlertRaised, lambda ev: sink.submit(ev.event.record))
    bus.subscribe(Counters, lambda ev: sink.count(ev.camera, dict(ev.deltas)))
