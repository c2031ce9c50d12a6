"""Issue 18, item 4: under ``openlfr serve`` camera analysis is isolated from the API.

The mechanism, not a speed (``benchmarks/bench_api.py --live`` measures the rates): each camera is its
own process at the server's CPU priority, while the threads that handle requests run niced
(``OPENLFR_API_REQUEST_NICE``). Priorities are read from the kernel (``getpriority`` per thread id).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import TEST_DATA, VIDEOS, stop_serve, wait_healthy

from openlfr.api.live import Launcher, lower_request_priority

CLIP = VIDEOS / "intel_asl_thanks.mkv"
linux_only = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="per-thread priorities: Linux")


def _nice(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


@linux_only
def test_launcher_starts_threads_at_its_own_priority_not_the_callers() -> None:
    base = _nice(threading.get_native_id())
    if base >= 15:
        pytest.skip(f"this test runs at nice {base} already")
    launcher = Launcher()  # made here, at the test's priority, as the server makes it
    seen: dict[str, int] = {}

    def note(key: str) -> None:
        seen[key] = _nice(threading.get_native_id())

    def request_thread() -> None:  # stands in for a niced request thread that starts a deployment
        seen["request"] = lower_request_priority(base + 4)
        direct = threading.Thread(target=note, args=("direct",))
        direct.start()
        direct.join()
        via = threading.Thread(target=note, args=("launched",))
        launcher.start(via)
        via.join()

    t = threading.Thread(target=request_thread)
    t.start()
    t.join()
    assert seen["request"] == base + 4
    assert seen["direct"] == base + 4  # what a runner would get if the request thread started it
    assert seen["launched"] == base  # what it gets from the launcher


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


@linux_only
def test_serve_runs_the_camera_in_its_own_process_and_requests_niced(data_dir: Path, cli: Any) -> None:
    import httpx

    if not CLIP.is_file():
        pytest.skip(f"test clip not found: {CLIP}")
    base = _nice(threading.get_native_id())
    if base >= 10:
        pytest.skip(f"this test runs at nice {base}: the server's request nice (10) would change nothing")
    assert cli("init").returncode == 0
    for role in ("supervisor", "operator"):
        cli(
            "user",
            "create",
            "--username",
            role,
            "--role",
            role,
            "--password-stdin",
            input=f"iso-{role}-pw-123\n",
            check=True,
        )
    port = _free_port()
    env = {**os.environ, "OPENLFR_CAMERA_MEDIA_ROOT": str(VIDEOS), "OPENLFR_API_LIVE_LOOP_FILES": "true"}
    env.pop("OPENLFR_API_REQUEST_NICE", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "openlfr", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # as a service manager starts it (its autogroup is niced)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, 90)
        sess = {}
        for role in ("supervisor", "operator"):
            c = httpx.Client(base_url=url, timeout=120)
            r = c.post("/api/auth/login", json={"username": role, "password": f"iso-{role}-pw-123"})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            sess[role] = c
        sup, op = sess["supervisor"], sess["operator"]
        assert sup.post("/api/watchlists", json={"name": "wanted"}).status_code == 201
        photo = sorted((TEST_DATA / "faces" / "Al_Gore").glob("*.jpg"))[0]
        r = sup.post(
            "/api/watchlists/wanted/entries",
            data={"person_id": "Al_Gore"},
            files=[("files", (photo.name, photo.read_bytes(), "image/jpeg"))],
        )
        assert r.status_code == 200, r.text
        now = datetime.now(UTC)
        r = op.post(
            "/api/deployments",
            json={
                "location": "High St, Sutton",
                "purpose": "isolation test",
                "legal_basis": "Common law policing powers",
                "planned_start": (now - timedelta(minutes=1)).isoformat(),
                "planned_end": (now + timedelta(hours=1)).isoformat(),
                "source_watchlist": "wanted",
                "all_entries_reason": "test",
                "cameras": [{"name": "cam1", "url": str(CLIP)}],
            },
        )
        assert r.status_code == 201, r.text
        dep = r.json()["id"]
        r = sup.post(f"/api/deployments/{dep}/authorise", json={"officer": "Supt A", "target_fpir": 0.0001})
        assert r.status_code == 200, r.text
        assert op.post(f"/api/deployments/{dep}/start").status_code == 200  # from a request thread

        deadline = time.monotonic() + 120
        while True:  # the camera analyses frames
            cams = sup.get("/api/cameras").json()["data"]
            if cams and cams[0]["counters"].get("frames_analysed", 0) > 0:
                break
            assert time.monotonic() < deadline, cams
            time.sleep(0.5)

        # 1. the camera is a separate process, child of the server, at the server's own priority
        kids = [k for k in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()]
        assert len(kids) == 1, kids
        assert kids[0] != proc.pid and _nice(kids[0]) == base
        # ... in a session of its own (where Linux schedules sessions as groups, the server's is niced)
        assert os.getsid(kids[0]) == kids[0] != os.getsid(proc.pid)
        auto = Path(f"/proc/{proc.pid}/autogroup")
        if auto.is_file():
            assert auto.read_text().split()[-1] == "10", auto.read_text()
            assert Path(f"/proc/{kids[0]}/autogroup").read_text().split()[-1] == "0"

        # 2. request handling is niced: the event loop (the main thread) and the worker threads that ran
        # the requests above; the launcher and the deployment's runner thread keep the base priority
        def burst() -> None:
            with httpx.Client(base_url=url, cookies=sup.cookies, timeout=60) as c:
                for _ in range(5):
                    assert c.get("/api/cameras").status_code == 200

        threads = [threading.Thread(target=burst) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        tids = [int(t.name) for t in Path(f"/proc/{proc.pid}/task").iterdir()]
        nices = {tid: _nice(tid) for tid in tids}
        assert nices[proc.pid] == 10, nices
        assert sum(v == 10 for v in nices.values()) >= 3, nices  # the loop and its request worker threads
        assert sum(v == base for v in nices.values()) >= 2, nices  # launcher + runner (+ startup threads)
        assert set(nices.values()) <= {base, 10}, nices

        r = op.post(f"/api/deployments/{dep}/stop")
        assert r.status_code == 200, r.text
    finally:
        stop_serve(proc)
