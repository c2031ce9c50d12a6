"""HTTP MJPEG cameras for real: a loopback MJPEG server (tests/integration/_mjpeg_server.py) that is
down when the worker starts, comes up, is killed and restarted mid-run; the worker retries with
back-off, reconnects and keeps counting (as RTSP does, test_live_rtsp.py)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from _mjpeg_server import MjpegServer

from openlfr.engine.live import LiveConfig, index_in_memory
from openlfr.engine.pipeline import EngineConfig, FaceEngine
from openlfr.engine.sources import open_source
from openlfr.runtime.events import CameraState, EventBus
from openlfr.runtime.sinks import MemorySink, feed
from openlfr.runtime.workers import CameraSpec, LiveRunner, RunInputs, SourceState
from openlfr.services.operating_point import default_threshold

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


def _wait(cond, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mjpeg_worker_retries_and_reconnects(videos: Path) -> None:
    clip = videos / "intel_asl_thanks.mkv"
    engine = FaceEngine.from_config(EngineConfig())
    src = open_source(str(clip))
    for _ in range(20):
        frame = src.read()
    src.close()
    index = index_in_memory(engine, {"signer": [frame.image]})[0]  # type: ignore[union-attr]
    srv = MjpegServer(clip, fps=15, port=_free_port())  # not started: the camera is down at first
    sink = MemorySink()
    bus = EventBus()
    feed(bus, sink)
    states: list[str] = []
    spec = CameraSpec(
        name="gate",
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
    bus.subscribe(CameraState, lambda ev: states.append(f"{ev.state.value}:{ev.detail}"))
    out: dict[str, object] = {}
    th = threading.Thread(target=lambda: out.setdefault("summary", runner.run(max_seconds=90)), daemon=True)
    th.start()
    try:
        time.sleep(2.0)  # several open attempts fail while the camera is down
        assert runner.states["gate"] == SourceState.CONNECTING, (runner.states, states)
        srv.start()
        assert _wait(lambda: runner.totals["gate"]["frames_analysed"] >= 8, 30), ("no frames analysed", states)
        srv.stop()  # the camera dies mid-stream
        assert _wait(lambda: runner.states["gate"] == SourceState.CONNECTING, 10), runner.states
        time.sleep(1.5)  # reconnect attempts fail while it is down
        before = runner.totals["gate"]["frames_analysed"]
        srv.start()  # same port
        assert _wait(lambda: runner.totals["gate"]["frames_analysed"] >= before + 8, 40), "did not resume"
        assert _wait(lambda: runner.states["gate"] == SourceState.LIVE, 5)
    finally:
        runner.stop()
        th.join(60)
        srv.stop()
    counters = out["summary"].cameras["gate"]["counters"]  # type: ignore[attr-defined]
    assert counters["source_reconnects"] >= 1
    assert counters["frames_analysed"] >= before + 8
    assert srv.sessions >= 2
    retries = [s for s in states if s.startswith("connecting:") and "retry in" in s]
    assert len(retries) >= 3  # back-off while down at start and after the crash
    assert states[-1].startswith("stopped")
    assert dict(sink.counters["gate"]) == counters
    assert counters["alerts"] == len(sink.alerts) >= 1
