"""The console end to end, in Debian's Chromium against a real ``openlfr serve``:

log in; create a watchlist by uploading photos (a rejected file shows why); create, authorise
and start a deployment on a real clip; the alert is pushed to an open alerts page within 2 s of
being stored; adjudicate it with the keyboard; end the deployment; the report page's figures
match the report; an auditor visits every page and never receives a face image.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import TEST_DATA, VIDEOS
from tests.e2e.conftest import Server, frames_of, login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.shared_data, pytest.mark.slow]

CLIP = VIDEOS / "intel_asl_thanks.mkv"
MET_CSV = VIDEOS.parent / "met-deployments" / "met_lfr_deployments.csv"


def _figure(page: Any, label: str) -> str:
    return str(
        page.locator(".figure", has=page.locator(".k", has_text=re.compile(f"^{re.escape(label)}$")))
        .locator(".v")
        .inner_text()
    )


def test_console_end_to_end(server: Server, browser: Any, shots: Path, tmp_path: Path) -> None:
    if not CLIP.is_file():
        pytest.skip(f"test clip not found: {CLIP}")
    # photos: two frames of the person in the clip, one other person, one file that is no image
    f1, f2 = frames_of(CLIP, (0, 40))
    (tmp_path / "asl_signer_1.jpg").write_bytes(f1)
    (tmp_path / "asl_signer_2.jpg").write_bytes(f2)
    (tmp_path / "Al_Gore_0001.jpg").write_bytes((TEST_DATA / "faces" / "Al_Gore" / "Al_Gore_0001.jpg").read_bytes())
    (tmp_path / "notes.txt").write_text("not a photo")

    ctx, page = login(browser, server, "supervisor")
    page.on("dialog", lambda d: d.accept())

    # --- watchlist by upload ----------------------------------------------------------------
    page.goto(server.url + "/watchlists")
    page.fill("#wl-form input[name=name]", "e2e-wanted")
    page.fill("#wl-form input[name=description]", "people wanted on warrant (test)")
    page.click("#wl-form button[type=submit]")
    page.wait_for_url("**/watchlists/e2e-wanted")
    page.fill("#up-category", "wanted on warrant")
    page.fill("#up-reason", "e2e test")
    page.check("#up-from-names")  # person ids from these (non-camera) file names, by choice
    page.set_input_files(
        "#files", [str(tmp_path / n) for n in ("asl_signer_1.jpg", "asl_signer_2.jpg", "Al_Gore_0001.jpg", "notes.txt")]
    )
    page.wait_for_selector("#entry-table tbody tr:nth-child(2) td:nth-child(2)", timeout=60_000)
    page.wait_for_function(
        "document.querySelectorAll('#upload-results > p').length >= 3 && "
        "!document.querySelector('#upload-results').textContent.includes('uploading')",
        timeout=60_000,
    )
    results = page.inner_text("#upload-results")
    assert "asl_signer: 2 accepted" in results, results
    assert "notes: 0 accepted, 1 rejected" in results and "not a JPEG, PNG, WebP or BMP" in results, results
    people = page.locator("#entry-table tbody tr td:nth-child(2)").all_inner_texts()
    assert sorted(people) == ["Al_Gore", "asl_signer"]
    page.wait_for_function("[...document.querySelectorAll('#entry-table img.thumb')].every(i => i.naturalWidth > 0)")
    shot(page, shots, "watchlist")
    page.goto(server.url + "/watchlists")
    page.wait_for_selector("#wl-table tbody tr td")
    shot(page, shots, "watchlists")

    # --- deployment: an operator creates it, the supervisor authorises it (separation of duties) ---
    ctx_plan, page = login(browser, server, "operator")
    page.goto(server.url + "/deployments")
    page.click("#create-box summary")
    page.fill("input[name=location]", "High St, Sutton, outside the station (camera on the bus stop)")
    page.fill("input[name=purpose]", "Locate people wanted on warrant (end-to-end test)")
    page.fill("input[name=legal_basis]", "Common law policing powers; DPA 2018 s.35")
    page.select_option("select[name=source_watchlist]", "e2e-wanted")
    page.fill("input[name=all_entries_reason]", "wanted on warrant")
    page.fill("#cams input[name=cam_url]", str(CLIP))
    page.fill("#cams input[name=cam_desc]", "bus stop, facing north")
    page.click("#dep-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/deployments/\d+$"))
    dep_id = int(page.url.rsplit("/", 1)[1])
    ctx_plan.close()
    page = ctx.pages[0]
    page.goto(f"{server.url}/deployments/{dep_id}")
    page.wait_for_selector("#authorise-form:not([hidden])")
    page.fill("#authorise-form input[name=officer]", "Supt A. Example")
    page.click("#authorise-form button")
    page.wait_for_selector("#dep-state.authorised")

    alerts_page = ctx.new_page()  # an operator's screen waiting for alerts
    alerts_page.goto(server.url + "/alerts")
    alerts_page.wait_for_function("document.body.dataset.push === 'connected'")
    page.click("#start-btn")
    page.wait_for_selector("#dep-state.live")
    shot(page, shots, "deployment")

    alerts_page.wait_for_selector("#alert-table tbody tr.clickable", timeout=90_000)
    shown_at = alerts_page.evaluate("Date.now() / 1000")
    pushed = alerts_page.evaluate("window.__openlfrAlerts || []")
    assert pushed, "the alert did not arrive by push"
    first = pushed[0]
    assert first["person_id"] == "asl_signer"
    assert first["worker_at"] is not None
    latency = shown_at - float(first["worker_at"])
    assert latency < 2.0, f"alert shown {latency:.2f} s after the runner received it"
    assert alerts_page.inner_text("#alert-badge") != "0"
    shot(alerts_page, shots, "alerts")

    # --- live page (last preview frame; faces pixelated except an alerted one) ---------------
    live = ctx.new_page()
    live.goto(server.url + "/live")
    live.wait_for_function("[...document.querySelectorAll('.tile img')].some(i => i.naturalWidth > 0)", timeout=30_000)
    shot(live, shots, "live")
    live.close()

    # --- review and adjudicate with the keyboard ---------------------------------------------
    ctx_op, op = login(browser, server, "operator")
    op.goto(server.url + "/alerts")
    op.wait_for_selector("#alert-table tbody tr.clickable")
    op.keyboard.press("j")
    op.keyboard.press("Enter")
    op.wait_for_url(re.compile(r".*/alerts/\d+$"))
    alert_id = int(op.url.rsplit("/", 1)[1])
    op.wait_for_function(
        "['probe', 'reference'].every(k => { const i = document.getElementById(k); return i && i.naturalWidth > 0; })"
    )
    op.wait_for_selector("#adjudicate:not([hidden])")
    shot(op, shots, "alert-review")
    op.keyboard.press("t")
    op.keyboard.press("1")
    op.keyboard.press("s")
    op.wait_for_function("document.getElementById('saved').textContent.startsWith('saved')")
    a = op.request.get(f"{server.url}/api/alerts/{alert_id}").json()
    assert a["verdict"] == "true" and a["outcome"] == "arrest" and a["adjudicated_by"] == "operator"
    ctx_op.close()

    # --- end the deployment --------------------------------------------------------------------
    page.goto(f"{server.url}/deployments/{dep_id}")
    page.wait_for_selector("#dep-state.ended, #stop-btn:not([hidden])")
    if page.is_visible("#stop-btn"):  # still running (else the clip ended and the deployment with it)
        page.click("#stop-btn")
    page.wait_for_selector("#dep-state.ended", timeout=90_000)
    d = page.request.get(f"{server.url}/api/deployments/{dep_id}").json()
    assert d["watchlist_deleted_at"] is not None and d["statistics_frozen"]

    # --- the report --------------------------------------------------------------------------------
    page.goto(f"{server.url}/reports?deployment={dep_id}")
    page.wait_for_function("window.__openlfrReport && window.__openlfrReport.kind === 'deployment'")
    rep = page.request.get(f"{server.url}/api/reports/deployments/{dep_id}").json()
    t = rep["totals"]
    all_alerts = page.request.get(f"{server.url}/api/alerts?deployment_id={dep_id}&include_purged=true").json()
    assert t["alerts"] == all_alerts["count"] >= 1
    assert t["true_alerts"] == 1 and t["false_alerts"] == 0 and t["outcomes"]["arrest"] == 1
    assert t["faces_seen"] >= 1
    assert _figure(page, "Alerts") == f"{t['alerts']:,}"
    assert _figure(page, "True alerts") == "1" and _figure(page, "False alerts") == "0"
    assert _figure(page, "Faces seen") == f"{t['faces_seen']:,}"
    assert _figure(page, "Share of alerts that were wrong") == "0%"
    for fmt in ("csv", "json", "html"):
        r = page.request.get(f"{server.url}/api/reports/deployments/{dep_id}?format={fmt}&download=true")
        assert r.status == 200 and "attachment" in r.headers["content-disposition"]
    if MET_CSV.is_file():
        page.set_input_files("#pub-file", str(MET_CSV))
        page.wait_for_selector("#pub-table tbody tr td", timeout=60_000)
        assert "2024" in page.inner_text("#pub-table")
    shot(page, shots, "reports")

    det = os.environ.get("OPENLFR_E2E_DET")  # a real `openlfr eval identify --plot` output, for the docs
    if det and Path(det).is_file():
        (server.data_dir / "eval").mkdir(exist_ok=True)
        shutil.copy(det, server.data_dir / "eval" / "det.png")
    for path, name in (
        ("/audit", "audit"),
        ("/evaluation", "evaluation"),
        ("/deployments", "deployments"),
        ("/account", "account"),
    ):
        page.goto(server.url + path)
        page.wait_for_load_state("networkidle")
        shot(page, shots, name)
    page.goto(server.url + "/audit")
    page.wait_for_selector("#chain-status.result-ok")
    assert "Chain intact" in page.inner_text("#chain-status")
    ctx.close()

    ctx_admin, adm = login(browser, server, "admin")
    adm.goto(server.url + "/users")
    adm.wait_for_selector("#user-table tbody tr")
    shot(adm, shots, "users")
    ctx_admin.close()

    # --- an auditor never receives a face image -------------------------------------------------
    ctx_aud, aud = login(browser, server, "auditor")
    images: list[str] = []
    aud.on(
        "response", lambda r: images.append(r.url) if r.headers.get("content-type", "").startswith("image/") else None
    )
    for path in (
        "/live",
        "/alerts",
        f"/alerts/{alert_id}",
        "/deployments",
        f"/deployments/{dep_id}",
        f"/reports?deployment={dep_id}",
        "/audit",
        "/evaluation",
        "/account",
    ):
        aud.goto(server.url + path)
        aud.wait_for_load_state("networkidle")
        srcs = aud.eval_on_selector_all("img", "els => els.map(e => e.src)")
        assert not [s for s in srcs if "/images/" in s or "/cameras/" in s], (path, srcs)
    assert aud.goto(server.url + "/watchlists").status == 403
    for kind in ("probe", "frame", "reference"):
        assert aud.request.get(f"{server.url}/api/alerts/{alert_id}/images/{kind}").status == 403
    assert not [u for u in images if "/api/evaluation/det.png" not in u and not u.endswith("/static/favicon.svg")], (
        images
    )
    ctx_aud.close()
    assert "Traceback" not in server.output(), server.output()[-3000:]


def test_sigterm_stops_cleanly(server: Server) -> None:
    import signal

    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=60)
    assert time.monotonic() - t0 < 30
    assert "OpenLFR stopping" in server.output()
