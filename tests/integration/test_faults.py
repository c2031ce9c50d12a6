"""Issue 18, item 5: peers that hang or vanish, and files cut short, through the real runtime.

- a Ray head that is not running: ``openlfr run --ray-address`` fails within seconds (``ray_unreachable``);
- an HTTP or RTSP peer that accepts the connection and never answers: the camera says so
  (``no answer within Ns``), counts it (``source_timeouts``) and retries, then fails after ``max_retries``;
- an mp4 cut short whose index is at its start: an error (``truncated``), not an end of file.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from openlfr.engine.live import index_in_memory
from openlfr.engine.pipeline import EngineConfig, FaceEngine
from openlfr.runtime.events import EventBus
from openlfr.runtime.workers import CameraSpec, LiveRunner, RunInputs

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
FACES = REPO / "tests" / "data" / "faces"
CFG = EngineConfig(detector="dlib-hog", detector_options={"upsample": 0, "min_face_px": 40})


@pytest.fixture(scope="module")
def engine_index() -> tuple[FaceEngine, Any]:
    engine = FaceEngine.from_config(CFG)
    listed = np.asarray(Image.open(FACES / "Al_Gore" / "Al_Gore_0001.jpg").convert("RGB"))
    index, _ = index_in_memory(engine, {"Al_Gore": [listed]})
    return engine, index


@contextlib.contextmanager
def _silent_server(host: str) -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP server on ``host`` that accepts every connection and never sends a byte (accepted sockets listed)."""
    srv = socket.socket()
    srv.bind((host, 0))
    srv.listen(64)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    try:
        yield int(srv.getsockname()[1]), conns
    finally:
        stop.set()
        th.join(5)
        for c in conns:
            c.close()
        srv.close()


@pytest.fixture
def silent_peer() -> Iterator[int]:
    """A TCP server that accepts every connection and never sends a byte."""
    with _silent_server("127.0.0.1") as (port, _conns):
        yield port


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(engine_index: tuple[FaceEngine, Any], spec: CameraSpec, max_seconds: float) -> dict[str, Any]:
    engine, index = engine_index
    runner = LiveRunner(RunInputs([spec], CFG, index, 0.99), EventBus(), mode="thread", engine=engine)
    t0 = time.monotonic()
    out = runner.run(max_seconds=max_seconds).to_dict()
    out["wall_s"] = time.monotonic() - t0
    return out


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_a_peer_that_never_answers_is_named_counted_and_retried(
    engine_index: Any, silent_peer: int, scheme: str
) -> None:
    url = f"{scheme}://user:pw@127.0.0.1:{silent_peer}/live" + (".mjpg" if scheme == "http" else "")
    spec = CameraSpec(
        name="gate",
        url=url,
        open_timeout_s=1.5,
        read_timeout_s=1.5,
        backoff_base_s=0.1,
        backoff_max_s=0.2,
        max_retries=2,
    )
    out = _run(engine_index, spec, max_seconds=60)
    cam = out["cameras"]["gate"]
    assert cam["state"] == "failed", cam
    assert "no answer within" in cam["detail"] and "gave up after 2 retries" in cam["detail"], cam
    assert "pw" not in cam["detail"] and "Invalid data" not in cam["detail"], cam
    assert cam["counters"]["source_timeouts"] == 3 and cam["counters"]["source_failures"] == 3, cam
    assert out["wall_s"] < 30


