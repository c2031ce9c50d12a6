"""Issue 19, item 4: one operating point figure everywhere for one deployment. The threshold and how
it was chosen, in one text from one formatter (``services.numbers.operating_point_text``, the same
number style as the console's ``fmtThreshold``/``fmtRate``), appear identically on the deployment page
(Chromium), in the deployment API, in the report (JSON and server-rendered HTML), and, once the
deployment has ended, in the public feed and on the public page."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.conftest import TEST_DATA
from tests.e2e.conftest import Api, Server, login
from tests.e2e.test_operator_e2e import Watch

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_one_operating_point_text_everywhere(server: Server, browser: Any) -> None:
    sup, op = Api(server, "supervisor"), Api(server, "operator")
    if sup.get("/api/watchlists/oplist").status_code == 404:
        assert sup.post("/api/watchlists", json={"name": "oplist"}).status_code == 201
    for person in ("Al_Gore", "Adrien_Brody", "Abdullah_Gul"):
        photo = sorted((TEST_DATA / "faces" / person).glob("*.jpg"))[0]
        r = sup.post(
            "/api/watchlists/oplist/entries",
            data={"person_id": person},
            files=[("files", (photo.name, photo.read_bytes(), "image/jpeg"))],
        )
        assert r.status_code == 200, r.text
    now = datetime.now(UTC)
    r = op.post(
        "/api/deployments",
        json={
            "name": "one figure",
            "location": "Market Square, Romford",
            "purpose": "Locate people wanted (e2e)",
            "legal_basis": "Common law policing powers; DPA 2018 s.35",
            "planned_start": (now - timedelta(minutes=1)).isoformat(),
            "planned_end": (now + timedelta(hours=2)).isoformat(),
            "source_watchlist": "oplist",
            "all_entries_reason": "wanted on warrant",
            "cameras": [{"name": "cam", "url": "rtsp://camera.invalid/s"}],
        },
    )
    assert r.status_code == 201, r.text
    dep = int(r.json()["id"])
    assert r.json()["operating_point_text"] is None  # a draft has no threshold yet
    r = sup.post(f"/api/deployments/{dep}/authorise", json={"officer": "Supt A", "target_fpir": 0.0001})
    assert r.status_code == 200, r.text
    text = op.get(f"/api/deployments/{dep}").json()["operating_point_text"]
    assert re.fullmatch(r"\d\.\d{4} \(from target FPIR 0\.01% at 3 people\)", text), text

    # the deployment page shows exactly that
    ctx, page = login(browser, server, "operator")
    watch = Watch(page)
    page.goto(f"{server.url}/deployments/{dep}")
    page.wait_for_selector("#details dt")
    shown = page.evaluate(
        "[...document.querySelectorAll('#details dt')].find(d => d.textContent === 'Threshold')"
        ".nextElementSibling.textContent"
    )
    assert shown == text
    watch.check()
    ctx.close()

    # the report: JSON and HTML
    rep = op.get(f"/api/reports/deployments/{dep}").json()
    assert rep["deployments"][0]["operating_point_text"] == text
    page_html = op.get(f"/api/reports/deployments/{dep}", params={"format": "html"}).text
    assert f"<div>Threshold</div><div>{html.escape(text)}</div>" in page_html
    visible = re.sub(r"<script.*?</script>", "", page_html, flags=re.S)  # (the embedded JSON keeps raw numbers)
    assert "1e-04" not in visible and "0.0001" not in visible  # no other style of the same figure

    # ended: the public feed and page
    assert op.post(f"/api/deployments/{dep}/stop").status_code == 200
    feed = httpx.get(server.url + "/api/public/deployments", timeout=30).json()
    row = next(d for d in feed["deployments"] if d["id"] == dep)
    assert row["operating_point_text"] == text
    pub = httpx.get(server.url + "/transparency", timeout=30).text
    assert f'<td class="op-text">{html.escape(text)}</td>' in pub
