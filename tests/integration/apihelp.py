"""Shared helpers for the API tests: an initialised data dir, the app, one user and token per role."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

ROLES = ("admin", "supervisor", "operator", "auditor")
PASSWORD = "correct-horse-battery"


@dataclass
class ApiEnv:
    app: Any
    client: Any
    ctx: Any
    tokens: dict[str, str]
    data_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def h(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def init_data_dir(data_dir: Path) -> Any:
    from openlfr.settings import load_settings
    from openlfr.storage.crypto import create_key_file
    from openlfr.storage.db import Database

    settings = load_settings(data_dir=data_dir, key=None, database_url=None)
    data_dir.mkdir(parents=True, exist_ok=True)
    create_key_file(settings.resolved_key_file)
    db = Database(settings.db_url)
    db.upgrade()
    db.dispose()
    return settings


def make_env(data_dir: Path, **api_overrides: Any) -> ApiEnv:
    from fastapi.testclient import TestClient

    from openlfr.api.app import create_app
    from openlfr.api.config import load_api_settings
    from openlfr.services import users

    settings = init_data_dir(data_dir)
    app = create_app(settings, api_settings=load_api_settings(**{"live_mode": "thread", **api_overrides}))
    ctx = app.state.openlfr.ctx
    tokens = {}
    for role in ROLES:
        users.create_user(ctx, role + "1", PASSWORD, role, actor="test")
        tokens[role] = users.create_token(ctx, role + "1", "test", name="tests").token
    client = TestClient(app)
    return ApiEnv(app, client, ctx, tokens, data_dir)


def jpeg_bytes(w: int = 64, h: int = 64, color: tuple[int, int, int] = (120, 90, 60)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "JPEG")
    return buf.getvalue()


def seed_live_deployment(env: ApiEnv, faces_dir: Path, people: list[str]) -> dict[str, Any]:
    """A standing watchlist (enrolled through the API), a deployment created, authorised and marked
    live through the services (no camera runner), and one stored alert with its images."""
    from openlfr.services import deployments
    from openlfr.services.alerts import StoreAlertSink
    from openlfr.services.watchlists import load_index
    from openlfr.types import AlertRecord

    c = env.client
    r = c.post("/api/watchlists", json={"name": "standing"}, headers=env.h("supervisor"))
    assert r.status_code == 201, r.text
    for person in people:
        first = sorted((faces_dir / person).glob("*.jpg"))[:1]
        files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in first]
        r = c.post(
            "/api/watchlists/standing/entries", data={"person_id": person}, files=files, headers=env.h("supervisor")
        )
        assert r.status_code == 200 and r.json()["accepted_images"] == 1, r.text
    now = datetime.now(UTC)
    r = c.post(
        "/api/deployments",
        headers=env.h("operator"),
        json={
            "location": "High St, Sutton, outside the station",
            "purpose": "API test",
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
    dep = r.json()
    r = c.post(
        f"/api/deployments/{dep['id']}/authorise",
        json={"officer": "Supt Test", "justification": "API test: the alert is synthetic, stored at a fixed threshold"},
        headers=env.h("supervisor"),
    )
    assert r.status_code == 200, r.text
    plan = deployments.mark_live(env.ctx, dep["id"], "test")
    index, _ = load_index(env.ctx, plan.watchlist)
    entry = index.entries[0]
    probe = (sorted((faces_dir / people[0]).glob("*.jpg"))[1]).read_bytes()
    rec = AlertRecord(
        alert_id="api-test-alert-1",
        deployment_id=dep["id"],
        watchlist_id=plan.watchlist_id,
        entry_id=entry.entry_id,
        person_id=entry.person_id,
        score=0.97,
        threshold=plan.threshold,
        camera="cam1",
        occurred_at=now,
        track_id=1,
        probe_jpeg=probe,
        frame_jpeg=jpeg_bytes(320, 180),
        box=(1.0, 2.0, 30.0, 40.0),
        models={},
    )
    alert_id = StoreAlertSink(env.ctx, dep["id"]).store(rec)
    return {"deployment_id": dep["id"], "alert_id": alert_id, "plan": plan}
