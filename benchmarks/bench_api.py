"""HTTP API and console push benchmark; prints one JSON object.

1. Alert push latency: alerts go through the same path as a live camera's (the runner receives
   the alert, the alert store commits it with its encrypted images and audit event, the console's
   event stream pushes it) and are timed from the runner receiving each alert to the
   ``EventSource`` event in Debian's Chromium (Playwright) with the alerts page open; p50/p95.
   Without Chromium, an SSE client over HTTP stands in (reported as such).
2. Alert list throughput: requests/s for ``GET /api/alerts?limit=50`` (bearer token) under 50
   concurrent clients on loopback, from a separate process, against one uvicorn worker.

    .venv/bin/python benchmarks/bench_api.py [--alerts 100] [--clients 50] [--seconds 10]

3. ``--live``: analysis isolated from the API (issue 18, item 4). A real ``openlfr serve`` (own data dir,
   a supervisor and an operator, a watchlist of ``--people`` lfw-dev people, a deployment whose file camera
   loops ``short_hamilton_clip.mp4`` at its frame rate); the camera's ``frames_analysed`` counter is read
   from ``GET /api/cameras`` every 0.25 s. Windows alternate: unloaded, loaded, unloaded, ... (``--cycles``
   loaded ones); a loaded window runs ``--workers`` concurrent clients through a console-like mix (alert
   list, deployment status, cameras, audit page, reports, health, metrics, one photo check per 15
   requests) until at least ``--requests`` requests and ``--window`` seconds. Prints unloaded and loaded
   analysed frames/s (means over windows), their ratio (and each loaded window against the unloaded ones
   either side), request p50/p95 per loaded window, errors, and CPU cores used by the camera process and
   the server per window. The server starts in a session of its own (as a service manager starts it). The
   "before" figure: the same command with ``PYTHONPATH=<a worktree of the old commit>/src``.

    .venv/bin/python benchmarks/bench_api.py --live [--workers 10] [--requests 300] [--window 30] [--cycles 2]
        [--detector dlib-hog --embedder fused] [--request-nice 0]

   The load generator runs at nice 10 in a session of its own (it stands in for browsers on other machines).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FACES = REPO / "tests" / "data" / "faces"
CHROMIUM = os.environ.get("OPENLFR_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def load_client(url: str, token: str, clients: int, seconds: float) -> None:
    """Runs in a child process: ``clients`` concurrent loops of GET /api/alerts for ``seconds``."""
    import httpx

    async def main() -> dict[str, Any]:
        lat: list[float] = []
        errors = 0
        stop = time.perf_counter() + seconds
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=30
        ) as c:

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < stop:
                    t0 = time.perf_counter()
                    r = await c.get("/api/alerts?limit=50")
                    if r.status_code == 200:
                        lat.append(time.perf_counter() - t0)
                    else:
                        errors += 1

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(clients)))
            took = time.perf_counter() - t0
        return {
            "requests": len(lat),
            "errors": errors,
            "seconds": round(took, 2),
            "requests_per_s": round(len(lat) / took, 1),
            "latency_ms_p50": round(1000 * pct(lat, 50), 1),
            "latency_ms_p95": round(1000 * pct(lat, 95), 1),
        }

    print(json.dumps(asyncio.run(main())))


# ---------------------------------------------------------------- 3. analysis under API load (--live)

VIDEO = (
    Path(os.environ.get("OPENLFR_SHARED_DIR", REPO.parent / "shared")) / "data" / "videos" / "short_hamilton_clip.mp4"
)
LFW = Path(os.environ.get("OPENLFR_SHARED_DIR", REPO.parent / "shared")) / "data" / "lfw-dev"


class Sampler(threading.Thread):
    """Polls the camera's ``frames_analysed`` counter (``GET /api/cameras``) and notes when it changed."""

    def __init__(self, url: str, cookies: Any) -> None:
        super().__init__(daemon=True)
        import httpx

        self.c = httpx.Client(base_url=url, cookies=cookies, timeout=30)
        self.points: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                cams = self.c.get("/api/cameras").json()["data"]
                n = int(cams[0]["counters"].get("frames_analysed", 0)) if cams else 0
                if not self.points or n != self.points[-1][1]:
                    self.points.append((time.monotonic(), n))
            except Exception:  # a missed sample only widens the window
                pass
            self.stop.wait(0.25)

    def rate(self, t0: float, t1: float) -> float | None:
        """Analysed frames/s between the first and last counter change inside [t0, t1]."""
        pts = [p for p in self.points if t0 <= p[0] <= t1]
        if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
            return None
        return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])


