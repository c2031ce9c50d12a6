"""Issue 18, item 3: the real PostgreSQL server the tests start is stopped for 10 s in the middle of an
``openlfr run --deployment`` and started again. The run goes on analysing (alerts and counters go to
the encrypted local spool), flushes the spool when the server is back, and every alert it printed
is stored exactly once."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import stop_serve, wait_healthy
from tests.integration.test_run_restart import _alerts, _deployment, _ok

pytestmark = pytest.mark.slow


def test_postgres_stopped_for_10s_mid_run_loses_nothing(
    cli: Any, data_dir: Path, tmp_path: Path, pg_server: Any, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLFR_DATABASE_URL", pg_url)
    dep = _deployment(cli, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "openlfr", "run", "--deployment", dep, "--json", "--realtime"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    lines: list[str] = []
    outage: dict[str, float] = {}

    def outage_of_10s() -> None:
        outage["stop"] = time.monotonic()
        pg_server.stop()
        time.sleep(10)
        pg_server.start()
        outage["back"] = time.monotonic()

    th = threading.Thread(target=outage_of_10s)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if _alerts(line) and "stop" not in outage and not th.is_alive():
                th.start()  # right after the first stored alert

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the run did not end within 300 s")
        reader.join(10)
    finally:
        if th.is_alive() or "stop" in outage:
            th.join(60)
        if "back" not in outage:
            pg_server.start()
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, err[-3000:]
    assert "back" in outage
    printed = _alerts("".join(lines))
    summary = json.loads(lines[-1])
    assert summary["event"] == "summary" and summary["cameras"]["cam1"]["state"] == "ended", summary
    store = summary["store"]
    print("outage run:", store, "alerts printed:", len(printed))
    assert store["spooled"] >= 2 and store["left_in_spool"] == 0, store  # alerts/counters went through the spool
    assert len(printed) >= 4

    stored = json.loads(_ok(cli("alert", "list", "--deployment", dep, "--json")).stdout)["data"]
    uids = [a["alert_uid"] for a in stored]
    assert len(uids) == len(set(uids)) == len(printed)
    assert set(uids) == {a["alert_id"] for a in printed}
    assert not any((data_dir / "spool").rglob("*.spool"))
    _ok(cli("audit", "verify"))


def _live_deployment(ctx: Any, enrolled_people: list[Any]) -> tuple[dict[str, Any], Any]:
    """A deployment of a standing list of ``enrolled_people``, authorised and marked live: (its summary, its plan)."""
    from tests.integration.conftest import seed_watchlist

    from openlfr.services import deployments as dsvc

    seed_watchlist(ctx, "standing", enrolled_people)
    now = datetime.now(UTC)
    d = dsvc.create(
        ctx,
        location="Mare St, Hackney, by the town hall",
        purpose="spool test",
        planned_start=now - timedelta(minutes=1),
        planned_end=now + timedelta(hours=1),
        actor="c",
        source_watchlist="standing",
        all_entries_reason="op",
        cameras=[dsvc.CameraSpec("cam1", "a.mp4")],
        legal_basis="Common law policing powers; force LFR policy v1",
    )
    dsvc.authorise(ctx, d.id, "sup", "supervisor", "Supt Z", target_fpir=1e-4)
    return d, dsvc.mark_live(ctx, d.id, "op")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_lock_storm_spools_then_stores_and_refusals_are_kept(
    gov_ctx: Any, enrolled_people: list[Any], backend: str
) -> None:
    """A writer holding SQLite's lock past the 10 s busy timeout: submits return at once (spooled),
    nothing is lost, the spool is flushed once the lock is gone; an alert the store refuses for good
    (its deployment ended) is kept aside encrypted, not dropped."""
    import sqlite3

    from sqlalchemy import select
    from tests.integration.conftest import FACES, make_alert

    from openlfr.services import deployments as dsvc
    from openlfr.services.alerts import StoreAlertSink
    from openlfr.services.spool import SpoolingSink, _encode_alert
    from openlfr.storage.models import Counter
    from openlfr.storage.models_gov import Alert

    ctx = gov_ctx
    d, plan = _live_deployment(ctx, enrolled_people)
    probe = (FACES / "Al_Gore" / "Al_Gore_0002.jpg").read_bytes()
    spool = SpoolingSink(ctx, StoreAlertSink(ctx, d.id), d.id, base_s=0.2, max_s=1.0)
    first = make_alert(plan, ctx, "Al_Gore", probe)
    spool.submit(first)  # the store is up: stored directly
    assert spool.spooled == 0

    during = [make_alert(plan, ctx, p, probe) for p in ("Al_Gore", "Adrien_Brody", "Al_Gore")]
    late = make_alert(plan, ctx, "Adrien_Brody", probe)
    locker = sqlite3.connect(ctx.settings.data_dir / "openlfr.db", timeout=1)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.monotonic()
        for a in during:
            spool.submit(a)
        spool.count("cam1", {"faces_seen": 5, "frames_analysed": 50})
        took = time.monotonic() - t0
        assert spool.spooled == 4 and not spool.available and spool.pending == 4
        spooled = b"".join(p.read_bytes() for p in spool.dir.glob("*.spool"))
        assert b"Al_Gore" not in spooled and probe[:400] not in spooled  # encrypted on disk
    finally:
        locker.rollback()
        locker.close()
    print(f"submits during the lock took {took:.1f}s (the first waits out the 10 s busy timeout)")
    assert took < 20, took
    deadline = time.monotonic() + 30
    while spool.pending and time.monotonic() < deadline:
        time.sleep(0.2)
    assert spool.pending == 0 and spool.available
    with ctx.db.session() as s:
        uids = set(s.scalars(select(Alert.alert_uid)))
        seen = s.scalar(
            select(Counter.value).where(
                Counter.scope.like(f"deployment:{d.id}:camera:cam1"), Counter.name == "faces_seen"
            )
        )
    assert uids == {a.alert_id for a in [first, *during]} and seen == 5

    # an alert that waited in the spool while its deployment ended is refused for good: kept aside
    spool.close(timeout_s=5)
    dsvc.mark_ended(ctx, d.id, "op")
    again = SpoolingSink(ctx, StoreAlertSink(ctx, d.id), d.id, base_s=0.2, max_s=1.0)
    with again._lock:  # as a run whose store went down just before the end would have left it
        again._write("alert", _encode_alert(late))
    assert again.close(timeout_s=10) == 0
    assert len(list((again.dir / "rejected").glob("*.spool"))) == 1


def test_serve_shows_the_store_unavailable_while_postgres_is_down(
    cli: Any, data_dir: Path, tmp_path: Path, pg_server: Any, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``openlfr serve``: PostgreSQL stopped while a deployment runs. A console already connected gets a
    ``store`` push (state unavailable: the run spools) and another when it is back; afterwards the live status
    (``GET /api/deployments/{id}`` -> ``live.store``) says ok with everything spooled flushed. With Chromium, the
    Live page (open before the outage) shows the "alert store unavailable" banner, and drops it afterwards."""
    import socket

    import httpx
    from tests.integration.test_run_restart import PW

    monkeypatch.setenv("OPENLFR_DATABASE_URL", pg_url)
    dep = _deployment(cli, tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OPENLFR_CAMERA_MEDIA_ROOT": str(tmp_path), "OPENLFR_API_LIVE_LOOP_FILES": "true"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "openlfr", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    events: list[dict[str, Any]] = []
    stopped = False
    stack = contextlib.ExitStack()
    try:
        wait_healthy(url, proc, 90)
        c = httpx.Client(base_url=url, timeout=60)
        r = c.post("/api/auth/login", json={"username": "sup", "password": PW})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]

        def listen() -> None:  # the console's event stream, open before the outage
            try:
                with httpx.stream("GET", url + "/api/events", cookies=c.cookies, timeout=None) as resp:
                    kind = ""
                    for line in resp.iter_lines():
                        if line.startswith("event:"):
                            kind = line[6:].strip()
                        elif line.startswith("data:") and kind == "store":
                            events.append(json.loads(line[5:]))
            except httpx.HTTPError:
                return  # the server stopped at the end of the test

        threading.Thread(target=listen, daemon=True).start()
        assert c.post(f"/api/deployments/{dep}/start").status_code == 200
        deadline = time.monotonic() + 120
        while True:
            live = c.get(f"/api/deployments/{dep}").json()["live"]
            cams = live["cameras"]
            if cams and cams[0]["counters"].get("frames_analysed", 0) > 0:
                break
            assert time.monotonic() < deadline, live
            time.sleep(0.5)
        assert live["store"]["state"] == "ok" and live["store"]["spooled"] == 0, live["store"]
        assert cams[0]["store"]["state"] == "ok"  # the Live page's view (GET /api/cameras)
        page = _live_page(stack, url, PW)  # the console's Live page in Chromium, when it is installed
        if page is not None:
            assert page.locator("#store-banner").is_hidden()

        pg_server.stop()
        stopped = True
        deadline = time.monotonic() + 60
        while not any(e["state"] == "unavailable" for e in events):
            assert time.monotonic() < deadline, events
            time.sleep(0.2)
        down = next(e for e in events if e["state"] == "unavailable")
        assert down["deployment_id"] == int(dep) and down["error"], down
        if page is not None:
            page.wait_for_selector("#store-banner:not([hidden])", timeout=30_000)
            assert "alert store unavailable" in page.inner_text("#store-banner")
        time.sleep(3)  # counters of a few more seconds go to the spool
        pg_server.start()
        stopped = False
        deadline = time.monotonic() + 60
        while not any(e["state"] in ("ok", "flushing") for e in events[events.index(down) :]):
            assert time.monotonic() < deadline, events
            time.sleep(0.2)
        deadline = time.monotonic() + 60
        while True:  # the API answers again (sessions are in the database) and the spool is written
            try:
                r = c.get(f"/api/deployments/{dep}")
                store = r.json()["live"]["store"] if r.status_code == 200 else None
            except httpx.HTTPError:
                store = None
            if store and store["state"] == "ok" and store["pending"] == 0:
                break
            assert time.monotonic() < deadline, store
            time.sleep(0.5)
        print("store after the outage:", store, "pushed:", [e["state"] for e in events])
        if page is not None:  # the page's refresh reads the status again: the banner goes
            page.wait_for_selector("#store-banner", state="hidden", timeout=30_000)
        assert store["spooled"] >= 1 and store["flushed"] == store["spooled"], store
        assert c.post(f"/api/deployments/{dep}/stop").status_code == 200
    finally:
        stack.close()
        if stopped:
            pg_server.start()
        stop_serve(proc)


