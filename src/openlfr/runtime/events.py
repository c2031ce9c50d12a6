"""What a live run tells the rest of the system: typed events on one bus.

A runner (:class:`openlfr.runtime.workers.LiveRunner` on this machine, the Ray runtime's ``RayRunner``)
turns its camera workers' messages into these events (``runtime/dispatch.py``) and publishes them on the
run's :class:`EventBus`, in the thread that calls ``run``. Whoever needs them subscribes by type: the
alert store (``services.live``: alerts and counters, then :class:`AlertStored`), the console
(``api/live.py``: push, preview tiles, metrics) and ``openlfr run`` (printing). A subscriber that raises
is logged and skipped; the others and the runner go on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from openlfr.engine.live import AlertEvent, TrackSummary

log = logging.getLogger(__name__)


class SourceState(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    STALLED = "stalled"
    FAILED = "failed"
    ENDED = "ended"
    STOPPED = "stopped"


@dataclass(frozen=True)
class AlertRaised:
    """A match at or above threshold reached the runner (not yet stored)."""

    camera: str
    event: AlertEvent
    received_at: float
    """Wall time the runner received it (the console's push latency starts here)."""


@dataclass(frozen=True)
class AlertStored:
    """The run's alert store took the alert (stored, or spooled while the store is down)."""

    camera: str
    event: AlertEvent
    watchlist: str
    received_at: float


@dataclass(frozen=True)
class CameraState:
    camera: str
    state: SourceState
    detail: str = ""


@dataclass(frozen=True)
class Counters:
    """Counter deltas of one camera since its last flush (names from ``runtime.sinks.COUNTER_NAMES``)."""

    camera: str
    deltas: Mapping[str, int]


@dataclass(frozen=True)
class PreviewFrame:
    """A preview JPEG, already pixelated by the worker (every face except an alerted person's, P3)."""

    camera: str
    jpeg: bytes
    t: float


@dataclass(frozen=True)
class TracksClosed:
    """Tracks a camera ended (this machine's runtime only: what survives a track, no image or embedding)."""

    camera: str
    tracks: list[TrackSummary]


@dataclass(frozen=True)
class StoreStatus:
    """The alert store as a run sees it: ``state`` ok | unavailable (spooling on disk) | flushing."""

    deployment_id: int | None
    state: str
    spooled: int
    flushed: int
    pending: int
    unavailable_s: float | None
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment_id": self.deployment_id,
            "state": self.state,
            "spooled": self.spooled,
            "flushed": self.flushed,
            "pending": self.pending,
            "unavailable_s": self.unavailable_s,
            "error": self.error,
        }


E = TypeVar("E")


class EventBus:
    """Thread-safe publish/subscribe by event type. ``publish`` calls the subscribers of the event's type
    in the order they subscribed, in the publishing thread; one that raises is logged and skipped."""

    def __init__(self) -> None:
        self._subs: dict[type, list[Callable[[Any], None]]] = {}
        self._lock = threading.Lock()

    def subscribe(self, kind: type[E], fn: Callable[[E], None]) -> Callable[[], None]:
        """Call ``fn`` with every event of type ``kind``; returns a function that unsubscribes it."""
        with self._lock:
            self._subs.setdefault(kind, []).append(fn)

        def unsubscribe() -> None:
            with self._lock:
                subs = self._subs.get(kind, [])
                if fn in subs:
                    subs.remove(fn)

        return unsubscribe

    def wants(self, kind: type) -> bool:
        """Whether anyone subscribed to ``kind`` (a runner makes previews only when someone shows them)."""
        with self._lock:
            return bool(self._subs.get(kind))

    def publish(self, event: object) -> None:
        with self._lock:
            subs = list(self._subs.get(type(event), ()))
        for fn in subs:
            try:
                fn(event)
            except Exception:
                log.exception("subscriber %s failed on %s", getattr(fn, "__qualname__", fn), type(event).__name__)
