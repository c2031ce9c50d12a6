"""Issue 14 in Debian's Chromium against a real ``openlfr serve``: the public transparency page
and feed (no login, no images), the one-photo check and retrospective search pages.

One real deployment is run first through the public API on a real clip (enrolment, authorisation,
live run to the end of the file, an adjudication, ending), so every figure shown comes from the
engine and the database.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import TEST_DATA, VIDEOS
from tests.e2e.conftest import Api, Server, frames_of, login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.shared_data, pytest.mark.slow]

CLIP = VIDEOS / "intel_asl_thanks.mkv"


@pytest.fixture(scope="module", autouse=True)
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The server's media folder (``OPENLFR_API_MEDIA_DIR``), set before the module's server starts."""
    d = tmp_path_factory.mktemp("media")
    if CLIP.is_file():
        shutil.copyfile(CLIP, d / "bus_stop_cam.mkv")  # a copy: links out of the media folder are not offered
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENLFR_API_MEDIA_DIR", str(d))
        yield d


@pytest.fixture(scope="module")
def ended_deployment(server: Server) -> dict[str, Any]:
    """A deployment run for real on the clip and ended, with its one alert adjudicated false."""
    if not CLIP.is_file():
        pytest.skip(f"test clip not found: {CLIP}")
    sup, op = Api(server, "supervisor"), Api(server, "operator")
    assert sup.post("/api/watchlists", json={"name": "standing"}).status_code == 201
    f1, f2 = frames_of(CLIP, (0, 40))
    r = sup.post(
        "/api/watchlists/standing/entries",
        data={"person_id": "asl_signer", "category": "wanted"},
        files=[("files", ("a.jpg", f1, "image/jpeg")), ("files", ("b.jpg", f2, "image/jpeg"))],
    )
    assert r.status_code == 200 and r.json()["accepted_images"] == 2, r.text
    now = datetime.now(UTC)
    r = op.post(
        "/api/deployments",
        json={
            "location": "=Market Square, Romford",
            "purpose": "Locate people wanted on warrant (e2e)",
            "legal_basis": "Common law policing powers",
            "planned_start": (now - timedelta(minutes=1)).isoformat(),
            "planned_end": (now + timedelta(hours=2)).isoformat(),
            "source_watchlist": "standing",
            "all_entries_reason": "wanted on warrant",
            "cameras": [{"name": "cam1", "url": str(CLIP)}],
        },
    )
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
    r = op.post(
        "/api/deployments",
        json={
            "location": "Secret Street (not ended)",
            "purpose": "still planned",
            "legal_basis": "Common law policing powers",
            "planned_start": (now + timedelta(hours=1)).isoformat(),
            "planned_end": (now + timedelta(hours=3)).isoformat(),
            "source_watchlist": "standing",
            "all_entries_reason": "x",
            "cameras": [{"name": "c", "url": str(CLIP)}],
        },
    )
    assert r.status_code == 201, r.text
    rep = sup.get(f"/api/reports/deployments/{dep}").json()
    return {"id": dep, "report": rep["deployments"][0], "alerts": len(alerts)}


def test_transparency_page_and_feed(
    server: Server, browser: Any, shots: Path, ended_deployment: dict[str, Any]
) -> None:
    import httpx

    dep, row = ended_deployment["id"], ended_deployment["report"]
    assert row["false_alerts"] == 1 and row["faces_seen"] >= 1
    # the feed, without any credentials
    feed = httpx.get(server.url + "/api/public/deployments", timeout=30)
    assert feed.status_code == 200, feed.text
    data = feed.json()
    assert [d["id"] for d in data["deployments"]] == [dep]  # only the ended one
    d = data["deployments"][0]
    for k in (
        "location",
        "purpose",
        "started_at",
        "ended_at",
        "watchlist_size",
        "faces_seen",
        "alerts",
        "false_alerts",
    ):
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
    page.on(
        "response",
        lambda r: (
            images.append(r.url)
            if r.headers.get("content-type", "").startswith("image/") and not r.url.endswith("/static/favicon.svg")
            else None
        ),
    )
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    resp = page.goto(server.url + "/transparency")
    assert resp.status == 200 and page.url.endswith("/transparency")
    page.wait_for_load_state("networkidle")
    tr = page.locator(f"#pub-deployments tbody tr[data-id='{dep}']")
    cells = tr.locator("td").all_inner_texts()
    assert "=Market Square, Romford" in cells[1]
    assert "Locate people wanted on warrant" in cells[3]
    assert cells[5] == row["operating_point_text"] == d["operating_point_text"]  # the same words as the report's
    assert cells[6] == f"{row['faces_seen']:,}" and cells[8] == "1"
    assert "95% CI" in cells[9] and "95% CI" in cells[10]
    assert "Secret Street" not in page.content()
    assert page.locator("img").count() == 0 and not images
    assert not violations, violations
    shot(page, shots, "transparency")
    ctx.close()