def _live_page(stack: contextlib.ExitStack, url: str, password: str) -> Any:
    """The Live page, logged in as ``sup``, in Debian's Chromium (None without Chromium or Playwright)."""
    chromium = os.environ.get("OPENLFR_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    p = stack.enter_context(sync_playwright())
    browser = p.chromium.launch(
        executable_path=chromium, headless=True, args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    )
    stack.callback(browser.close)
    page = browser.new_context(bypass_csp=True).new_page()
    page.goto(url + "/login")
    page.fill("input[name=username]", "sup")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/login" not in u)
    page.goto(url + "/live")
    page.wait_for_selector(".tile")
    return page


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_spooled_counter_delta_flushed_again_after_a_crash_counts_once(
    gov_ctx: Any, enrolled_people: list[Any], backend: str, pg_server: Any
) -> None:
    """The runner dies after the store committed a spooled counter delta but before the spool file was deleted:
    the next run flushes the file again. The delta's batch id (stored with the counters in one transaction)
    makes the second flush a no-op."""
    import shutil

    from sqlalchemy import select

    from openlfr.services.alerts import StoreAlertSink
    from openlfr.services.spool import SpoolingSink
    from openlfr.storage.models import Counter

    ctx = gov_ctx
    d, _plan = _live_deployment(ctx, enrolled_people)

    def seen() -> float | None:
        with ctx.db.session() as s:
            return s.scalar(
                select(Counter.value).where(
                    Counter.scope == f"deployment:{d.id}:camera:cam1", Counter.name == "faces_seen"
                )
            )

    spool = SpoolingSink(ctx, StoreAlertSink(ctx, d.id), d.id, base_s=0.2, max_s=1.0)
    ctx.db.engine.dispose()
    pg_server.stop()
    try:
        spool.count("cam1", {"faces_seen": 7, "frames_analysed": 70})  # the store is down: spooled
        assert spool.pending == 1 and not spool.available
        crash_copy = {p.name: p.read_bytes() for p in spool.dir.glob("*.spool")}
    finally:
        pg_server.start()
    deadline = time.monotonic() + 30
    while spool.pending and time.monotonic() < deadline:
        time.sleep(0.2)
    assert spool.pending == 0 and seen() == 7
    assert spool.close(timeout_s=5) == 0
    # the file as a runner killed between the commit and the unlink leaves it
    for name, blob in crash_copy.items():
        (spool.dir / name).write_bytes(blob)
    again = SpoolingSink(ctx, StoreAlertSink(ctx, d.id), d.id, base_s=0.2, max_s=1.0)
    assert again.close(timeout_s=10) == 0 and again.flushed == 1
    assert seen() == 7  # not 14
    shutil.rmtree(spool.dir, ignore_errors=True)
