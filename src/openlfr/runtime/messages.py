"""What a camera worker sends to its runner (picklable: they cross process and Ray boundaries).

The runner's dispatcher (``runtime/dispatch.py``) turns them into the bus events of ``runtime/events.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from openlfr.engine.live import AlertEvent, TrackSummary
from openlfr.runtime.events import SourceState


@dataclass(frozen=True)
class StateEvent:
    camera: str
    state: SourceState
    detail: str = ""
    wall: float = field(default_factory=time.time)


@dataclass(frozen=True)
class CountEvent:
    camera: str
    deltas: dict[str, int]


@dataclass(frozen=True)
class AlertMsg:
    camera: str
    event: AlertEvent


@dataclass(frozen=True)
class TracksEnded:
    camera: str
    tracks: list[TrackSummary]


@dataclass(frozen=True)
class PreviewMsg:
    camera: str
    jpeg: bytes
    t: float


@dataclass(frozen=True)
class WorkerDone:
    camera: str
    state: SourceState
    detail: str = ""


Event = StateEvent | CountEvent | AlertMsg | TracksEnded | PreviewMsg | WorkerDone
Emit = Callable[[Event], None]
