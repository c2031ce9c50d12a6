"""Issue 19, item 10: a camera test before going live. POST /api/deployments/{ref}/cameras/test opens
each camera of the deployment, reads one frame within a short timeout and reports per camera whether
it works, the frame's size and the stated frame rate. A real file camera works; a broken URL (a port
with nobody listening) and a stream that accepts and never answers fail quickly with the reason for
admins only; nothing is written to disk, the test is audited, and an ended deployment is refused."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import TEST_DATA, VIDEOS
from tests.integration.apihelp import ApiEnv, make_env

pytestmark = [pytest.mark.shared_data]

CLIP = VIDEOS / "intel_asl_thanks.mkv"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never sends a byte (a camera that hangs)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    yield int(srv.getsockname()[1])
    stop.set()
    th.join()
    for c in held:
        c.close()
    srv.close()


@pytest.fixture
def env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiEnv]:
    if not CLIP.is_file():
        pytest.skip(f"test clip not found: {CLIP}")
    monkeypatch.setenv("OPENLFR_CAMERA_MEDIA_ROOT", str(VIDEOS))
    e = make_env(data_dir)
    yield e
    e.client.close()
    e.ctx.close()


def _deployment(env: ApiEnv, cameras: list[dict[str, str]]) -> int:
    c = env.client
    assert c.post("/api/watchlists", json={"name": "standing"}, headers=env.h("supervisor")).status_code == 201
    photo = sorted((TEST_DATA / "faces" / "Al_Gore").glob("*.jpg"))[0]
    r = c.post(
        "/api/watchlists/standing/entries",
        data={"person_id": "p1"},
        headers=env.h("supervisor"),
        files=[("files", (photo.name, photo.read_bytes(), "image/jpeg"))],
    )
    assert r.status_code == 200, r.text
    now = datetime.now(UTC)
    r = c.post(
        "/api/deployments",
        headers=env.h("operator"),
        json={
            "location": "High St, Sutton, outside the station",
            "purpose": "camera test",
            "planned_start": (now - timedelta(minutes=1)).isoformat(),
            "planned_end": (now + timedelta(hours=2)).isoformat(),
            "source_watchlist": "standing",
            "all_entries_reason": "test",
            "legal_basis": "Common law policing powers; force LFR policy v1",
            "cameras": cameras,
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_camera_test_reports_each_camera(env: ApiEnv, silent_server: int, tmp_path: Path) -> None:
    closed = _closed_port()
    dep = _deployment(
        env,
        [
            {"name": "door", "url": str(CLIP)},
            {"name": "broken", "url": f"rtsp://127.0.0.1:{closed}/stream"},
            {"name": "hanging", "url": f"http://127.0.0.1:{silent_server}/video"},
        ],
    )
    before = _files(env.data_dir)
    t0 = time.monotonic()
    r = env.client.post(f"/api/deployments/{dep}/cameras/test", headers=env.h("admin"))
    took = time.monotonic() - t0
    assert r.status_code == 200, r.text
    body = r.json()
    cams = {c["camera"]: c for c in body["cameras"]}
    assert body["ok"] is False and set(cams) == {"door", "broken", "hanging"}
    door = cams["door"]
    assert door["ok"] and (door["width"], door["height"]) == (640, 480) and door["fps"] == 30.0, door
    assert door["detail"] == "" and door["code"] is None
    # the broken URL: refused at once; the hanging one: within the timeout (cameras are tested together)
    assert not cams["broken"]["ok"] and cams["broken"]["code"] == "source_open_failed", cams["broken"]
    assert "cannot open rtsp://127.0.0.1" in cams["broken"]["detail"]
    assert not cams["hanging"]["ok"] and cams["hanging"]["code"] == "source_timeout", cams["hanging"]
    assert cams["hanging"]["width"] is None and took < 15, took
    # P2: no frame (or anything else) written; the data dir holds what it held (the database's own files aside)
    new = {p for p in _files(env.data_dir) - before if not p.name.startswith("openlfr.db")}
    assert not new, new

    # others see which camera failed, not why
    r = env.client.post(f"/api/deployments/{dep}/cameras/test", headers=env.h("operator"))
    assert r.status_code == 200
    cams = {c["camera"]: c for c in r.json()["cameras"]}
    assert cams["door"]["ok"] and cams["door"]["width"] == 640
    for name in ("broken", "hanging"):
        assert cams[name]["detail"] == "details for admins only" and cams[name]["code"] is None, cams[name]
        assert "cannot open" not in r.text and "no frame within" not in r.text  # the masked URL: as on the page
    assert env.client.post(f"/api/deployments/{dep}/cameras/test", headers=env.h("auditor")).status_code == 403

    # audited: who, which cameras, the outcome and error codes; no URL, no error text
    from openlfr.storage.models import AuditEvent

    with env.ctx.db.session() as s:
        events = list(s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "deployment.cameras_tested")))
    assert [e.actor for e in events] == ["admin1", "operator1"]
    details: Any = events[0].details
    got = {c["camera"]: c for c in details["cameras"]}
    assert got["door"] == {"camera": "door", "ok": True, "width": 640, "height": 480, "fps": 30.0, "code": None}
    assert got["broken"]["code"] == "source_open_failed" and "127.0.0.1" not in str(details)


def test_camera_test_refused_after_the_end(env: ApiEnv) -> None:
    dep = _deployment(env, [{"name": "door", "url": str(CLIP)}])
    assert env.client.post(f"/api/deployments/{dep}/stop", headers=env.h("operator")).status_code == 200
    r = env.client.post(f"/api/deployments/{dep}/cameras/test", headers=env.h("operator"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "deployment_ended", r.text
