"""Issue 13, item 7: API tokens and console sessions, through the real app, SQLite and the real CLI.

Tokens expire (OPENLFR_TOKEN_DAYS: default and longest lifetime; older tokens without an expiry
end that long after creation); an admin's password reset or a deactivation revokes the user's
tokens and ends their sessions (reactivation brings nothing back); admins list and revoke a
user's tokens (API and CLI); changing one's own password ends one's other sessions only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from tests.conftest import run_cli
from tests.integration.apihelp import PASSWORD, ApiEnv, make_env

from openlfr.services import users
from openlfr.storage.models_users import ApiToken

NEW_PASSWORD = "another-long-passphrase"


@pytest.fixture
def env(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiEnv]:
    monkeypatch.delenv("OPENLFR_KEY", raising=False)
    monkeypatch.delenv("OPENLFR_DATABASE_URL", raising=False)
    monkeypatch.delenv("OPENLFR_TOKEN_DAYS", raising=False)
    e = make_env(tmp_path / "data")
    yield e
    e.client.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _login(env: ApiEnv, username: str, password: str = PASSWORD) -> tuple[TestClient, str]:
    c = TestClient(env.app)
    r = c.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return c, r.json()["csrf_token"]


def _user_id(env: ApiEnv, username: str) -> int:
    return users.get_user(env.ctx, username).id


def test_tokens_expire_by_default_and_within_the_limit(env: ApiEnv) -> None:
    c = env.client
    r = c.post("/api/auth/tokens", json={"name": "no expiry asked"}, headers=env.h("operator"))
    assert r.status_code == 201, r.text
    expires = datetime.fromisoformat(r.json()["expires_at"])
    assert abs((expires - datetime.now(UTC)) - timedelta(days=90)) < timedelta(minutes=5)
    r = c.post("/api/auth/tokens", json={"name": "too long", "expires_days": 365}, headers=env.h("operator"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_expiry", r.text
    # An expired token and an old token stored without an expiry are refused; a fresh one works.
    old = users.create_token(env.ctx, "operator1", "test", name="old")
    assert c.get("/api/auth/me", headers=_bearer(old.token)).status_code == 200
    with env.ctx.db.session() as s:
        s.execute(
            update(ApiToken)
            .where(ApiToken.id == old.id)
            .values(expires_at=None, created_at=datetime.now(UTC) - timedelta(days=91))
        )
    assert c.get("/api/auth/me", headers=_bearer(old.token)).status_code == 401
    fresh = users.create_token(env.ctx, "operator1", "test", name="fresh", expires_days=0.5)
    assert c.get("/api/auth/me", headers=_bearer(fresh.token)).status_code == 200
    with env.ctx.db.session() as s:
        s.execute(
            update(ApiToken).where(ApiToken.id == fresh.id).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert c.get("/api/auth/me", headers=_bearer(fresh.token)).status_code == 401


def test_token_lifetime_is_configurable(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENLFR_KEY", raising=False)
    monkeypatch.delenv("OPENLFR_DATABASE_URL", raising=False)
    monkeypatch.setenv("OPENLFR_TOKEN_DAYS", "2")
    e = make_env(tmp_path / "data")
    try:
        t = users.create_token(e.ctx, "auditor1", "test")
        left = datetime.fromisoformat(t.expires_at or "") - datetime.now(UTC)
        assert timedelta(days=2) - timedelta(minutes=5) < left <= timedelta(days=2)
        with pytest.raises(Exception) as err:
            users.create_token(e.ctx, "auditor1", "test", expires_days=3)
        assert getattr(err.value, "code", "") == "bad_expiry"
    finally:
        e.client.close()


def test_password_reset_and_deactivation_revoke_tokens_and_sessions(env: ApiEnv) -> None:
    c, admin = env.client, env.h("admin")
    uid = _user_id(env, "operator1")
    token = env.tokens["operator"]
    session, _ = _login(env, "operator1")
    assert session.get("/api/auth/me").status_code == 200
    r = c.patch(f"/api/users/{uid}", json={"password": NEW_PASSWORD}, headers=admin)
    assert r.status_code == 200, r.text
    assert c.get("/api/auth/me", headers=_bearer(token)).status_code == 401
    assert session.get("/api/auth/me").status_code == 401
    listed = c.get(f"/api/users/{uid}/tokens", headers=admin).json()
    assert listed["count"] == 1 and listed["data"][0]["active"] is False

    # Deactivation: a token made after the reset dies, and reactivating the user does not revive it.
    token2 = users.create_token(env.ctx, "operator1", "test", name="second").token
    session2, _ = _login(env, "operator1", NEW_PASSWORD)
    assert c.patch(f"/api/users/{uid}", json={"active": False}, headers=admin).status_code == 200
    assert c.patch(f"/api/users/{uid}", json={"active": True}, headers=admin).status_code == 200
    assert c.get("/api/auth/me", headers=_bearer(token2)).status_code == 401
    assert session2.get("/api/auth/me").status_code == 401
    assert all(not t["active"] for t in c.get(f"/api/users/{uid}/tokens", headers=admin).json()["data"])


def test_admin_lists_and_revokes_a_users_tokens_api_and_cli(env: ApiEnv) -> None:
    c, admin = env.client, env.h("admin")
    uid = _user_id(env, "auditor1")
    extra = [users.create_token(env.ctx, "auditor1", "test", name=f"script {i}") for i in range(3)]
    r = c.get(f"/api/users/{uid}/tokens", headers=admin)
    assert r.status_code == 200 and r.json()["count"] == 4
    assert all("token" not in t and "token_hash" not in t for t in r.json()["data"])
    assert c.get(f"/api/users/{uid}/tokens", headers=env.h("supervisor")).status_code == 403
    # one token (and not a token of someone else)
    other = _user_id(env, "operator1")
    r = c.delete(f"/api/users/{other}/tokens/{extra[0].id}", headers=admin)
    assert r.status_code == 404 and r.json()["error"]["code"] == "token_not_found"
    r = c.delete(f"/api/users/{uid}/tokens/{extra[0].id}", headers=admin)
    assert r.status_code == 200 and r.json()["revoked"] == 1, r.text
    assert c.get("/api/auth/me", headers=_bearer(extra[0].token)).status_code == 401
    assert c.get("/api/auth/me", headers=_bearer(extra[1].token)).status_code == 200
    # the CLI: list, revoke one, revoke all
    cli_env = {"OPENLFR_DATA_DIR": str(env.data_dir)}
    p = run_cli("user", "tokens", "auditor1", env=cli_env, check=True)
    assert extra[1].prefix in p.stdout and "revoked" in p.stdout and extra[1].token not in p.stdout
    run_cli("user", "revoke-token", "auditor1", str(extra[1].id), env=cli_env, check=True)
    assert c.get("/api/auth/me", headers=_bearer(extra[1].token)).status_code == 401
    assert c.get("/api/auth/me", headers=_bearer(extra[2].token)).status_code == 200
    p = run_cli("user", "revoke-token", "auditor1", "--all", env=cli_env, check=True)
    assert "2 token(s) revoked" in p.stdout, p.stdout  # extra[2] and the fixture's token
    assert c.get("/api/auth/me", headers=_bearer(extra[2].token)).status_code == 401
    assert c.get("/api/auth/me", headers=env.h("auditor")).status_code == 401
    assert c.delete(f"/api/users/{uid}/tokens", headers=admin).json()["revoked"] == 0


def test_changing_my_password_ends_my_other_sessions(env: ApiEnv) -> None:
    mine, csrf = _login(env, "supervisor1")
    other, _ = _login(env, "supervisor1")
    r = mine.post(
        "/api/auth/password",
        json={"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 204, r.text
    assert mine.get("/api/auth/me").status_code == 200  # the session that changed it continues
    assert other.get("/api/auth/me").status_code == 401
    # issue 18: the API tokens of the user are revoked too (a password change is a reaction to a leak)
    assert env.client.get("/api/auth/me", headers=env.h("supervisor")).status_code == 401
