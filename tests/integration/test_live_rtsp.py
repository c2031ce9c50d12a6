"""RTSP for real: a loopback RTSP server (tests/integration/_rtsp_server.py) publishes a clip; the
camera worker connects, the server is killed and restarted mid-run, and the worker reconnects
and keeps counting. Credentials in the URL never reach the logs."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from _rtsp_server import RtspServer

from openlfr.engine.live import LiveConfig, index_in_memory
from openlfr.engine.pipeline import EngineConfig, FaceEngine
from openlfr.engine.sources import open_source
from openlfr.runtime.events import CameraState, EventBus
from openlfr.runtime.sinks import MemorySink, feed
from openlfr.runtime.workers import CameraSpec, LiveRunner, RunInputs, SourceState
from openlfr.services.operating_point import default_threshold

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]
PASSWORD = "s3cret-Pw-41"


def _wait(cond, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return False


def _enrol_from_clip(engine: FaceEngine, clip: Path):  # type: ignore[no-untyped-def]
    src = open_source(str(clip))
    for _ in range(20):
        frame = src.read()
    src.close()
    _h, _w = frame.image.shape[:2]  # type: ignore[union-attr]
    return index_in_memory(engine, {"signer": [frame.image]})[0]  # type: ignore[union-attr]


def test_rtsp_worker_reconnects_after_server_restart(videos: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clip = videos / "intel_asl_thanks.mkv"
    engine = FaceEngine.from_config(EngineConfig())
    index = _enrol_from_clip(engine, clip)
    assert index.size == 1
    srv = RtspServer(clip, user="alice", password=PASSWORD, fps=15).start()
    sink = MemorySink()
    bus = EventBus()
    feed(bus, sink)
    states: list[str] = []
    spec = CameraSpec(
        name="door",
        url=srv.url,
        backoff_base_s=0.2,
        backoff_max_s=1.0,
        read_timeout_s=3.0,
        open_timeout_s=3.0,
        stall_s=2.0,
        live=LiveConfig(analysis_fps=8),
    )
    runner = LiveRunner(
        RunInputs([spec], EngineConfig(), index, default_threshold(engine.embedder)),
        bus,
        mode="thread",
        engine=engine,
        flush_s=0.5,
    )
    bus.subscribe(CameraState, lambda ev: states.append(ev.state.value))
    out: dict[str, object] = {}
    th = threading.Thread(target=lambda: out.setdefault("summary", runner.run(max_seconds=90)), daemon=True)
    th.start()
    try:
        assert _wait(lambda: runner.totals["door"]["frames_analysed"] >= 8, 30), "no frames analysed"
        srv.stop()  # the server dies: the client sees its connection drop
        assert _wait(lambda: runner.states["door"] == SourceState.CONNECTING, 10), runner.states
        time.sleep(1.5)  # reconnect attempts fail while it is down
        before = runner.totals["door"]["frames_analysed"]
        srv.start()  # same port
        assert _wait(lambda: runner.totals["door"]["frames_analysed"] >= before + 8, 40), "did not resume"
        assert _wait(lambda: runner.states["door"] == SourceState.LIVE, 5)
    finally:
        runner.stop()
        th.join(60)
        srv.stop()
    summary = out["summary"]
    counters = summary.cameras["door"]["counters"]  # type: ignore[attr-defined]
    assert counters["source_reconnects"] >= 1
    assert counters["frames_analysed"] >= before + 8
    assert counters.get("live_seconds", 0) >= 1
    assert srv.sessions >= 2
    assert "live" in states and "connecting" in states[states.index("live") :]
    assert states[-1] == "stopped"
    # every counter reached the sink (flushed at stop)
    assert dict(sink.counters["door"]) == counters
    assert counters["alerts"] == len(sink.alerts) >= 1
    assert all(a.person_id == "signer" and a.probe_jpeg[:2] == b"\xff\xd8" for a in sink.alerts.values())
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(summary)
    assert "://***@" in summary.cameras["door"]["source"]  # type: ignore[attr-defined]