def test_a_truncated_mp4_is_an_error(engine_index: Any, cli: Any, tmp_path: Path) -> None:
    import av

    video = tmp_path / "walk.mp4"
    p = cli(
        "synth",
        "walkthrough",
        "--images",
        str(FACES),
        "--out",
        str(video),
        "--truth",
        str(tmp_path / "t.json"),
        "--people",
        "3",
        "--watchlisted",
        "0",
        "--size",
        "320x240",
        "--fps",
        "8",
        "--seed",
        "2",
        "--enrol-images",
        "1",
        "--pass-images",
        "2",
    )
    assert p.returncode == 0, p.stderr
    fast = tmp_path / "fast.mp4"  # the index (moov) at the start, as a streaming-friendly mp4 has it
    with av.open(str(video)) as inp, av.open(str(fast), "w", options={"movflags": "faststart"}) as out:
        ost = out.add_stream_from_template(inp.streams.video[0])
        for pkt in inp.demux(inp.streams.video[0]):
            if pkt.dts is not None:
                pkt.stream = ost
                out.mux(pkt)
    data = fast.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    whole = _run(engine_index, CameraSpec(name="c", url=str(fast)), max_seconds=120)["cameras"]["c"]
    assert whole["state"] == "ended" and whole["detail"] == "end of file", whole
    short = _run(engine_index, CameraSpec(name="c", url=str(cut)), max_seconds=120)["cameras"]["c"]
    assert short["state"] == "failed" and "truncated" in short["detail"], short
    assert 0 < short["counters"]["frames_analysed"] < whole["counters"]["frames_analysed"]


def test_run_with_a_dead_ray_head_fails_fast(data_dir: Path, cli: Any) -> None:
    pytest.importorskip("ray")
    _one_person_list(cli)
    t0 = time.monotonic()
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "openlfr",
            "run",
            "--watchlist",
            "wl",
            "--source",
            str(FACES / "Al_Gore" / "Al_Gore_0001.jpg"),
            "--ray-address",
            f"127.0.0.1:{_free_port()}",
            "--max-seconds",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - t0
    assert p.returncode != 0 and "ray_unreachable" in p.stderr, p.stderr[-2000:]
    assert took < 30, took


@pytest.fixture
def silent_head() -> Iterator[tuple[int, list[socket.socket]]]:
    """A 'Ray head' that accepts TCP connections and never answers (the accepted sockets are listed). On every
    address: ``ray.init`` replaces 127.0.0.1 by this node's own address before it connects."""
    with _silent_server("0.0.0.0") as head:  # see above; an ephemeral port for the test's duration
        yield head


def _one_person_list(cli: Any) -> None:
    assert cli("init").returncode == 0
    assert cli("watchlist", "create", "wl").returncode == 0
    assert (
        cli(
            "watchlist", "add", "wl", "--person", "p1", "--image", str(FACES / "Al_Gore" / "Al_Gore_0001.jpg")
        ).returncode
        == 0
    )


def _ray_run(port: int, init_timeout_s: float) -> subprocess.Popen[str]:
    import os

    env = {**os.environ, "OPENLFR_RAY_INIT_TIMEOUT_S": str(init_timeout_s)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openlfr",
            "run",
            "--watchlist",
            "wl",
            "--source",
            str(FACES / "Al_Gore" / "Al_Gore_0001.jpg"),
            "--ray-address",
            f"127.0.0.1:{port}",
            "--max-seconds",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _until_ray_init_connects(proc: subprocess.Popen[str], conns: list[socket.socket]) -> float:
    """Waits until ray.init has connected (the probe's connection is the first); returns when."""
    deadline = time.monotonic() + 120
    while len(conns) < 2:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "ray.init never connected"
        time.sleep(0.05)
    return time.monotonic()


def test_run_with_a_head_that_accepts_and_never_answers_times_out(
    data_dir: Path, cli: Any, silent_head: tuple[int, list[Any]]
) -> None:
    pytest.importorskip("ray")
    port, conns = silent_head
    _one_person_list(cli)
    proc = _ray_run(port, 6)
    try:
        t0 = _until_ray_init_connects(proc, conns)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, err[-2000:]
    assert "ray_unreachable" in err and "accepted the connection but ray.init did not complete within 6s" in err, err[
        -2000:
    ]
    assert took < 6 + 15, took  # the deadline, plus the exit


def test_sigterm_while_ray_init_hangs_ends_the_run_promptly(
    data_dir: Path, cli: Any, silent_head: tuple[int, list[Any]]
) -> None:
    import signal

    pytest.importorskip("ray")
    port, conns = silent_head
    _one_person_list(cli)
    proc = _ray_run(port, 600)
    try:
        _until_ray_init_connects(proc, conns)
        time.sleep(1.0)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and "ray_unreachable" in err and "stopped after" in err, err[-2000:]
    assert took < 15, took
