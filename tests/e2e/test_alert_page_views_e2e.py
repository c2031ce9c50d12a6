"""Issue 19, item 4 (thumbnail views aggregated per page view), on the single-alert page, in Debian's
Chromium against a real ``openlfr serve``: opening an alert's review page shows its face images (probe
crop, watchlist photo, context frame) and records ONE audit event for the page view
(``images.view_page``, page "alert", naming the three images), not one ``alert.view_image`` per image;
the page's periodic reloads add none. An image fetched outside the page (no view token) is still
audited on its own. No browser console error or failed request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.conftest import TEST_DATA
from tests.e2e.conftest import Api, Server, login, password
from tests.e2e.test_operator_e2e import Watch

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FACES = TEST_DATA / "faces"


def _events(server: Server, action: str) -> list[dict[str, Any]]:
    return list(Api(server, "admin").get("/api/audit", params={"action": action, "limit": 500}).json()["data"])


def _seed_alert(server: Server) -> str:
    """A deployment drafted and authorised through the API, marked live and given one stored alert (with
    its probe crop, context frame and the matched watchlist photo) through the services, in the server's
    own data dir."""
    from openlfr.services import deployments
    from openlfr.services.alerts import StoreAlertSink
    from openlfr.services.context import AppContext
    from openlfr.services.watchlists import load_index
    from openlfr.settings import load_settings
    from openlfr.types import AlertRecord

    sup, op = Api(server, "supervisor"), Api(server, "operator")
    assert sup.post("/api/watchlists", json={"name": "standing"}).status_code == 201
    photo = sorted((FACES / "Al_Gore").glob("*.jpg"))[0]
    r = sup.post(
        "/api/watchlists/standing/entries",
        data={"person_id": "Al_Gore", "name": "Al Gore"},
        files=[("files", (photo.name, photo.read_bytes(), "image/jpeg"))],
    )
    assert r.status_code == 200, r.text
    now = datetime.now(UTC)
    r = op.post(
        "/api/deployments",
        json={
            "location": "High St, Sutton, outside the station",
            "purpose": "alert page views (e2e)",
            "planned_start": (now - timedelta(minutes=1)).isoformat(),
            "planned_end": (now + timedelta(hours=2)).isoformat(),
            "source_watchlist": "standing",
            "all_entries_reason": "test",
            "threshold": 0.5,
            "legal_basis": "Common law policing powers; force LFR policy v1",
            "cameras": [{"name": "cam1", "url": "rtsp://camera.invalid/clip"}],
        },
    )
    assert r.status_code == 201, r.text
    dep = int(r.json()["id"])
    r = sup.post(
        f"/api/deployments/{dep}/authorise",
        json={
            "officer": "Supt Test",
            "justification": "e2e test: the alert is synthetic, stored at a fixed "
            "threshold outside the safe band on purpose",
        },
    )
    assert r.status_code == 200, r.text
    ctx = AppContext(load_settings(data_dir=server.data_dir, key=None, database_url=None))
    try:
        plan = deployments.mark_live(ctx, dep, "test")
        index, _ = load_index(ctx, plan.watchlist)
        entry = index.entries[0]
        probe = sorted((FACES / "Al_Gore").glob("*.jpg"))[1].read_bytes()
        rec = AlertRecord(
            alert_id="e2e-page-views-1",
            deployment_id=dep,
            watchlist_id=plan.watchlist_id,
            entry_id=entry.entry_id,
            person_id=entry.person_id,
            score=0.97,
            threshold=plan.threshold,
            camera="cam1",
            occurred_at=now,
            track_id=1,
            probe_jpeg=probe,
            frame_jpeg=probe,
            box=(1.0, 2.0, 30.0, 40.0),
            models={},
        )
        return str(StoreAlertSink(ctx, dep).store(rec))
    finally:
        ctx.close()


def test_alert_page_is_one_audited_page_view(server: Server, browser: Any) -> None:
    alert_id = _seed_alert(server)
    assert _events(server, "alert.view_image") == []
    ctx, page = login(browser, server, "operator")
    watch = Watch(page)
    page.goto(f"{server.url}/alerts/{alert_id}")
    page.wait_for_function(
        "['probe', 'reference', 'frame'].every(k => { const i = document.getElementById(k); "
        "return i && i.complete && i.naturalWidth > 0; })",
        timeout=30_000,
    )
    page.wait_for_timeout(500)
    assert _events(server, "alert.view_image") == []  # no event per image
    # (the alert list the operator lands on after login declares its own page view: page "alerts")
    views = [v for v in _events(server, "images.view_page") if v["details"].get("page") == "alert"]
    assert len(views) == 1, views
    d = views[0]["details"]
    assert d["page"] == "alert" and d["images"] == 3, d
    assert sorted(d["objects"]) == sorted(f"alert {alert_id} {k}" for k in ("frame", "probe", "reference"))
    assert views[0]["actor"] == "operator"
    watch.check()
    ctx.close()
    # an image fetched outside a page view is still audited on its own
    c = httpx.Client(base_url=server.url)
    assert c.post("/api/auth/login", json={"username": "operator", "password": password("operator")}).status_code == 200
    assert c.get(f"/api/alerts/{alert_id}/images/probe").status_code == 200
    assert len(_events(server, "alert.view_image")) == 1
