"""The API's resources through the app (real SQLite, real engine): one-photo check, entries,
alerts with adjudication and holds, reports in three formats, published records, planning,
tokens, user administration, first-run setup, and the push stream."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import SHARED, TEST_DATA
from tests.integration.apihelp import PASSWORD, ApiEnv, make_env, seed_live_deployment

FACES = TEST_DATA / "faces"
MET = SHARED / "data" / "met-deployments" / "met_lfr_deployments.csv"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENLFR_KEY", raising=False)
        mp.delenv("OPENLFR_DATABASE_URL", raising=False)
        e = make_env(tmp_path_factory.mktemp("flow") / "data")
        e.extra.update(seed_live_deployment(e, FACES, ["Al_Gore", "Adrien_Brody", "Abdullah_Gul"]))
        yield e
        e.client.close()


def test_check_a_photo(env: ApiEnv) -> None:
    probe = (FACES / "Adrien_Brody" / "Adrien_Brody_0002.jpg").read_bytes()
    r = env.client.post(
        "/api/watchlists/standing/check",
        files={"image": ("p.jpg", probe, "image/jpeg")},
        data={"top_k": "1", "threshold": "0.5"},
        headers=env.h("operator"),
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["watchlist_size"] == 3 and out["faces"]
    assert out["faces"][0]["candidates"][0]["person_id"] == "Adrien_Brody"


def test_entries_list_photo_and_remove(env: ApiEnv) -> None:
    c, h = env.client, env.h("supervisor")
    r = c.get("/api/watchlists/standing/entries?limit=2", headers=h)
    assert r.status_code == 200 and r.json()["count"] == 3 and len(r.json()["data"]) == 2
    r = c.post("/api/watchlists", json={"name": "temp"}, headers=h)
    assert r.status_code == 201
    photo = (FACES / "Al_Gore" / "Al_Gore_0003.jpg").read_bytes()
    r = c.post(
        "/api/watchlists/temp/entries",
        data={"person_id": "x1", "display_name": "X One"},
        files=[("files", ("a.jpg", photo, "image/jpeg"))],
        headers=h,
    )
    assert r.json()["accepted_images"] == 1
    r = c.get("/api/watchlists/temp/entries/x1/images/0", headers=h)
    assert r.status_code == 200 and r.content == photo and r.headers["cache-control"].startswith("no-store")
    assert c.get("/api/watchlists/temp/entries/x1/images/5", headers=h).status_code == 404
    r = c.delete("/api/watchlists/temp/entries/x1", headers=h)
    assert r.status_code == 200 and r.json()["images"] == 1 and r.json()["embeddings"] == 1
    assert c.get("/api/watchlists/temp", headers=h).json()["entries"] == []
    assert c.delete("/api/watchlists/temp", headers=h).status_code == 200
    assert c.get("/api/watchlists/temp", headers=h).status_code == 404


def test_alert_review_adjudication_and_hold(env: ApiEnv) -> None:
    c, aid = env.client, env.extra["alert_id"]
    r = c.get("/api/alerts?unadjudicated=true", headers=env.h("operator"))
    assert r.json()["count"] == 1 and r.json()["data"][0]["adjudicated"] is False
    r = c.get("/api/alerts/api-test-alert-1", headers=env.h("operator"))  # by uid too
    assert r.status_code == 200 and r.json()["id"] == aid
    r = c.post(f"/api/alerts/{aid}/adjudicate", json={"verdict": "maybe"}, headers=env.h("operator"))
    assert r.status_code == 422
    r = c.post(
        f"/api/alerts/{aid}/adjudicate",
        json={"verdict": "false", "outcome": "no_action", "note": "not him"},
        headers=env.h("operator"),
    )
    assert r.status_code == 200 and r.json()["verdict"] == "false" and r.json()["adjudicated_by"] == "operator1"
    r = c.post(f"/api/alerts/{aid}/hold", json={"reason": "complaint ref 123"}, headers=env.h("supervisor"))
    assert r.status_code == 201
    hold = r.json()
    assert c.get("/api/holds", headers=env.h("auditor")).json()["count"] == 1
    assert c.get(f"/api/alerts/{aid}", headers=env.h("auditor")).json()["legal_hold"] is True
    r = c.post(f"/api/holds/{hold['id']}/release", json={"note": "closed"}, headers=env.h("supervisor"))
    assert r.status_code == 200 and r.json()["active"] is False
    r = c.post(f"/api/holds/{hold['id']}/release", json={}, headers=env.h("supervisor"))
    assert r.status_code == 409
    acts = c.get("/api/audit?action=alert.", headers=env.h("auditor")).json()
    assert {"alert.adjudicate", "alert.create"} <= {e["action"] for e in acts["data"]}
    assert c.get("/api/audit?q=complaint", headers=env.h("auditor")).json()["count"] >= 1
    assert c.get("/api/audit/verify", headers=env.h("auditor")).json()["ok"] is True


def test_reports_in_three_formats(env: ApiEnv) -> None:
    c, h, dep = env.client, env.h("auditor"), env.extra["deployment_id"]
    rep = c.get(f"/api/reports/deployments/{dep}", headers=h).json()
    assert rep["kind"] == "deployment" and rep["totals"]["alerts"] == 1
    csv = c.get(f"/api/reports/deployments/{dep}?format=csv&download=true", headers=h)
    assert csv.headers["content-type"].startswith("text/csv") and "attachment" in csv.headers["content-disposition"]
    assert csv.text.splitlines()[0].startswith("id,name,state")
    html = c.get(f"/api/reports/deployments/{dep}?format=html", headers=h)
    assert html.headers["content-type"].startswith("text/html") and "<html" in html.text.lower()
    assert "img-src data:" in html.headers["content-security-policy"]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    per = c.get(f"/api/reports/period?from={today}&to={today}", headers=h)
    assert per.status_code == 200 and per.json()["kind"] == "period"
    assert c.get("/api/reports/period?from=2025-13-01&to=2025-12-31", headers=h).status_code == 422


def test_published_records_upload(env: ApiEnv) -> None:
    if not MET.is_file():
        pytest.skip(f"published records not found at {MET}")
    r = env.client.post(
        "/api/reports/published", files={"file": ("met.csv", MET.read_bytes(), "text/csv")}, headers=env.h("auditor")
    )
    assert r.status_code == 200, r.text
    y = r.json()["years"]["2024"]
    assert (y["deployments"], y["faces_seen"], y["alerts"], y["false_alerts"]) == (180, 902_748, 1_286, 27)
    bad = env.client.post(
        "/api/reports/published", files={"file": ("x.csv", b"\xff\xfe\x00bin", "text/csv")}, headers=env.h("auditor")
    )
    assert bad.status_code == 422
    assert env.client.get("/api/reports/published", headers=env.h("auditor")).status_code == 404


def test_planning_calculator(env: ApiEnv) -> None:
    r = env.client.post(
        "/api/evaluation/plan",
        json={"faces": 100_000, "watchlist_size": 1000, "prevalence": 0.0001, "fmr": 1e-6, "tpir": 0.9},
        headers=env.h("auditor"),
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["fpir"]["value"] == pytest.approx(1e-3)
    assert out["expected_false_alerts"]["value"] == pytest.approx(100_000 * 0.9999 * 1e-3)
    assert out["expected_true_alerts"]["value"] == pytest.approx(100_000 * 1e-4 * 0.9)
    r = env.client.post(
        "/api/evaluation/plan", json={"faces": 10, "watchlist_size": 10, "prevalence": 0.1}, headers=env.h("auditor")
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "need_rate"
    info = env.client.get("/api/evaluation", headers=env.h("auditor")).json()
    assert info["det_plot"] is None and "eval identify" in info["how"]
    assert env.client.get("/api/evaluation/det.png", headers=env.h("auditor")).status_code == 404


def test_tokens_and_user_admin(env: ApiEnv) -> None:
    c = env.client
    r = c.post("/api/auth/tokens", json={"name": "script", "expires_days": 1}, headers=env.h("operator"))
    assert r.status_code == 201
    tok = r.json()
    h = {"Authorization": f"Bearer {tok['token']}"}
    assert c.get("/api/auth/me", headers=h).json()["username"] == "operator1"
    listed = c.get("/api/auth/tokens", headers=h).json()
    assert all("token" not in t for t in listed["data"])
    assert c.delete(f"/api/auth/tokens/{tok['id']}", headers=env.h("auditor")).status_code == 404  # not theirs
    assert c.delete(f"/api/auth/tokens/{tok['id']}", headers=h).status_code == 200
    assert c.get("/api/auth/me", headers=h).status_code == 401
    r = c.post("/api/users", json={"username": "weak", "role": "operator", "password": "short"}, headers=env.h("admin"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "weak_password"
    r = c.post(
        "/api/users", json={"username": "newbie", "role": "operator", "password": PASSWORD}, headers=env.h("admin")
    )
    assert r.status_code == 201
    uid = r.json()["id"]
    assert (
        c.post(
            "/api/users", json={"username": "newbie", "role": "operator", "password": PASSWORD}, headers=env.h("admin")
        ).status_code
        == 409
    )
    r = c.patch(f"/api/users/{uid}", json={"role": "auditor", "active": False}, headers=env.h("admin"))
    assert r.json()["role"] == "auditor" and r.json()["active"] is False
    login = c.post("/api/auth/login", json={"username": "newbie", "password": PASSWORD})
    assert login.status_code == 401
    admin_id = c.get("/api/auth/me", headers=env.h("admin")).json()["id"]
    r = c.patch(f"/api/users/{admin_id}", json={"role": "operator"}, headers=env.h("admin"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "last_admin"
    assert c.delete(f"/api/users/{uid}", headers=env.h("admin")).status_code == 200


def test_first_run_setup_token(tmp_path: Any) -> None:
    from fastapi.testclient import TestClient
    from tests.integration.apihelp import init_data_dir

    from openlfr.api.app import create_app

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENLFR_KEY", raising=False)
        settings = init_data_dir(tmp_path / "fresh")
        c = TestClient(create_app(settings, setup_token="one-time-setup-token"))
        assert "No user exists yet" in c.get("/login").text
        body = {"token": "wrong-token-value", "username": "boss", "password": PASSWORD}
        assert c.post("/api/auth/setup", json=body).status_code == 403
        r = c.post("/api/auth/setup", json={**body, "token": "one-time-setup-token"})
        assert r.status_code == 200 and r.json()["role"] == "admin"
        assert c.get("/api/users").status_code == 200  # logged in by the setup
        again = TestClient(c.app).post(
            "/api/auth/setup", json={**body, "token": "one-time-setup-token", "username": "boss2"}
        )
        assert again.status_code == 403  # used once


def test_alert_is_pushed_on_the_event_stream(env: ApiEnv) -> None:
    import uvicorn

    from openlfr.api.live import Run

    st = env.app.state.openlfr
    run = Run(env.extra["deployment_id"])
    srv = uvicorn.Server(uvicorn.Config(env.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    got: list[dict[str, Any]] = []

    def listen() -> None:
        import httpx

        with httpx.stream("GET", f"http://127.0.0.1:{port}/api/events", headers=env.h("operator"), timeout=10) as r:
            for line in r.iter_lines():
                if line.startswith("event: alert"):
                    got.append({})
                elif line.startswith("data:") and got and not got[-1]:
                    got[-1] = json.loads(line[5:])
                    return

    lt = threading.Thread(target=listen, daemon=True)
    lt.start()
    deadline = time.monotonic() + 5
    while st.broker.subscribers == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    st.live.alert_stored(
        run, {"alert_id": "uid-1", "camera": "cam1", "person_id": "Al_Gore", "score": 0.99}, worker_at=time.time()
    )
    lt.join(10)
    srv.should_exit = True
    th.join(10)
    assert got and got[0]["alert_id"] == "uid-1" and got[0]["worker_at"] is not None
    assert got[0]["pushed_at"] - got[0]["worker_at"] < 1.0