def _files_holding(root: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for f in root.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            hits.extend(f"{f}: {n[:24]!r}" for n in needles if n in data)
    return hits


def test_check_page(
    server: Server, browser: Any, shots: Path, tmp_path: Path, ended_deployment: dict[str, Any]
) -> None:
    """OIFR in the console: a matching face is named with its score; a stranger's photo leaves no trace."""
    (match,) = frames_of(CLIP, (20,))
    stranger = (TEST_DATA / "faces" / "Al_Gore" / "Al_Gore_0001.jpg").read_bytes()
    (tmp_path / "probe-match-7f3a.jpg").write_bytes(match)
    (tmp_path / "stranger-probe-91c2.jpg").write_bytes(stranger)
    ctx, page = login(browser, server, "operator")
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(server.url + "/check")
    page.wait_for_selector("#check-wl option[value=standing]", state="attached")
    page.select_option("#check-wl", "standing")

    page.set_input_files("#check-file", str(tmp_path / "stranger-probe-91c2.jpg"))
    page.click("#check-go")
    page.wait_for_selector("#check-result:not([hidden])")
    page.wait_for_function("document.getElementById('check-canvas').dataset.drawn !== undefined")
    summary = page.inner_text("#check-summary")
    assert re.match(r"1 face\(s\) found · 0 with a candidate", summary), summary
    assert "no candidate" in page.inner_text("#check-table")

    page.set_input_files("#check-file", str(tmp_path / "probe-match-7f3a.jpg"))
    page.click("#check-go")
    page.wait_for_function("document.getElementById('check-summary').textContent.includes('1 with a candidate')")
    row = page.locator("#check-table tbody tr.match").inner_text()
    assert "asl_signer" in row and "score 0." in row, row
    page.wait_for_function("document.getElementById('check-canvas').dataset.drawn === '1'")
    shot(page, shots, "check")
    assert not violations, violations
    ctx.close()
    # nothing about either probe was written: not its bytes, not its file name (DB, files, server log)
    assert not _files_holding(
        server.data_dir, [stranger[1000:1400], match[1000:1400], b"stranger-probe-91c2", b"probe-match-7f3a"]
    )
    assert "stranger-probe-91c2" not in server.output() and "probe-match-7f3a" not in server.output()
    auditor_view = Api(server, "auditor").get("/api/audit?limit=20").json()["data"]
    checks = [e for e in auditor_view if e["action"] == "check"]
    # which entries matched is private (encrypted, purged with the list), shown to the auditor while it exists
    assert checks[0]["details"]["matches"] == 1 and checks[1]["details"]["matches"] == 0
    # ... and so are the near misses shown to the operator (the best scores below the threshold)
    assert checks[0]["details"]["private"]["data"] == {"matched_person_ids": ["asl_signer"], "near_miss_person_ids": []}
    assert checks[1]["details"]["private"]["data"] == {"matched_person_ids": [], "near_miss_person_ids": ["asl_signer"]}


def _run_search(page: Any, server: Server) -> dict[str, Any]:
    page.click("#retro-go")
    page.wait_for_function("['done', 'failed'].includes(document.body.dataset.retroState)", timeout=240_000)
    assert page.evaluate("document.body.dataset.retroState") == "done", page.inner_text("#retro-error")
    page.wait_for_function(
        "[...document.querySelectorAll('#retro-appearances img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    return dict(
        page.evaluate(
            "({n: document.querySelectorAll('.appearance').length, "
            "people: [...document.querySelectorAll('.appearance')].map(a => a.dataset.person)})"
        )
    )


def test_retro_search_page(
    server: Server, browser: Any, shots: Path, tmp_path: Path, media_dir: Path, ended_deployment: dict[str, Any]
) -> None:
    """Upload a video (decoded in memory), pick a recording, upload photos: progress, then appearances
    with the matched face and its frame; only watchlisted people are shown; the upload is not kept."""
    ctx, page = login(browser, server, "operator")
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    progress_seen: list[str] = []
    page.goto(server.url + "/retro")
    page.wait_for_selector("#retro-wl option[value=standing]", state="attached")
    page.wait_for_selector("#retro-media option[value='bus_stop_cam.mkv']", state="attached")
    page.select_option("#retro-wl", "standing")
    upload = tmp_path / "upload-9d2e.mkv"
    upload.write_bytes(CLIP.read_bytes())
    page.set_input_files("#retro-files", str(upload))
    page.click("#retro-go")
    page.wait_for_selector("#retro-job:not([hidden])")
    progress_seen.append(page.inner_text("#retro-status"))
    got = _run_search(page, server)
    status = page.inner_text("#retro-status")
    assert got["n"] >= 1 and set(got["people"]) == {"asl_signer"}, got
    assert re.search(r"51 frames · \d+ faces seen · \d+ appearance", status), status
    assert any(s.startswith("analysing") for s in progress_seen) or "frames" in status
    face = page.locator(".appearance img.face").first
    assert face.evaluate("i => i.naturalWidth") > 0
    assert page.locator(".appearance img.frame").count() == got["n"]
    shot(page, shots, "retro")
    # the API agrees, and its images are the matched face (JPEG) only for listed people
    sup = Api(server, "operator")
    jobs = sup.get("/api/retro").json()["data"]
    assert jobs and jobs[-1]["state"] == "done"
    job = sup.get(f"/api/retro/{jobs[-1]['id']}").json()
    assert {a["person_id"] for a in job["result"]["appearances"]} == {"asl_signer"}
    assert job["result"]["faces_seen"] >= len(job["result"]["appearances"])
    assert sup.get(f"/api/retro/{job['id']}/appearances/0/face.jpg").content[:3] == b"\xff\xd8\xff"
    # another user cannot read it
    assert Api(server, "supervisor").get(f"/api/retro/{job['id']}").status_code == 404
    # the uploaded video was never written to disk
    data = CLIP.read_bytes()
    assert not _files_holding(server.data_dir, [data[5000:5400], data[-400:]])
    assert "upload-9d2e" not in server.output()

    # pick a recording from the media folder instead
    page.set_input_files("#retro-files", [])
    page.select_option("#retro-media", "bus_stop_cam.mkv")
    got2 = _run_search(page, server)
    assert got2["people"] == got["people"]
    # photos: a stranger and the watchlisted person; only the latter appears
    page.select_option("#retro-media", "")
    (a,) = frames_of(CLIP, (20,))
    (tmp_path / "p1.jpg").write_bytes((TEST_DATA / "faces" / "Al_Gore" / "Al_Gore_0001.jpg").read_bytes())
    (tmp_path / "p2.jpg").write_bytes(a)
    page.set_input_files("#retro-files", [str(tmp_path / "p1.jpg"), str(tmp_path / "p2.jpg")])
    got3 = _run_search(page, server)
    assert got3 == {"n": 1, "people": ["asl_signer"]}
    assert "0:01.0" in page.inner_text(".appearance")  # the second photo, at one photo per second
    # a file that is no video: a clear error
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all" * 100)
    page.set_input_files("#retro-files", str(tmp_path / "broken.mp4"))
    page.click("#retro-go")
    page.wait_for_selector("#retro-error:not([hidden])", timeout=60_000)
    assert "not a readable video" in page.inner_text("#retro-error")
    assert page.get_attribute("#retro-error", "data-code") == "bad_video"  # the code stays machine-readable
    page.click("#retro-discard")
    assert not violations, violations
    # a recording's name never leaves the media folder
    for bad, code in (("../serve.log", "bad_media"), ("nope.mkv", "media_not_found")):
        r = sup.post("/api/retro", data={"watchlist": "standing", "media": bad})
        assert r.status_code in (400, 404, 422) and r.json()["error"]["code"] == code, r.text
    ctx.close()


def test_safe_enrolment(
    server: Server, browser: Any, shots: Path, tmp_path: Path, ended_deployment: dict[str, Any]
) -> None:
    """Camera-style file names never become person ids; one id with photos of two people is flagged;
    folder + CSV import with categories and reasons; entries and the list edited, then deleted."""
    sup = Api(server, "supervisor")
    assert sup.post("/api/watchlists", json={"name": "enrol-test", "description": "first"}).status_code == 201
    base = "/api/watchlists/enrol-test"
    a1, a2 = frames_of(CLIP, (0, 40))
    gore = (TEST_DATA / "faces" / "Al_Gore" / "Al_Gore_0001.jpg").read_bytes()
    (tmp_path / "IMG_0001.jpg").write_bytes(a1)
    (tmp_path / "IMG_0002.jpg").write_bytes(gore)
    ctx, page = login(browser, server, "supervisor")
    page.on("dialog", lambda d: d.accept())
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(server.url + "/watchlists/enrol-test")
    page.wait_for_selector("#entry-table tbody tr td")
    cams = [str(tmp_path / "IMG_0001.jpg"), str(tmp_path / "IMG_0002.jpg")]

    # 1. no person id given: nothing is uploaded
    page.set_input_files("#files", cams)
    page.wait_for_selector("#upload-results .rejection")
    assert "Nothing was uploaded" in page.inner_text("#upload-results")
    # 2. ids from file names asked for, but these are camera names: refused, not merged into "IMG"
    page.check("#up-from-names")
    page.set_input_files("#files", cams)
    page.wait_for_function("document.querySelector('#upload-results').textContent.includes('camera-style')")
    assert "IMG_0001.jpg, IMG_0002.jpg" in page.inner_text("#upload-results")
    time.sleep(0.5)
    assert sup.get(base).json()["entries"] == []
    # 3. an explicit id for photos of two different people: accepted, with a clear warning
    page.uncheck("#up-from-names")
    page.fill("#up-person", "suspect_A")
    page.fill("#up-category", "wanted on warrant")
    page.fill("#up-reason", "warrant 123")
    page.set_input_files("#files", cams)
    page.wait_for_selector("#upload-results .consistency", timeout=60_000)
    warn = page.inner_text("#upload-results .consistency")
    assert "suspect_A" in warn and "may not show the same person" in warn and "photos 1 and 2" in warn, warn
    c = sup.get(f"{base}/entries/suspect_A/consistency").json()
    assert c["photos"] == 2 and c["pairs_below"] and c["min_score"] < c["threshold"]

    # 4. folder import: one subfolder per person, details from a CSV; loose files refused
    # the fields were cleared after the upload (issue 19): the next upload does not inherit them unseen
    assert [page.input_value(f) for f in ("#up-person", "#up-name", "#up-category", "#up-reason")] == [""] * 4
    page.fill("#up-category", "wanted on warrant")
    page.fill("#up-reason", "warrant 123")
    root = tmp_path / "people"
    (root / "asl_signer").mkdir(parents=True)
    (root / "asl_signer" / "IMG_0001.jpg").write_bytes(a1)  # camera names are fine inside a person's folder
    (root / "asl_signer" / "IMG_0002.jpg").write_bytes(a2)
    (root / "Al_Gore").mkdir()
    (root / "Al_Gore" / "DSC01234.jpg").write_bytes(gore)
    (root / "IMG_7777.jpg").write_bytes(gore)
    (tmp_path / "people.csv").write_text(
        'person_id,name,category,reason\nasl_signer,"Signer, A.",missing person,"concern for welfare, ref 9"\n'
    )
    page.set_input_files("#import-csv", str(tmp_path / "people.csv"))
    page.set_input_files("#import-folder", str(root))
    page.wait_for_function(
        "document.querySelectorAll('#entry-table tbody tr[data-person]').length === 3", timeout=90_000
    )
    page.wait_for_function("!document.querySelector('#upload-results').textContent.includes('uploading')")
    results = page.inner_text("#upload-results")
    assert "IMG_7777.jpg: photos must be in a subfolder" in results, results
    assert "asl_signer: 2 accepted, 0 rejected" in results and "Al_Gore: 1 accepted" in results, results
    entries = {e["person_id"]: e for e in sup.get(base).json()["entries"]}
    assert set(entries) == {"suspect_A", "asl_signer", "Al_Gore"}
    assert entries["asl_signer"]["name"] == "Signer, A." and entries["asl_signer"]["category"] == "missing person"
    assert entries["asl_signer"]["reason"] == "concern for welfare, ref 9" and entries["asl_signer"]["images"] == 2
    assert entries["Al_Gore"]["category"] == "wanted on warrant" and entries["Al_Gore"]["reason"] == "warrant 123"
    assert sup.get(f"{base}/entries/asl_signer/consistency").json()["pairs_below"] == []  # same person: no warning
    shot(page, shots, "watchlist-enrol")

    # 5. edit an entry and the list; delete an entry; delete the list
    row = page.locator("#entry-table tbody tr[data-person='Al_Gore']")
    row.locator("button.edit-entry").click()
    row.locator("input.edit-category").fill("witness")
    row.locator("input.edit-reason").fill("appeal for witnesses, ref 77")
    row.locator("button.save-entry").click()
    page.wait_for_function(
        "document.querySelector(\"#entry-table tr[data-person='Al_Gore']\").textContent"
        ".includes('appeal for witnesses')"
    )
    e = {x["person_id"]: x for x in sup.get(base).json()["entries"]}["Al_Gore"]
    assert e["category"] == "witness" and e["reason"] == "appeal for witnesses, ref 77"
    page.fill("#wl-desc", "people to find (edited)")
    page.click("#desc-form button[type=submit]")
    page.wait_for_function("document.getElementById('wl-info').textContent.includes('(edited)')")
    assert sup.get(base).json()["description"] == "people to find (edited)"
    page.locator("#entry-table tbody tr[data-person='suspect_A'] button", has_text="Remove").click()
    page.wait_for_function("document.querySelectorAll('#entry-table tbody tr[data-person]').length === 2")
    audit = Api(server, "auditor").get("/api/audit?limit=50").json()["data"]
    actions = [x["action"] for x in audit]
    assert "watchlist.update_entry" in actions and "watchlist.update" in actions
    upd = next(x for x in audit if x["action"] == "watchlist.update_entry")
    edit = upd["details"]["private"]["data"]  # the entry's details stay out of the hash chain
    assert edit["person_id"] == "Al_Gore" and "Al_Gore" not in json.dumps({**upd["details"], "private": None})
    assert edit["before"]["category"] == "wanted on warrant" and edit["after"]["category"] == "witness"
    page.click("#wl-delete")
    page.wait_for_url("**/watchlists")
    assert sup.get(base).status_code == 404
    # a deployment's own list cannot be edited here
    own = [w for w in sup.get("/api/watchlists?bespoke=true").json()["data"] if w.get("deployment_id")]
    assert own, "the planned deployment has its own list"
    r = sup.patch(f"/api/watchlists/{own[0]['name']}", json={"description": "x"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "deployment_watchlist"
    assert not violations, violations
    ctx.close()


@pytest.fixture(scope="module")
def review_deployment(server: Server, ended_deployment: dict[str, Any]) -> dict[str, Any]:
    """A live deployment with two cameras on the clip (one alert each), after the ended one."""
    sup, op = Api(server, "supervisor"), Api(server, "operator")
    now = datetime.now(UTC)
    r = op.post(
        "/api/deployments",
        json={
            "location": "Station forecourt",
            "purpose": "Review test",
            "legal_basis": "Common law policing powers",
            "planned_start": (now - timedelta(minutes=1)).isoformat(),
            "planned_end": (now + timedelta(hours=2)).isoformat(),
            "source_watchlist": "standing",
            "all_entries_reason": "wanted on warrant ref W-42",
            "cameras": [{"name": "cam-north", "url": str(CLIP)}, {"name": "cam-south", "url": str(CLIP)}],
        },
    )
    assert r.status_code == 201, r.text
    dep = r.json()["id"]
    assert sup.post(f"/api/deployments/{dep}/authorise", json={"officer": "Supt B"}).status_code == 200
    assert sup.post(f"/api/deployments/{dep}/start").status_code == 200
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        cams = [c for c in sup.get("/api/cameras").json()["data"] if c["deployment_id"] == dep]
        if len(cams) == 2 and all(c["state"] == "ended" for c in cams):
            break
        time.sleep(1)
    alerts = op.get(f"/api/alerts?deployment_id={dep}").json()["data"]
    assert {a["camera"] for a in alerts} == {"cam-north", "cam-south"}, alerts
    return {"id": dep, "alerts": alerts}


def test_alert_review_at_scale(
    server: Server, browser: Any, shots: Path, ended_deployment: dict[str, Any], review_deployment: dict[str, Any]
) -> None:
    op_api = Api(server, "operator")
    earlier = op_api.get(f"/api/alerts?deployment_id={ended_deployment['id']}&verdict=false").json()["data"]
    assert earlier, "the ended deployment's alert was adjudicated false"
    ctx, page = login(browser, server, "operator")
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(server.url + "/alerts")
    page.uncheck("#only-open")
    page.wait_for_function("document.querySelectorAll('#alert-table tbody tr.clickable').length >= 3")
    # thumbnails of the camera face, for staff
    page.wait_for_function(
        "[...document.querySelectorAll('#alert-table img.thumb')].length >= 3 && "
        "[...document.querySelectorAll('#alert-table img.thumb')].every(i => i.naturalWidth > 0)"
    )
    ids = lambda: [  # noqa: E731
        int(x) for x in page.eval_on_selector_all("#alert-table tbody tr.clickable", "rs => rs.map(r => r.dataset.ref)")
    ]
    # camera filter
    page.fill("#alert-filters input[name=camera]", "cam-south")
    page.click("#alert-filters button[type=submit]")
    page.wait_for_function(
        "[...document.querySelectorAll('#alert-table tbody tr.clickable')].length === "
        f"{sum(a['camera'] == 'cam-south' for a in review_deployment['alerts'])}"
    )
    assert set(ids()) == {a["id"] for a in review_deployment["alerts"] if a["camera"] == "cam-south"}
    # verdict filter: the earlier false alert only
    page.fill("#alert-filters input[name=camera]", "")
    page.select_option("#alert-filters select[name=verdict]", "false")
    page.click("#alert-filters button[type=submit]")
    page.wait_for_function(
        f"document.querySelector('#alert-table tbody tr.clickable')?.dataset.ref === '{earlier[0]['id']}'"
    )
    assert ids() == [a["id"] for a in earlier]
    # sort by score, person filter, date range, score bound
    page.select_option("#alert-filters select[name=verdict]", "")
    page.fill("#alert-filters input[name=person]", "ASL_SIG")
    page.select_option("#alert-filters select[name=sort]", "score_asc")
    today = datetime.now(UTC).date().isoformat()
    page.fill("#alert-filters input[name=from]", today)
    page.fill("#alert-filters input[name=to]", today)
    page.click("#alert-filters button[type=submit]")
    api = op_api.get(f"/api/alerts?person=asl_sig&sort=score_asc&from={today}&to={today}").json()["data"]
    page.wait_for_function(f"document.querySelectorAll('#alert-table tbody tr.clickable').length === {len(api)}")
    assert ids() == [a["id"] for a in api]
    scores = [a["score"] for a in api]
    assert scores == sorted(scores) and len(api) >= 3
    shot(page, shots, "alerts-filtered")
    page.fill("#alert-filters input[name=min_score]", "1")
    page.click("#alert-filters button[type=submit]")
    page.wait_for_function("document.querySelector('#alert-table tbody').textContent.includes('No alerts')")

    # review: the entry's reason, the earlier decision, readable outcomes, Esc guard
    target = next(a for a in review_deployment["alerts"] if a["camera"] == "cam-north")
    page.goto(f"{server.url}/alerts/{target['id']}")
    page.wait_for_selector("#adjudicate:not([hidden])")
    # the deployment ended by itself when its files ended, so its watchlist (and the entry's reason) is gone (P4)
    page.wait_for_function("document.querySelector('#entry-facts').textContent.includes('no longer exists')")
    hist = page.inner_text("#history")
    assert str(earlier[0]["id"]) in hist and "False alert" in hist, hist
    dialogs: list[str] = []

    def dismiss(d: Any) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dismiss)
    page.keyboard.press("t")
    page.keyboard.press("2")
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    assert dialogs and "not saved" in dialogs[0] and f"/alerts/{target['id']}" in page.url  # stayed
    page.remove_listener("dialog", dismiss)
    page.keyboard.press("s")
    page.wait_for_function("document.getElementById('saved').textContent.startsWith('saved')")
    page.wait_for_function("document.getElementById('facts').textContent.includes('Other disposal')")
    assert "True match" in page.inner_text("#facts")
    page.keyboard.press("Escape")  # saved: leaves without asking
    page.wait_for_url("**/alerts")
    assert len(dialogs) == 1
    ctx.close()

    # legal hold controls (supervisor)
    ctx, page = login(browser, server, "supervisor")
    page.on("dialog", lambda d: d.accept())
    other = next(a for a in review_deployment["alerts"] if a["camera"] == "cam-south")
    page.goto(f"{server.url}/alerts/{other['id']}")
    page.wait_for_function("document.getElementById('hold-status').textContent.startsWith('Not held')")
    page.fill("#hold-reason", "Case 2026/771 disclosure order")
    page.click("#hold-form button[type=submit]")
    page.wait_for_function("document.getElementById('hold-status').textContent.startsWith('On legal hold')")
    assert "Case 2026/771" in page.inner_text("#hold-list")
    assert Api(server, "supervisor").get(f"/api/alerts/{other['id']}").json()["legal_hold"] is True
    shot(page, shots, "alert-review-context")
    page.click("#hold-list button.release-hold")
    page.wait_for_function("document.getElementById('hold-status').textContent.startsWith('Not held')")
    assert Api(server, "supervisor").get(f"/api/alerts/{other['id']}").json()["legal_hold"] is False
    ctx.close()

    # audit export (auditor), with the page's filters
    ctx, page = login(browser, server, "auditor")
    page.goto(server.url + "/audit")
    page.fill("#audit-form input[name=action]", "legal_hold.")
    page.click("#audit-form button[type=submit]")
    page.wait_for_function("document.getElementById('audit-csv').href.includes('action=legal_hold.')")
    href = page.get_attribute("#audit-csv", "href")
    r = page.request.get(server.url + href)
    assert r.status == 200 and "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text())))
    assert [x["action"] for x in rows] == ["legal_hold.release", "legal_hold.place"]
    assert "Case 2026/771" in rows[1]["details"]
    j = page.request.get(server.url + page.get_attribute("#audit-json", "href")).json()
    assert j["count"] == 2
    last = Api(server, "auditor").get("/api/audit?action=audit.export").json()["data"]
    assert len(last) == 2 and last[0]["actor"] == "auditor"
    assert not violations, violations
    ctx.close()


def test_operations(server: Server, browser: Any, shots: Path, review_deployment: dict[str, Any]) -> None:
    """Camera tiles show analysed fps, drops and a failure's reason without CSP violations; a live
    deployment whose file sources all ended says so; favicon; the planning calculator."""
    hamilton = VIDEOS / "short_hamilton_clip.mp4"
    if not hamilton.is_file():
        pytest.skip(f"clip not found: {hamilton}")
    sup, op = Api(server, "supervisor"), Api(server, "operator")
    now = datetime.now(UTC)
    r = op.post(
        "/api/deployments",
        json={
            "location": "Ops test",
            "purpose": "operations view",
            "legal_basis": "Common law policing powers",
            "planned_start": (now - timedelta(minutes=1)).isoformat(),
            "planned_end": (now + timedelta(hours=2)).isoformat(),
            "source_watchlist": "standing",
            "all_entries_reason": "ops",
            "cameras": [
                {"name": "cam-ok", "url": str(hamilton)},
                {"name": "cam-bad", "url": str(VIDEOS / "ops-missing.mkv")},
            ],
        },
    )
    assert r.status_code == 201, r.text
    dep = r.json()["id"]
    assert sup.post(f"/api/deployments/{dep}/authorise", json={"officer": "Supt C"}).status_code == 200
    ctx, page = login(browser, server, "admin")  # a camera's failure detail is for admins only
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    failed_requests: list[str] = []
    page.on(
        "response", lambda resp: failed_requests.append(f"{resp.status} {resp.url}") if resp.status >= 400 else None
    )
    page.goto(server.url + "/live")
    assert sup.post(f"/api/deployments/{dep}/start").status_code == 200
    ok_tile = page.locator(".tile", has=page.locator("b", has_text="cam-ok"))
    bad_tile = page.locator(".tile", has=page.locator("b", has_text="cam-bad"))
    page.wait_for_function(
        "[...document.querySelectorAll('.tile')].some(t => t.textContent.includes('cam-ok') && "
        "/analysed [1-9][0-9]*\\.[0-9] fps/.test(t.textContent))",
        timeout=30_000,
    )
    fps = float(re.search(r"analysed ([0-9.]+) fps", ok_tile.inner_text()).group(1))  # type: ignore[union-attr]
    assert 0 < fps <= 60
    assert re.search(r"dropped \d+ frame", ok_tile.inner_text()) and "null" not in ok_tile.inner_text()
    page.wait_for_function(
        "[...document.querySelectorAll('.tile')].some(t => t.textContent.includes('cam-bad') && "
        "t.querySelector('.detail'))",
        timeout=60_000,
    )
    detail = bad_tile.locator(".detail").inner_text()
    assert "ops-missing.mkv" in detail or "no such file" in detail, detail
    shot(page, shots, "live-ops")
    assert not violations, violations
    ctx.close()
    sup.post(f"/api/deployments/{dep}/stop")

    # a deployment whose file sources have all ended ends by itself, and says so
    ctx, page = login(browser, server, "supervisor")
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{server.url}/deployments/{review_deployment['id']}")
    page.wait_for_selector("#dep-sources-ended:not([hidden])")
    text = page.inner_text("#dep-sources-ended")
    assert "ended by itself" in text and "all cameras ended" in text and "cam-north" in text and "cam-south" in text
    assert page.inner_text("#dep-state") == "ended"
    shot(page, shots, "deployment-sources-ended")
    # an ended deployment does not show the notice
    page.goto(f"{server.url}/deployments/{dep}")
    page.wait_for_selector("#dep-state.ended")
    assert page.locator("#dep-sources-ended").is_hidden()

    # favicon: linked from every page, served without a login
    import httpx

    assert page.get_attribute("link[rel=icon]", "href") == "/static/favicon.svg"
    fav = httpx.get(server.url + "/favicon.ico", follow_redirects=True, timeout=10)
    assert fav.status_code == 200 and fav.headers["content-type"].startswith("image/svg") and b"<svg" in fav.content

    # planning calculator: the TPIR entered is used; a changed input clears the old figures
    page.goto(server.url + "/evaluation")
    form = page.locator("#plan-form")
    form.locator("input[name=faces]").fill("10000")
    form.locator("input[name=prevalence]").fill("0.01")
    form.locator("input[name=fpir]").fill("0.001")
    form.locator("input[name=tpir]").fill("0.5")
    form.locator("button[type=submit]").click()
    page.wait_for_function("document.getElementById('plan-out').textContent.includes('Expected true alerts')")
    fig = lambda k: page.locator("#plan-out .figure", has=page.locator(".k", has_text=re.compile(f"^{k}$")))  # noqa: E731
    assert fig("Expected true alerts").locator(".v").inner_text() == "50.0"  # 10000 x 0.01 x 0.5
    assert fig("TPIR used").locator(".v").inner_text() == "50%"
    form.locator("input[name=tpir]").fill("0.8")
    assert "Expected true alerts" not in page.inner_text("#plan-out")
    assert "Inputs changed" in page.inner_text("#plan-out")
    form.locator("button[type=submit]").click()
    page.wait_for_function("document.getElementById('plan-out').textContent.includes('Expected true alerts')")
    assert fig("Expected true alerts").locator(".v").inner_text() == "80.0"
    assert not violations, violations
    assert not [u for u in failed_requests if "favicon" in u], failed_requests
    ctx.close()