def _requests_mix(dep: int, photo: bytes) -> list[tuple[str, str, dict[str, Any]]]:
    """What a console does while a deployment runs (one round of 15)."""
    today = datetime.now(UTC).date().isoformat()
    return [
        ("GET", "/api/alerts?limit=50", {}),
        ("GET", f"/api/deployments/{dep}", {}),
        ("GET", "/api/cameras", {}),
        ("GET", "/api/audit?limit=50", {}),
        ("GET", f"/api/reports/deployments/{dep}", {}),
        ("GET", "/health", {}),
        ("GET", "/api/deployments", {}),
        ("GET", "/api/alerts?limit=50&offset=0", {}),
        ("GET", f"/api/deployments/{dep}", {}),
        ("GET", "/api/cameras", {}),
        ("GET", f"/api/reports/period?from={today}&to={today}", {}),
        ("GET", "/api/watchlists", {}),
        ("GET", "/api/audit?limit=50&action=deployment.", {}),
        ("GET", "/metrics", {}),
        ("POST", "/api/watchlists/bench/check", {"files": {"image": ("probe.jpg", photo, "image/jpeg")}}),
    ]


def api_load(
    url: str,
    cookies: Any,
    headers: dict[str, str],
    mix: list[tuple[str, str, dict[str, Any]]],
    workers: int,
    min_requests: int,
    min_seconds: float,
) -> dict[str, Any]:
    """``workers`` concurrent clients cycling through ``mix`` until at least ``min_requests`` were made
    and ``min_seconds`` passed."""
    import httpx

    async def main() -> dict[str, Any]:
        lat: list[float] = []
        errors: list[str] = []
        i = 0
        t_start = time.perf_counter()
        limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
        async with httpx.AsyncClient(base_url=url, cookies=cookies, headers=headers, limits=limits, timeout=60) as c:

            async def worker() -> None:
                nonlocal i
                while len(lat) + len(errors) < min_requests or time.perf_counter() - t_start < min_seconds:
                    method, path, kw = mix[i % len(mix)]
                    i += 1
                    t0 = time.perf_counter()
                    try:
                        r = await c.request(method, path, **kw)
                        ok = r.status_code < 400
                    except httpx.HTTPError as exc:
                        ok, r = False, exc  # type: ignore[assignment]
                    if ok:
                        lat.append(time.perf_counter() - t0)
                    else:
                        errors.append(f"{method} {path}: {getattr(r, 'status_code', r)}")

            await asyncio.gather(*(worker() for _ in range(workers)))
        took = time.perf_counter() - t_start
        return {
            "requests": len(lat) + len(errors),
            "errors": len(errors),
            "error_samples": errors[:5],
            "seconds": round(took, 1),
            "requests_per_s": round((len(lat) + len(errors)) / took, 1),
            "latency_ms_p50": round(1000 * (pct(lat, 50) or 0), 1),
            "latency_ms_p95": round(1000 * (pct(lat, 95) or 0), 1),
        }

    return asyncio.run(main())


