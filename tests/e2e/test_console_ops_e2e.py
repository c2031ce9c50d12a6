"""Issue 14 in Debian's Chromium against a real ``openlfr serve``: the public transparency page
and feed (no login, no images), the one-photo check and retrospective search pages.

One real deployment is run first through the public API on a real clip (enrolment, authorisation,
live run to the end of the file, an adjudication, ending), so every figure shown comes from the
engine and the database.
"""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import TEST_DATA, VIDEOS
from tests.e2e.conftest import Server, login, password

pytestmark = [pytest.mark.e2e, pytest.mark.shared_data, pytest.mark.slow]

CLIP = VIDEOS / "intel_asl_thanks.mkv"


def _frames(path: Path, indices: tuple[int, ...]) -> list[bytes]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    out, i = [], 0
    while len(out) < len(indices):
        ok, frame = cap.read()
        if not ok:
            break
        if i in indices:
            ok, buf = cv2.imencode(".jpg", frame)
            out.append(buf.tobytes())
        i += 1
    cap.release()
    return out


def _shot(page: Any, shots: Path, name: str) -> None:
    page.wait_for_timeout(300)
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


class Api:
    """A logged-in console session spoken to over HTTP (cookie + CSRF header), as the console's JS does."""

    def __init__(self, server: Server, role: str) -> None:
        import httpx

        self.c = httpx.Client(base_url=server.url, timeout=120)
        r = self.c.post("/api/auth/login", json={"username": role, "password": password(role)})
        assert r.status_code == 200, r.text
        self.c.headers["X-CSRF-Token"] = r.json()["csrf_token"]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.c, name)


@pytest.fixture(scope="module")
def ended_deployment(server: Server) -> dict[str, Any]:
    """A deployment run for real on the clip and ended, with its one alert adjudicated false."""
    if not CLIP.is_file():
        pytest.skip(f"test clip not found: {CLIP}")
    sup, op = Api(server, "supervisor"), Api(server, "operator")
    assert sup.post("/api/watchlists", json={"name": "standing"}).status_code == 201
    f1, f2 = _frames(CLIP, (0, 40))
    r = sup.post("/api/watchlists/standing/entries", data={"person_id": "asl_signer", "category": "wanted"},
                 files=[("files", ("a.jpg", f1, "image/jpeg")), ("files", ("b.jpg", f2, "image/jpeg"))])
    assert r.status_code == 200 and r.json()["accepted_images"] == 2, r.text
    now = datetime.now(UTC)
    r = op.post("/api/deployments", json={
        "location": "=Market Square, Romford", "purpose": "Locate people wanted on warrant (e2e)",
        "legal_basis": "Common law policing powers", "planned_start": (now - timedelta(minutes=1)).isoformat(),
        "planned_end": (now + timedelta(hours=2)).isoformat(), "source_watchlist": "standing",
        "all_entries_reason": "wanted on warrant", "cameras": [{"name": "cam1", "url": str(CLIP)}]})
    assert r.status_code == 201, r.text
    dep = r.json()["id"]
    assert sup.post(f"/api/deployments/{dep}/authorise", json={"officer": "Supt A. Example"}).status_code == 200
    assert sup.post(f"/api/deployments/{dep}/start").status_code == 200
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        cams = [c for c in sup.get("/api/cameras").json()["data"] if c["deployment_id"] == dep]
        if cams and all(c["state"] == "ended" for c in cams):
            break
        time.sleep(1)
    else:
        raise AssertionError(f"the clip did not end: {cams}")
    alerts = op.get(f"/api/alerts?deployment_id={dep}").json()["data"]
    assert alerts, "the clip raised no alert"
    r = op.post(f"/api/alerts/{alerts[0]['id']}/adjudicate", json={"verdict": "false", "note": "e2e"})
    assert r.status_code == 200, r.text
    assert sup.post(f"/api/deployments/{dep}/stop").status_code == 200
    # a second deployment, authorised but never ended: must not appear in public
    r = op.post("/api/deployments", json={
        "location": "Secret Street (not ended)", "purpose": "still planned",
        "planned_start": (now + timedelta(hours=1)).isoformat(), "planned_end": (now + timedelta(hours=3)).isoformat(),
        "source_watchlist": "standing", "all_entries_reason": "x", "cameras": [{"name": "c", "url": str(CLIP)}]})
    assert r.status_code == 201, r.text
    rep = sup.get(f"/api/reports/deployments/{dep}").json()
    return {"id": dep, "report": rep["deployments"][0], "alerts": len(alerts)}


def test_transparency_page_and_feed(server: Server, browser: Any, shots: Path,
                                    ended_deployment: dict[str, Any]) -> None:
    import httpx

    dep, row = ended_deployment["id"], ended_deployment["report"]
    assert row["false_alerts"] == 1 and row["faces_seen"] >= 1
    # the feed, without any credentials
    feed = httpx.get(server.url + "/api/public/deployments", timeout=30)
    assert feed.status_code == 200, feed.text
    data = feed.json()
    assert [d["id"] for d in data["deployments"]] == [dep]  # only the ended one
    d = data["deployments"][0]
    for k in ("location", "purpose", "started_at", "ended_at", "watchlist_size", "faces_seen", "alerts",
              "false_alerts"):
        assert d[k] == row[k], k
    assert d["false_alerts_per_face_ci"] == row["false_alerts_per_face_ci"]
    assert d["share_of_alerts_wrong"] == pytest.approx(row["share_of_alerts_wrong"])
    lo, hi = d["share_of_alerts_wrong_ci"]
    assert 0 < lo <= d["share_of_alerts_wrong"] <= hi <= 1
    text = feed.text
    for secret in ("asl_signer", "Supt A. Example", "standing", str(CLIP), "authorising_officer", "cam1"):
        assert secret not in text, secret
    c = httpx.get(server.url + "/api/public/deployments.csv", timeout=30)
    assert c.status_code == 200 and c.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(c.text)))
    assert len(rows) == 1 and int(rows[0]["id"]) == dep and int(rows[0]["false_alerts"]) == 1
    assert rows[0]["location"] == "'=Market Square, Romford"  # never a formula in a spreadsheet
    assert float(rows[0]["false_alerts_per_face_ci_high"]) == pytest.approx(d["false_alerts_per_face_ci"][1])

    # the page, in a browser that never logged in: no image of any kind, no login redirect
    ctx = browser.new_context(viewport={"width": 1360, "height": 860})
    page = ctx.new_page()
    images: list[str] = []
    page.on("response", lambda r: images.append(r.url) if r.headers.get("content-type", "").startswith("image/")
            else None)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    resp = page.goto(server.url + "/transparency")
    assert resp.status == 200 and page.url.endswith("/transparency")
    page.wait_for_load_state("networkidle")
    tr = page.locator(f"#pub-deployments tbody tr[data-id='{dep}']")
    cells = tr.locator("td").all_inner_texts()
    assert "=Market Square, Romford" in cells[1]
    assert "Locate people wanted on warrant" in cells[3]
    assert cells[5] == f"{row['faces_seen']:,}" and cells[7] == "1"
    assert "95% CI" in cells[8] and "95% CI" in cells[9]
    assert "Secret Street" not in page.content()
    assert page.locator("img").count() == 0 and not images
    assert not violations, violations
    _shot(page, shots, "transparency")
    ctx.close()
