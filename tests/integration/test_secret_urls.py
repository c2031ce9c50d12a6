"""Secrets in camera URLs never show (issue 13, item 6): a deployment whose camera URL holds a
password with '#' and '/' plus token/apikey/sig query parameters is created, shown, started and
stopped through the real API (its camera really fails to connect), and run through the real CLI.
The secrets appear in no API response, SSE event, audit row, stored display column, CLI output,
log line or error message."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from tests.conftest import run_cli
from tests.integration.apihelp import ApiEnv, make_env
from tests.integration.conftest import FACES

SECRETS = ("p#ss/w0rd", "T0KEN123", "AKEY456", "SIGN789")
URL = "rtsp://viewer:p#ss/w0rd@127.0.0.1:1/live?token=T0KEN123&apikey=AKEY456&sig=SIGN789&ch=1"
SHOWN = "rtsp://***@127.0.0.1:1/live?token=***&apikey=***&sig=***&ch=***"


WHY = "test: a fixed threshold for this test, not an operational choice of operating point"


def _clean(text: str, where: str) -> None:
    for s in SECRETS:
        assert s not in text, f"{s!r} leaked in {where}: {text[:2000]}"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENLFR_KEY", raising=False)
        mp.delenv("OPENLFR_DATABASE_URL", raising=False)
        e = make_env(tmp_path_factory.mktemp("secrets") / "data")
        c, h = e.client, e.h("supervisor")
        assert c.post("/api/watchlists", json={"name": "standing"}, headers=h).status_code == 201
        photo = sorted((FACES / "Al_Gore").glob("*.jpg"))[0]
        r = c.post(
            "/api/watchlists/standing/entries",
            data={"person_id": "Al_Gore"},
            files=[("files", (photo.name, photo.read_bytes(), "image/jpeg"))],
            headers=h,
        )
        assert r.status_code == 200 and r.json()["accepted_images"] == 1, r.text
        yield e
        e.client.close()


def _audit_text(env: ApiEnv) -> str:
    db = sqlite3.connect(env.data_dir / "openlfr.db")
    try:
        rows = db.execute("SELECT * FROM audit_events").fetchall()
        cams = db.execute("SELECT url_display FROM deployment_cameras").fetchall()
    finally:
        db.close()
    return json.dumps(rows, default=str) + json.dumps(cams)


def test_api_sse_audit_and_errors_mask_camera_secrets(env: ApiEnv) -> None:
    import httpx
    import uvicorn

    c = env.client
    now = datetime.now(UTC)
    r = c.post(
        "/api/deployments",
        headers=env.h("operator"),
        json={
            "location": "High St, Sutton, outside the station",
            "purpose": "masking test",
            "planned_start": (now - timedelta(minutes=1)).isoformat(),
            "planned_end": (now + timedelta(hours=1)).isoformat(),
            "source_watchlist": "standing",
            "all_entries_reason": "test",
            "threshold": 0.5,
            "legal_basis": "Common law policing powers; force LFR policy v1",
            "cameras": [{"name": "gate", "url": URL}],
        },
    )
    assert r.status_code == 201, r.text
    _clean(r.text, "create response")
    dep = r.json()
    assert dep["cameras"][0]["url"] == SHOWN
    r = c.post(
        f"/api/deployments/{dep['id']}/authorise",
        json={"officer": "Supt T", "justification": WHY},
        headers=env.h("supervisor"),
    )
    assert r.status_code == 200, r.text
    _clean(r.text, "authorise response")

    srv = uvicorn.Server(uvicorn.Config(env.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    st = env.app.state.openlfr
    lines: list[str] = []
    stop = threading.Event()

    def listen() -> None:
        # an admin: camera error details (masked) go to admins only
        with httpx.stream("GET", f"http://127.0.0.1:{port}/api/events", headers=env.h("admin"), timeout=30) as resp:
            for line in resp.iter_lines():
                lines.append(line)
                if stop.is_set():
                    return

    lt = threading.Thread(target=listen, daemon=True)
    lt.start()
    deadline = time.monotonic() + 10
    while st.broker.subscribers == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        r = c.post(f"/api/deployments/{dep['id']}/start", headers=env.h("operator"))
        assert r.status_code == 200, r.text
        _clean(r.text, "start response")
        # The camera cannot connect: wait for a camera event that carries the open error.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            "cannot open" in ln or "127.0.0.1:1" in ln for ln in lines if ln.startswith("data:")
        ):
            time.sleep(0.2)
        for path in (f"/api/deployments/{dep['id']}", "/api/deployments", "/api/cameras"):
            for role in ("admin", "supervisor"):
                r = c.get(path, headers=env.h(role))
                assert r.status_code == 200, r.text
                _clean(r.text, path)
        r = c.post(f"/api/deployments/{dep['id']}/stop", headers=env.h("supervisor"))
        assert r.status_code == 200, r.text
        _clean(r.text, "stop response")
    finally:
        stop.set()
        srv.should_exit = True
        th.join(10)
    events = "\n".join(lines)
    assert "event: camera" in events and "127.0.0.1:1" in events, events[:2000]
    _clean(events, "SSE events")
    _clean(_audit_text(env), "audit log / stored display URL")


def test_cli_output_logs_and_audit_mask_camera_secrets(env: ApiEnv) -> None:
    cli_env = {"OPENLFR_DATA_DIR": str(env.data_dir), "OPENLFR_ACTOR": "cli-test"}
    os.environ.pop("OPENLFR_KEY", None)
    p = run_cli(
        "run",
        "--watchlist",
        "standing",
        "--source",
        URL,
        "--threshold",
        "0.5",
        "--max-seconds",
        "4",
        "--mode",
        "thread",
        env=cli_env,
        timeout=300,
    )
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "127.0.0.1:1" in out  # the camera line and its error are shown, masked
    _clean(out, "openlfr run output")
    p = run_cli("deployment", "show", "1", env=cli_env)
    assert p.returncode == 0, p.stderr
    assert SHOWN in p.stdout
    _clean(p.stdout + p.stderr, "openlfr deployment show")
    p = run_cli("deployment", "show", "1", "--json", env=cli_env)
    _clean(p.stdout, "openlfr deployment show --json")
    # An error message that repeats the URL (a source that cannot be opened) is masked too.
    p = run_cli("search", URL, "--watchlist", "standing", env=cli_env)
    assert p.returncode != 0
    _clean(p.stdout + p.stderr, "openlfr search error")
    _clean(_audit_text(env), "audit log after the CLI run")