LOAD_NICE = 10


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc), 0 when unknown."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _camera_pids(server_pid: int) -> list[int]:
    out = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            if (
                int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == server_pid
                and b"spawn_main" in (d / "cmdline").read_bytes()
            ):
                out.append(int(d.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def _load_in_child(
    url: str, cookies: dict[str, str], headers: dict[str, str], dep: int, probe: bytes, a: argparse.Namespace
) -> dict[str, Any]:
    """Runs :func:`api_load` in a child process at nice 10 and in a session of its own: the load generator stands
    in for browsers on other machines, so it should not take the camera's CPU on this one (with Linux's autogroup
    scheduling, a process in the server's session would share the server's CPU share). It does not change the
    server's priorities."""
    job = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
    job.write(
        json.dumps(
            {
                "url": url,
                "cookies": cookies,
                "headers": headers,
                "dep": dep,
                "probe": probe.hex(),
                "workers": a.workers,
                "requests": a.requests,
                "window": a.window,
            }
        ).encode()
    )
    job.close()
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--live-load-job", job.name],
            capture_output=True,
            text=True,
            timeout=a.window + 600,
            preexec_fn=lambda: os.nice(LOAD_NICE),
            start_new_session=True,
        )
    finally:
        os.unlink(job.name)
    if proc.returncode != 0:
        raise SystemExit("load client failed:\n" + proc.stderr[-2000:])
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _live_load_job(path: str) -> None:
    j = json.loads(Path(path).read_text())
    mix = _requests_mix(j["dep"], bytes.fromhex(j["probe"]))
    print(json.dumps(api_load(j["url"], j["cookies"], j["headers"], mix, j["workers"], j["requests"], j["window"])))


def live_main(a: argparse.Namespace) -> None:
    import httpx

    tmp = Path(tempfile.mkdtemp(prefix="openlfr-bench-api-live-"))
    env = {
        **os.environ,
        "OPENLFR_DATA_DIR": str(tmp / "data"),
        "PYTHONUNBUFFERED": "1",
        "OPENLFR_CAMERA_MEDIA_ROOT": str(VIDEO.parent),
        "OPENLFR_API_LIVE_LOOP_FILES": "true",
    }
    for k in ("OPENLFR_KEY", "OPENLFR_DATABASE_URL"):
        env.pop(k, None)
    if a.detector:
        env["OPENLFR_DETECTOR"] = a.detector
    if a.embedder:
        env["OPENLFR_EMBEDDER"] = a.embedder
    if a.request_nice is not None:
        env["OPENLFR_API_REQUEST_NICE"] = str(a.request_nice)
    cli = [sys.executable, "-m", "openlfr"]
    subprocess.run([*cli, "init"], env=env, check=True, capture_output=True, timeout=300)
    for role in ("supervisor", "operator"):
        subprocess.run(
            [*cli, "user", "create", "--username", role, "--role", role, "--password-stdin"],
            input=f"bench-{role}-password\n",
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log_path = tmp / "serve.log"
    with open(log_path, "w") as fh:
        server = subprocess.Popen(
            [*cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )  # as a service manager starts it
    out: dict[str, Any] = {"mode": "live"}
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("openlfr serve did not start:\n" + log_path.read_text())
            time.sleep(0.3)

        def session(role: str) -> httpx.Client:
            c = httpx.Client(base_url=url, timeout=300)
            r = c.post("/api/auth/login", json={"username": role, "password": f"bench-{role}-password"})
            r.raise_for_status()
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            return c

        sup, op = session("supervisor"), session("operator")
        sup.post("/api/watchlists", json={"name": "bench"}).raise_for_status()
        people = sorted(d for d in LFW.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) >= 2)[: a.people]
        enrolled = 0
        for d in people:
            files = [("files", (f.name, f.read_bytes(), "image/jpeg")) for f in sorted(d.glob("*.jpg"))[:2]]
            r = sup.post("/api/watchlists/bench/entries", data={"person_id": d.name, "name": d.name}, files=files)
            enrolled += int(r.status_code == 200 and r.json().get("accepted_images", 0) > 0)
        probe = sorted(people[0].glob("*.jpg"))[-1].read_bytes()
        now = datetime.now(UTC)
        r = op.post(
            "/api/deployments",
            json={
                "name": "bench",
                "location": "Bench Rd, loopback",
                "purpose": "API load benchmark",
                "legal_basis": "Common law policing powers (benchmark)",
                "planned_start": (now - timedelta(minutes=1)).isoformat(),
                "planned_end": (now + timedelta(hours=2)).isoformat(),
                "source_watchlist": "bench",
                "all_entries_reason": "benchmark",
                "cameras": [{"name": "cam1", "url": str(VIDEO)}],
            },
        )
        r.raise_for_status()
        dep = int(r.json()["id"])
        sup.post(f"/api/deployments/{dep}/authorise", json={"officer": "Supt Bench"}).raise_for_status()
        op.post(f"/api/deployments/{dep}/start").raise_for_status()
        sampler = Sampler(url, sup.cookies)
        sampler.start()
        time.sleep(a.warmup)
        windows: list[dict[str, Any]] = []
        cams_pids = _camera_pids(server.pid)
        for cycle in range(a.cycles * 2 + 1):
            t0 = time.monotonic()
            cpu0 = (sum(_cpu_s(p) for p in cams_pids), _cpu_s(server.pid))
            if cycle % 2 == 0:
                time.sleep(a.window)
                w: dict[str, Any] = {"loaded": False}
            else:
                w = {"loaded": True, **_load_in_child(url, dict(sup.cookies), dict(sup.headers), dep, probe, a)}
            t1 = time.monotonic()
            fps = sampler.rate(t0, t1)
            w["analysed_fps"] = None if fps is None else round(fps, 3)
            w["seconds"] = round(t1 - t0, 1)
            # CPU cores used by the camera process(es) and by the server process (API + runner thread)
            w["camera_cpu_cores"] = round((sum(_cpu_s(p) for p in cams_pids) - cpu0[0]) / (t1 - t0), 2)
            w["server_cpu_cores"] = round((_cpu_s(server.pid) - cpu0[1]) / (t1 - t0), 2)
            w["load_average_1min"] = round(os.getloadavg()[0], 2)
            windows.append(w)
        sampler.stop.set()
        cams = sup.get("/api/cameras").json()["data"]
        op.post(f"/api/deployments/{dep}/stop").raise_for_status()
        unloaded = [w["analysed_fps"] for w in windows if not w["loaded"] and w["analysed_fps"]]
        loaded = [w["analysed_fps"] for w in windows if w["loaded"] and w["analysed_fps"]]
        u = statistics.mean(unloaded) if unloaded else None
        ld = statistics.mean(loaded) if loaded else None
        loads = [w for w in windows if w["loaded"]]
        # each loaded window against the mean of the unloaded windows either side of it (robust to slow
        # changes of the machine's other load, e.g. other programs starting or ending)
        paired = [
            windows[i]["analysed_fps"]
            / statistics.mean((windows[i - 1]["analysed_fps"], windows[i + 1]["analysed_fps"]))
            for i in range(1, len(windows) - 1, 2)
            if windows[i]["analysed_fps"] and windows[i - 1]["analysed_fps"] and windows[i + 1]["analysed_fps"]
        ]
        out.update(
            {
                "video": VIDEO.name,
                "watchlist_people": enrolled,
                "detector": a.detector or "default",
                "embedder": a.embedder or "default",
                "request_nice": "default (10)" if a.request_nice is None else a.request_nice,
                "workers": a.workers,
                "requests_per_loaded_window_at_least": a.requests,
                "window_s": a.window,
                "unloaded_fps": None if u is None else round(u, 3),
                "loaded_fps": None if ld is None else round(ld, 3),
                "loaded_over_unloaded": None if not (u and ld) else round(ld / u, 3),
                "paired_ratios": [round(r, 3) for r in paired],
                "paired_ratio_median": round(statistics.median(paired), 3) if paired else None,
                "requests": sum(w["requests"] for w in loads),
                "errors": sum(w["errors"] for w in loads),
                "request_ms_p50": [w["latency_ms_p50"] for w in loads],
                "request_ms_p95": [w["latency_ms_p95"] for w in loads],
                "windows": windows,
                "camera": {k: cams[0].get(k) for k in ("state", "counters")} if cams else None,
                "load_average_1min": round(os.getloadavg()[0], 2),
                "cpu": os.cpu_count(),
                "load_client_nice": LOAD_NICE,
                "camera_processes": len(cams_pids),
                "pythonpath": os.environ.get("PYTHONPATH"),
                "server": "openlfr serve (1 uvicorn worker, SQLite), file camera looped at its frame rate",
            }
        )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=100)
    ap.add_argument("--gap", type=float, default=0.1, help="Seconds between injected alerts.")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--load-client", nargs=2, metavar=("URL", "TOKEN"), help=argparse.SUPPRESS)
    ap.add_argument(
        "--live",
        action="store_true",
        help="Analysed frames/s of a live deployment in `openlfr serve` "
        "without and with API load (the other options below).",
    )
    ap.add_argument("--workers", type=int, default=10, help="--live: concurrent API clients.")
    ap.add_argument("--requests", type=int, default=300, help="--live: at least this many requests per loaded window.")
    ap.add_argument("--window", type=float, default=30.0, help="--live: seconds per window (at least).")
    ap.add_argument("--cycles", type=int, default=2, help="--live: loaded windows, each between two unloaded ones.")
    ap.add_argument("--warmup", type=float, default=20.0, help="--live: seconds after the start before measuring.")
    ap.add_argument("--people", type=int, default=10, help="--live: people enrolled (lfw-dev).")
    ap.add_argument(
        "--detector",
        help="--live: OPENLFR_DETECTOR of the server (e.g. dlib-hog: ~3 analysed fps, "
        "so the camera needs all the CPU it gets; default: the server's default).",
    )
    ap.add_argument("--embedder", help="--live: OPENLFR_EMBEDDER of the server (e.g. fused).")
    ap.add_argument(
        "--request-nice",
        type=int,
        help="--live: OPENLFR_API_REQUEST_NICE of the server (0: request "
        "threads at the cameras' priority, as before issue 18).",
    )
    ap.add_argument("--live-load-job", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.live_load_job:
        _live_load_job(a.live_load_job)
        return
    if a.live:
        live_main(a)
        return
    if a.load_client:
        load_client(a.load_client[0], a.load_client[1], a.clients, a.seconds)
        return

    import logging

    import uvicorn

    logging.basicConfig(level=logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="openlfr-bench-api-"))
    os.environ["OPENLFR_DATA_DIR"] = str(tmp / "data")
    os.environ.pop("OPENLFR_KEY", None)
    os.environ.pop("OPENLFR_DATABASE_URL", None)
    from openlfr.api.app import create_app
    from openlfr.api.config import load_api_settings
    from openlfr.api.live import Run
    from openlfr.services import deployments, users, watchlists
    from openlfr.services.alerts import StoreAlertSink
    from openlfr.services.watchlists import load_index
    from openlfr.settings import load_settings
    from openlfr.storage.crypto import create_key_file
    from openlfr.storage.db import Database
    from openlfr.types import AlertRecord

    settings = load_settings()
    settings.data_dir.mkdir(parents=True)
    create_key_file(settings.resolved_key_file)
    Database(settings.db_url).upgrade()
    app = create_app(settings, api_settings=load_api_settings(live_mode="thread"))
    st = app.state.openlfr
    ctx = st.ctx
    users.create_user(ctx, "op", "bench-operator-pw", "operator", actor="bench")
    token = users.create_token(ctx, "op", "bench", name="bench").token
    watchlists.create(ctx, "bench", "bench")
    person = sorted(p for p in FACES.iterdir() if p.is_dir())[0]
    photos = sorted(person.glob("*.jpg"))
    watchlists.add_person(ctx, "bench", person.name, [photos[0]], "bench")
    now = datetime.now(UTC)
    dep = deployments.create(
        ctx,
        location="Bench Rd, loopback, port 1",
        purpose="benchmark",
        planned_start=now - timedelta(minutes=1),
        planned_end=now + timedelta(hours=1),
        actor="bench",
        source_watchlist="bench",
        all_entries_reason="bench",
        cameras=[deployments.CameraSpec("cam1", "bench.mp4")],
        threshold=0.5,
        legal_basis="Common law policing powers (benchmark)",
    )
    deployments.authorise(
        ctx,
        dep.id,
        "sup",
        "supervisor",
        "Bench",
        justification="benchmark: synthetic alerts are stored directly; the threshold is unused",
    )
    plan = deployments.mark_live(ctx, dep.id, "bench")
    index, _ = load_index(ctx, plan.watchlist)
    entry = index.entries[0]
    probe = photos[1].read_bytes()
    sink = StoreAlertSink(ctx, plan.deployment_id)
    run = Run(plan.deployment_id)
    st.live.runs[plan.deployment_id] = run

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"

    def inject(n: int) -> None:
        for i in range(n):
            uid = f"bench-{time.time_ns()}-{i}"
            rec = AlertRecord(
                alert_id=uid,
                deployment_id=plan.deployment_id,
                watchlist_id=plan.watchlist_id,
                entry_id=entry.entry_id,
                person_id=entry.person_id,
                score=0.99,
                threshold=plan.threshold,
                camera="cam1",
                occurred_at=datetime.now(UTC),
                track_id=i,
                probe_jpeg=probe,
                frame_jpeg=probe,
                box=(0.0, 0.0, 10.0, 10.0),
                models={},
            )
            received = time.time()  # the runner receives the worker's alert
            sink.store(rec)  # committed, encrypted, audited
            st.live.alert_stored(
                run,
                {
                    "alert_id": uid,
                    "camera": "cam1",
                    "person_id": entry.person_id,
                    "name": entry.name,
                    "score": 0.99,
                    "deployment_id": plan.deployment_id,
                },
                worker_at=received,
            )
            time.sleep(a.gap)

    out: dict[str, Any] = {"alerts_injected": a.alerts}
    lat: list[float] = []
    how = "chromium EventSource (Playwright)"
    if Path(CHROMIUM).exists():
        from playwright.sync_api import sync_playwright

        login = {"username": "op", "password": "bench-operator-pw"}
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            c = b.new_context(bypass_csp=True)
            page = c.new_page()
            page.goto(url + "/login")
            page.fill("input[name=username]", login["username"])
            page.fill("input[name=password]", login["password"])
            page.click("button[type=submit]")
            page.wait_for_url(lambda u: "/login" not in u)
            page.goto(url + "/alerts")
            page.wait_for_function("document.body.dataset.push === 'connected'")
            inject(a.alerts)
            page.wait_for_function(f"(window.__openlfrAlerts || []).length >= {a.alerts}", timeout=60_000)
            got = page.evaluate("window.__openlfrAlerts")
            lat = [g["browser_at"] - g["worker_at"] for g in got]
            b.close()
    else:
        import httpx

        how = "SSE client over HTTP (no Chromium found)"
        got_at: list[float] = []

        def listen() -> None:
            with httpx.stream(
                "GET", url + "/api/events", headers={"Authorization": f"Bearer {token}"}, timeout=None
            ) as r:
                for line in r.iter_lines():
                    if line.startswith("data:") and '"worker_at"' in line:
                        d = json.loads(line[5:])
                        got_at.append(time.time() - d["worker_at"])
                        if len(got_at) >= a.alerts:
                            return

        th = threading.Thread(target=listen, daemon=True)
        th.start()
        time.sleep(1)
        inject(a.alerts)
        th.join(30)
        lat = got_at
    out["push"] = {
        "measured_with": how,
        "samples": len(lat),
        "latency_ms_p50": round(1000 * pct(lat, 50), 2) if lat else None,
        "latency_ms_p95": round(1000 * pct(lat, 95), 2) if lat else None,
        "latency_ms_max": round(1000 * max(lat), 2) if lat else None,
        "latency_ms_mean": round(1000 * statistics.mean(lat), 2) if lat else None,
        "from": "runner receives the alert (before it is stored)",
        "to": "browser EventSource event",
    }
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--load-client",
            url,
            token,
            "--clients",
            str(a.clients),
            "--seconds",
            str(a.seconds),
        ],
        capture_output=True,
        text=True,
        timeout=a.seconds + 120,
    )
    load = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else {"error": proc.stderr[-500:]}
    out["alert_list"] = {
        "endpoint": "GET /api/alerts?limit=50",
        "alerts_in_db": a.alerts,
        "concurrent_clients": a.clients,
        **load,
    }
    proc = subprocess.run(
        [sys.executable, __file__, "--load-client", url, token, "--clients", "1", "--seconds", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode == 0:
        out["alert_list_one_client"] = json.loads(proc.stdout.strip().splitlines()[-1])
    t0 = time.perf_counter()
    from openlfr.services import alerts as alert_service

    for _ in range(10):
        alert_service.list_alerts(ctx, limit=50)
    out["alert_list_service_ms"] = round((time.perf_counter() - t0) * 100, 1)
    out["load_average_1min"] = round(os.getloadavg()[0], 2)
    out["server"] = "uvicorn, 1 worker, SQLite (WAL), loopback; load generator in a separate process"
    out["cpu"] = os.cpu_count()
    server.should_exit = True
    time.sleep(0.5)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
