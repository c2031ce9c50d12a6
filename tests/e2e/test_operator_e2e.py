"""Issue 19, the operator's experience, in Debian's Chromium against a real ``openlfr serve``:

separation of duties (the supervisor who drafted a deployment cannot authorise it; another can,
with no browser error after authorising); a deployment that ends by itself when its file ends,
its duration in camera time; the Live page's alert rail (cards stay until acknowledged and open the
review), a tile enlarged to full screen, the sound button's truthful state; an HTML 404 page and a
not-found alert page; readable audit details; 390 px wide pages with no horizontal scroll; dark mode.
Every page visited is watched: any browser console error, page error or failed request fails the test.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import VIDEOS
from tests.e2e.conftest import Api, Server, frames_of, login, password, shot

pytestmark = [pytest.mark.e2e, pytest.mark.shared_data, pytest.mark.slow]

CLIP = VIDEOS / "intel_asl_thanks.mkv"
PAGES = (
    "/live",
    "/alerts",
    "/deployments",
    "/watchlists",
    "/check",
    "/retro",
    "/reports",
    "/audit",
    "/evaluation",
    "/account",
)


class Watch:
    """Collects browser console errors, uncaught page errors and failed requests (network errors and
    HTTP >= 400) of a page; ``expected`` URL parts are requests a test provokes on purpose."""

    def __init__(self, page: Any, expected: tuple[str, ...] = ()) -> None:
        self.problems: list[str] = []
        self.expected = expected
        page.on(
            "console",
            lambda m: (
                self._add(f"console {m.type}: {m.text} at {m.location.get('url')}") if m.type == "error" else None
            ),
        )
        page.on("pageerror", lambda e: self._add(f"page error: {e}"))
        # requests cut by leaving the page (push events, MJPEG previews, fetches in flight) are not failures
        page.on(
            "requestfailed",
            lambda r: (
                self._add(f"request failed: {r.method} {r.url} {r.failure}")
                if "ERR_ABORTED" not in str(r.failure)
                else None
            ),
        )
        page.on(
            "response", lambda r: self._add(f"HTTP {r.status}: {r.request.method} {r.url}") if r.status >= 400 else None
        )

    def _add(self, what: str) -> None:
        if not any(x in what for x in self.expected):
            self.problems.append(what)

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)


def _deployment(api: Api, name: str, hours: float = 2.0) -> int:
    now = datetime.now(UTC)
    r = api.post(
        "/api/deployments",
        json={
            "name": name,
            "location": "High St, Sutton, outside the station",
            "purpose": "Locate people wanted (e2e)",
            "legal_basis": "Common law policing powers; DPA 2018 s.35",
            "planned_start": (now - timedelta(minutes=1)).isoformat(),
            "planned_end": (now + timedelta(hours=hours)).isoformat(),
            "source_watchlist": "wanted",
            "all_entries_reason": "wanted on warrant",
            "cameras": [{"name": "bus-stop", "url": str(CLIP)}],
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_operator_experience(server: Server, browser: Any, shots: Path) -> None:
    if not CLIP.is_file():
        pytest.skip(f"test clip not found: {CLIP}")
    sup, op = Api(server, "supervisor"), Api(server, "operator")
    assert sup.post("/api/watchlists", json={"name": "wanted"}).status_code == 201
    f1, f2 = frames_of(CLIP, (0, 40))
    r = sup.post(
        "/api/watchlists/wanted/entries",
        data={"person_id": "asl_signer", "name": "ASL Signer"},
        files=[("files", ("a.jpg", f1, "image/jpeg")), ("files", ("b.jpg", f2, "image/jpeg"))],
    )
    assert r.status_code == 200 and r.json()["accepted_images"] == 2, r.text

    # --- separation of duties: the supervisor's own draft -----------------------------------------
    own = _deployment(sup, "drafted by the supervisor")
    ctx, page = login(browser, server, "supervisor")
    watch = Watch(page, expected=("/no-such-page", "/alerts/9999"))
    page.on("dialog", lambda d: d.accept())
    page.goto(f"{server.url}/deployments/{own}")
    page.wait_for_selector("#sod-note:not([hidden])")
    assert "another supervisor must authorise it" in page.inner_text("#sod-note")
    assert page.locator("#authorise-form").is_hidden()
    refused = page.request.post(
        f"{server.url}/api/deployments/{own}/authorise",
        data={"officer": "Supt A"},
        headers={"X-CSRF-Token": page.get_attribute('meta[name="csrf-token"]', "content")},
    )
    assert refused.status == 403 and refused.json()["error"]["code"] == "self_authorisation"
    watch.problems = [p for p in watch.problems if f"/api/deployments/{own}/authorise" not in p]  # provoked

    # --- an operator's draft: authorised in the console, no browser error afterwards -------------
    dep = _deployment(op, "drafted by the operator")
    live = ctx.new_page()  # the Live page, open before the deployment starts
    live_watch = Watch(live)
    live.goto(server.url + "/live")
    live.wait_for_function("document.body.dataset.push === 'connected'")
    assert live.get_attribute("#sound-toggle", "data-state") == "locked"
    assert live.inner_text("#sound-toggle") == "sound: click to enable"

    page.goto(f"{server.url}/deployments/{dep}")
    page.wait_for_selector("#authorise-form:not([hidden])")
    assert page.locator("#sod-note").is_hidden()
    page.fill("#authorise-form input[name=officer]", "Supt A. Example")
    page.fill("#authorise-form input[name=target_fpir]", "0.0001")
    page.click("#authorise-form button")
    page.wait_for_selector("#dep-state.authorised")
    page.wait_for_timeout(1200)  # the preview timer and the 3 s refresh run after authorising
    thr = page.locator("#details dd").nth(6).inner_text()
    assert re.match(r"^\d\.\d{4} \(", thr), thr  # one number style: thresholds with 4 decimals
    page.click("#start-btn")

    # --- the alert rail on the Live page --------------------------------------------------------
    live.wait_for_selector("#rail-cards .rail-card", timeout=90_000)
    card = live.locator("#rail-cards .rail-card").first
    assert "asl_signer" in card.inner_text() and re.search(r"score \d\.\d{4}", card.inner_text())
    assert live.locator("#toasts .toast").count() == 0  # the rail replaces the vanishing pop-ups here
    live.wait_for_function("[...document.querySelectorAll('.tile img')].some(i => i.naturalWidth > 0)", timeout=30_000)
    shot(live, shots, "live")
    # sound: the first click unlocks it, and only then does the button say "on"
    live.click("#sound-toggle")
    live.wait_for_function("document.getElementById('sound-toggle').dataset.state === 'on'")
    assert live.inner_text("#sound-toggle") == "sound: on"
    live.click("#sound-toggle")
    assert live.get_attribute("#sound-toggle", "data-state") == "off"
    live.click("#sound-toggle")
    live.wait_for_function("document.getElementById('sound-toggle').dataset.state === 'on'")
    # full screen: a tile fills the window, Escape returns
    live.click(".tile .enlarge")
    live.wait_for_selector(".tile.enlarged")
    box = live.locator(".tile.enlarged").bounding_box()
    assert box and box["width"] >= 1300 and box["height"] >= 800, box
    shot(live, shots, "live-enlarged")
    live.keyboard.press("Escape")
    live.wait_for_function("!document.querySelector('.tile.enlarged')")
    # the card stays (pop-ups vanished after 8 s) until acknowledged; a click opens the review
    live.wait_for_timeout(9000)
    n_cards = live.locator("#rail-cards .rail-card").count()
    assert n_cards >= 1
    if n_cards > 1:
        live.locator("#rail-cards .rail-card .ack").first.click()
        assert live.locator("#rail-cards .rail-card").count() == n_cards - 1
    live.locator("#rail-cards .rail-card").first.click()
    live.wait_for_url(re.compile(r".*/alerts/\w+$"))
    live.wait_for_selector("#adjudicate:not([hidden])")
    live_watch.check()

    # --- the deployment ends by itself when its file ends; durations are camera time -----------
    page.goto(f"{server.url}/deployments/{dep}")
    page.wait_for_selector("#dep-state.ended", timeout=120_000)
    page.wait_for_selector("#dep-sources-ended:not([hidden])")
    assert "all cameras ended" in page.inner_text("#dep-sources-ended")
    d = page.request.get(f"{server.url}/api/deployments/{dep}").json()
    assert d["end_reason"] == "all cameras ended" and d["watchlist_deleted_at"] is not None
    st = d["statistics"]
    assert 0 < st["deployment_live_seconds"] <= st["wall_clock_seconds"] + 1
    assert "Camera time" in page.inner_text("#stats")
    rep = page.request.get(f"{server.url}/api/reports/deployments/{dep}").json()["deployments"][0]
    assert rep["duration_minutes"] == round(st["deployment_live_seconds"] / 60, 1)
    shot(page, shots, "deployment")

    # --- not-found pages ---------------------------------------------------------------------------
    r404 = page.goto(server.url + "/no-such-page")
    assert r404 is not None and r404.status == 404 and r404.headers["content-type"].startswith("text/html")
    assert page.inner_text("h1") == "Not found" and "no_such" not in page.inner_text("main")
    assert page.locator("header.top nav a").count() > 0  # the console's navigation is there
    r_alert = page.goto(server.url + "/alerts/9999")
    assert r_alert is not None and r_alert.status == 404
    assert "There is no alert 9999" in page.inner_text("main")
    assert page.locator("main img").count() == 0 and page.get_by_text("Place legal hold").count() == 0
    api404 = page.request.get(server.url + "/api/alerts/9999")
    assert api404.status == 404 and api404.json()["error"]["code"]  # codes stay in the JSON

    # --- every page: no console error, no failed request; readable audit details --------------------
    for path in PAGES:
        page.goto(server.url + path)
        page.wait_for_load_state("networkidle")
    page.goto(server.url + "/audit")
    page.wait_for_selector("#audit-table tbody td.details")
    details = page.locator("#audit-table tbody td.details").all_inner_texts()
    assert details and not [t for t in details if t.lstrip().startswith("{")]
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", " ".join(details))  # no raw ISO timestamps
    shot(page, shots, "audit")
    watch.check()
    ctx.close()

    # --- 390 px wide: no sideways scroll, "Log out" readable --------------------------------------
    for role in ("supervisor", "auditor"):
        c390 = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
        p390 = c390.new_page()
        w390 = Watch(p390)
        p390.goto(server.url + "/login")
        p390.fill("input[name=username]", role)
        p390.fill("input[name=password]", password(role))
        p390.click("button[type=submit]")
        p390.wait_for_url(lambda u: "/login" not in u)
        for path in (*PAGES, f"/deployments/{dep}"):
            resp = p390.goto(server.url + path)
            if resp is not None and resp.status == 403:
                continue
            p390.wait_for_load_state("networkidle")
            width = p390.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (role, path, width)
            lo = p390.locator("#logout")
            b = lo.bounding_box()
            assert lo.is_visible() and b is not None and b["x"] >= 0 and b["x"] + b["width"] <= 390, (path, b)
            color = p390.evaluate("getComputedStyle(document.getElementById('logout')).color")
            assert _luminance(color) > 0.6, (path, color)  # light text on the dark header
        if role == "supervisor":
            p390.goto(f"{server.url}/deployments/{dep}")
            p390.wait_for_selector("#dep-state.ended")
            shot(p390, shots, "deployment-390px")
        # pages refused to the role (403) are expected
        w390.problems = [p for p in w390.problems if "HTTP 403" not in p and "403 (Forbidden)" not in p]
        w390.check()
        c390.close()

    # --- dark mode from the system setting ------------------------------------------------------------
    cdark = browser.new_context(viewport={"width": 1360, "height": 860}, bypass_csp=True, color_scheme="dark")
    pd = cdark.new_page()
    pd.goto(server.url + "/login")
    assert _luminance(pd.evaluate("getComputedStyle(document.body).backgroundColor")) < 0.15
    pd.fill("input[name=username]", "supervisor")
    pd.fill("input[name=password]", password("supervisor"))
    pd.click("button[type=submit]")
    pd.wait_for_url(lambda u: "/login" not in u)
    pd.goto(f"{server.url}/deployments/{dep}")
    pd.wait_for_selector("#dep-state.ended")
    bg = pd.evaluate("getComputedStyle(document.querySelector('.card')).backgroundColor")
    fg = pd.evaluate("getComputedStyle(document.body).color")
    assert _luminance(bg) < 0.15 and _luminance(fg) > 0.7, (bg, fg)
    shot(pd, shots, "deployment-dark")
    cdark.close()
    time.sleep(0.1)
    assert "Traceback" not in server.output(), server.output()[-3000:]


def _luminance(css: str) -> float:
    """Relative brightness (0 black .. 1 white) of an ``rgb(...)``/``rgba(...)`` colour."""
    r, g, b = (int(x) for x in re.findall(r"\d+", css)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
