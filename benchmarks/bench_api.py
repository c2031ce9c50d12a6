"""HTTP API and console push benchmark; prints one JSON object.

1. Alert push latency: alerts go through the same path as a live camera's (the runner receives
   the alert, the alert store commits it with its encrypted images and audit event, the console's
   event stream pushes it) and are timed from the runner receiving each alert to the
   ``EventSource`` event in Debian's Chromium (Playwright) with the alerts page open; p50/p95.
   Without Chromium, an SSE client over HTTP stands in (reported as such).
2. Alert list throughput: requests/s for ``GET /api/alerts?limit=50`` (bearer token) under 50
   concurrent clients on loopback, from a separate process, against one uvicorn worker.

    .venv/bin/python benchmarks/bench_api.py [--alerts 100] [--clients 50] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits,
                                     timeout=30) as c:
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
        return {"requests": len(lat), "errors": errors, "seconds": round(took, 2),
                "requests_per_s": round(len(lat) / took, 1), "latency_ms_p50": round(1000 * pct(lat, 50), 1),
                "latency_ms_p95": round(1000 * pct(lat, 95), 1)}

    print(json.dumps(asyncio.run(main())))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=100)
    ap.add_argument("--gap", type=float, default=0.1, help="Seconds between injected alerts.")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--load-client", nargs=2, metavar=("URL", "TOKEN"), help=argparse.SUPPRESS)
    a = ap.parse_args()
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
    token = users.create_token(ctx, "op", "bench", name="bench")["token"]
    watchlists.create(ctx, "bench", "bench")
    person = sorted(p for p in FACES.iterdir() if p.is_dir())[0]
    photos = sorted(person.glob("*.jpg"))
    watchlists.add_person(ctx, "bench", person.name, [photos[0]], "bench")
    now = datetime.now(UTC)
    dep = deployments.create(ctx, location="Bench Rd, loopback, port 1", purpose="benchmark",
                             planned_start=now - timedelta(minutes=1), planned_end=now + timedelta(hours=1),
                             actor="bench", source_watchlist="bench", all_entries_reason="bench",
                             cameras=[deployments.CameraSpec("cam1", "bench.mp4")], threshold=0.5,
                             legal_basis="Common law policing powers (benchmark)")
    deployments.authorise(ctx, dep["id"], "sup", "supervisor", "Bench",
                          justification="benchmark: synthetic alerts are stored directly; the threshold is unused")
    plan = deployments.mark_live(ctx, dep["id"], "bench")
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
            rec = AlertRecord(alert_id=uid, deployment_id=plan.deployment_id, watchlist_id=plan.watchlist_id,
                              entry_id=entry.entry_id, person_id=entry.person_id, score=0.99,
                              threshold=plan.threshold, camera="cam1", occurred_at=datetime.now(UTC), track_id=i,
                              probe_jpeg=probe, frame_jpeg=probe, box=(0.0, 0.0, 10.0, 10.0), models={})
            run.received[uid] = time.time()          # the runner receives the worker's alert
            sink.store(rec)                          # committed, encrypted, audited
            st.live.alert_stored(run, {"alert_id": uid, "camera": "cam1", "person_id": entry.person_id,
                                       "name": entry.name, "score": 0.99, "deployment_id": plan.deployment_id})
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
            with httpx.stream("GET", url + "/api/events", headers={"Authorization": f"Bearer {token}"},
                              timeout=None) as r:
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
    out["push"] = {"measured_with": how, "samples": len(lat),
                   "latency_ms_p50": round(1000 * pct(lat, 50), 2) if lat else None,
                   "latency_ms_p95": round(1000 * pct(lat, 95), 2) if lat else None,
                   "latency_ms_max": round(1000 * max(lat), 2) if lat else None,
                   "latency_ms_mean": round(1000 * statistics.mean(lat), 2) if lat else None,
                   "from": "runner receives the alert (before it is stored)", "to": "browser EventSource event"}
    proc = subprocess.run([sys.executable, __file__, "--load-client", url, token, "--clients", str(a.clients),
                           "--seconds", str(a.seconds)], capture_output=True, text=True, timeout=a.seconds + 120)
    load = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else {"error": proc.stderr[-500:]}
    out["alert_list"] = {"endpoint": "GET /api/alerts?limit=50", "alerts_in_db": a.alerts,
                         "concurrent_clients": a.clients, **load}
    proc = subprocess.run([sys.executable, __file__, "--load-client", url, token, "--clients", "1",
                           "--seconds", "3"], capture_output=True, text=True, timeout=120)
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
