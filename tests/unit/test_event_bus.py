"""The live run's event bus (runtime/events.py) and the dispatcher that feeds it (runtime/dispatch.py)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import pytest

from openlfr.engine.live import AlertEvent
from openlfr.runtime.dispatch import Dispatcher
from openlfr.runtime.events import AlertRaised, CameraState, Counters, EventBus, PreviewFrame, SourceState
from openlfr.runtime.messages import AlertMsg, CountEvent, PreviewMsg, StateEvent, WorkerDone
from openlfr.types import AlertRecord


def test_a_subscriber_that_raises_does_not_block_the_others(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    got: list[str] = []

    def broken(ev: CameraState) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(CameraState, lambda ev: got.append(f"first:{ev.camera}"))
    bus.subscribe(CameraState, broken)
    bus.subscribe(CameraState, lambda ev: got.append(f"last:{ev.camera}"))
    with caplog.at_level(logging.ERROR, logger="openlfr.runtime.events"):
        bus.publish(CameraState("door", SourceState.LIVE))  # does not raise
        bus.publish(CameraState("gate", SourceState.LIVE))
    assert got == ["first:door", "last:door", "first:gate", "last:gate"]
    failures = [r for r in caplog.records if "subscriber bug" in str(r.exc_info[1] if r.exc_info else "")]
    assert len(failures) == 2 and "CameraState" in failures[0].getMessage()


def test_subscribers_get_only_their_type_and_can_unsubscribe() -> None:
    bus = EventBus()
    states: list[CameraState] = []
    previews: list[PreviewFrame] = []
    stop_states = bus.subscribe(CameraState, states.append)
    bus.subscribe(PreviewFrame, previews.append)
    assert bus.wants(PreviewFrame) and not bus.wants(Counters)
    bus.publish(CameraState("door", SourceState.CONNECTING))
    bus.publish(PreviewFrame("door", b"\xff\xd8\xff", 1.0))
    bus.publish(Counters("door", {"faces_seen": 1}))  # nobody listens: dropped
    stop_states()
    bus.publish(CameraState("door", SourceState.LIVE))
    assert [s.state for s in states] == [SourceState.CONNECTING]
    assert [p.jpeg for p in previews] == [b"\xff\xd8\xff"]
    assert not bus.wants(CameraState)


def test_publish_from_many_threads_reaches_every_subscriber_once() -> None:
    bus = EventBus()
    seen: list[int] = []
    lock = threading.Lock()

    def add(ev: Counters) -> None:
        with lock:
            seen.append(ev.deltas["n"])

    bus.subscribe(Counters, add)

    def pump(base: int) -> None:
        for i in range(200):
            bus.publish(Counters("c", {"n": base + i}))
            if i == 100:  # subscribing meanwhile does not disturb delivery
                bus.subscribe(CameraState, lambda ev: None)

    threads = [threading.Thread(target=pump, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == sorted(k * 1000 + i for k in range(4) for i in range(200))


def _alert(alert_id: str) -> AlertEvent:
    rec = AlertRecord(
        alert_id=alert_id,
        deployment_id=None,
        watchlist_id=1,
        entry_id=1,
        person_id="p1",
        score=0.99,
        threshold=0.9,
        camera="door",
        occurred_at=datetime.now(UTC),
        track_id=3,
        probe_jpeg=b"\xff\xd8",
        frame_jpeg=None,
        box=(0.0, 0.0, 1.0, 1.0),
        models={},
    )
    return AlertEvent(record=rec, name="P One", t=1.5, track_first_t=1.0, shots=2)


def test_the_dispatcher_turns_worker_messages_into_events_and_keeps_the_live_view() -> None:
    bus = EventBus()
    events: list[object] = []
    for kind in (AlertRaised, CameraState, Counters, PreviewFrame):
        bus.subscribe(kind, events.append)
    d = Dispatcher(["door"], bus)
    d.handle(StateEvent("door", SourceState.LIVE, "ok"))
    d.handle(CountEvent("door", {"faces_seen": 2}))
    d.handle(CountEvent("door", {"faces_seen": 1, "alerts": 1}))
    d.handle(AlertMsg("door", _alert("a1")))
    d.handle(PreviewMsg("door", b"jpeg", 2.0))
    assert [type(e).__name__ for e in events] == ["CameraState", "AlertRaised", "PreviewFrame"]
    d.flush()  # counters are summed until a flush
    d.flush()  # nothing new: nothing published
    assert isinstance(events[-1], Counters) and dict(events[-1].deltas) == {"faces_seen": 3, "alerts": 1}
    assert len(events) == 4
    d.handle(WorkerDone("door", SourceState.FAILED, "gone"))
    assert isinstance(events[-1], CameraState) and events[-1].state == SourceState.FAILED
    assert d.alerts == 1 and d.done == {"door"} and d.totals["door"]["faces_seen"] == 3
    assert d.states["door"] == SourceState.FAILED and d.details["door"] == "gone"
    raised = events[1]
    assert isinstance(raised, AlertRaised) and raised.event.record.alert_id == "a1" and raised.received_at > 0
