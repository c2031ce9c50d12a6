"""The one place where camera workers' messages become bus events (both runtimes use it).

:class:`Dispatcher` keeps a run's live view (state, detail and counter totals per camera, alerts so far)
and publishes on the run's :class:`~openlfr.runtime.events.EventBus`: an alert at once
(:class:`AlertRaised`), a state change (:class:`CameraState`), a preview (:class:`PreviewFrame`), ended
tracks (:class:`TracksClosed`); counter deltas are summed and published by :meth:`Dispatcher.flush`
(:class:`Counters`), which the runner calls every ``flush_s`` and when the run ends.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping

from openlfr.runtime.events import AlertRaised, CameraState, Counters, EventBus, PreviewFrame, SourceState, TracksClosed
from openlfr.runtime.messages import AlertMsg, CountEvent, Event, PreviewMsg, StateEvent, TracksEnded, WorkerDone


class Dispatcher:
    def __init__(self, cameras: list[str], bus: EventBus) -> None:
        self.bus = bus
        self.states: dict[str, SourceState] = {c: SourceState.CONNECTING for c in cameras}
        self.details: dict[str, str] = {c: "" for c in cameras}
        self.totals: dict[str, Counter[str]] = {c: Counter() for c in cameras}
        self.alerts = 0
        self.done: set[str] = set()
        """Cameras whose worker is done (sent :class:`WorkerDone`, or was found gone)."""
        self._pending: dict[str, Counter[str]] = {c: Counter() for c in cameras}

    def handle(self, msg: Event) -> None:
        if isinstance(msg, AlertMsg):
            self.alerts += 1
            self.bus.publish(AlertRaised(msg.camera, msg.event, time.time()))
        elif isinstance(msg, CountEvent):
            self.count(msg.camera, msg.deltas)
        elif isinstance(msg, StateEvent):
            self.set_state(msg.camera, msg.state, msg.detail)
        elif isinstance(msg, PreviewMsg):
            self.bus.publish(PreviewFrame(msg.camera, msg.jpeg, msg.t))
        elif isinstance(msg, TracksEnded):
            self.bus.publish(TracksClosed(msg.camera, msg.tracks))
        elif isinstance(msg, WorkerDone):
            self.finish(msg.camera, msg.state, msg.detail)

    def count(self, camera: str, deltas: Mapping[str, int]) -> None:
        self._pending[camera].update(deltas)
        self.totals[camera].update(deltas)

    def set_state(self, camera: str, state: SourceState, detail: str) -> None:
        self.states[camera] = state
        self.details[camera] = detail
        self.bus.publish(CameraState(camera, state, detail))

    def finish(self, camera: str, state: SourceState, detail: str, announce: bool = True) -> None:
        """A camera's worker is done: its final state (announced on the bus when it failed)."""
        self.done.add(camera)
        self.states[camera] = state
        if detail:
            self.details[camera] = detail
        if announce and state == SourceState.FAILED:
            self.bus.publish(CameraState(camera, state, detail))

    def flush(self) -> None:
        """Publish the counter deltas summed since the last flush, one event per camera with any."""
        for cam, c in self._pending.items():
            if c:
                deltas = {k: int(v) for k, v in c.items()}
                c.clear()
                self.bus.publish(Counters(cam, deltas))
