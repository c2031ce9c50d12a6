"""Odd ids in API paths (huge, negative, non-numeric, unicode, control characters) answer 404 (or
400/422 for malformed ones) with the JSON error body, never 500, on every route with a path id."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from tests.conftest import TEST_DATA
from tests.integration.apihelp import PASSWORD, ROLES, ApiEnv, make_env, seed_live_deployment

ODD = [
    "99999999999999999999999999",
    "9223372036854775808",
    "2147483648",
    "-1",
    "-99999999999999999999",
    "0",
    "1.5",
    "1e400",
    "nan",
    "abc",
    "%E2%98%83",
    "%C3%A9l%C3%A8ve",
    "%00",
    "%0A",
    "%20",
    "..%2F..",
    "0x10",
    "+1",
    "１２",
]
OK_CODES = {400, 404, 405, 409, 415, 422}


def _pg_env(data_dir: Path, url: str) -> ApiEnv:
    from fastapi.testclient import TestClient

    from openlfr.api.app import create_app
    from openlfr.api.config import load_api_settings
    from openlfr.services import users
    from openlfr.settings import load_settings
    from openlfr.storage.crypto import create_key_file
    from openlfr.storage.db import Database

    settings = load_settings(data_dir=data_dir, key=None, database_url=url)
    data_dir.mkdir(parents=True, exist_ok=True)
    create_key_file(settings.resolved_key_file)
    db = Database(settings.db_url)
    db.upgrade()
    db.dispose()
    app = create_app(settings, api_settings=load_api_settings(live_mode="thread"))
    ctx = app.state.openlfr.ctx
    tokens = {}
    for role in ROLES:
        users.create_user(ctx, role + "1", PASSWORD, role, actor="test")
        tokens[role] = users.create_token(ctx, role + "1", "test", name="tests").token
    return ApiEnv(app, TestClient(app), ctx, tokens, data_dir)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENLFR_KEY", raising=False)
        mp.delenv("OPENLFR_DATABASE_URL", raising=False)
        data_dir = tmp_path_factory.mktemp("odd") / "data"
        if request.param == "sqlite":
            e = make_env(data_dir)
        else:
            pg = request.getfixturevalue("pg_server")
            e = _pg_env(data_dir, pg.create_db("odd_ids"))
        e.extra.update(seed_live_deployment(e, TEST_DATA / "faces", ["Al_Gore"]))
        yield e
        e.client.close()
        if request.param != "sqlite":
            e.ctx.db.dispose()
            request.getfixturevalue("pg_server").drop_db("odd_ids")


CONSOLE = [("GET", "/alerts/{ref}"), ("GET", "/deployments/{ref}"), ("GET", "/watchlists/{name}")]


def _routes(env: ApiEnv) -> list[tuple[str, str]]:
    out = list(CONSOLE)
    for path, ops in env.app.openapi()["paths"].items():
        if "{" not in path or path.endswith("preview.mjpg"):
            continue
        out += [(m.upper(), path) for m in sorted(ops)]
    return out


def _small_int(v: str) -> bool:
    try:
        return 0 <= int(v) < 1000
    except ValueError:
        return False


def test_odd_ids_never_500(env: ApiEnv) -> None:
    routes = _routes(env)
    assert len(routes) >= 20, routes
    bad: list[str] = []
    n = 0
    body = {"verdict": "false_alert", "officer": "x", "reason": "x", "note": "x", "role": "operator"}
    for method, path in routes:
        names = re.findall(r"{(\w+)(?::\w+)?}", path)
        for odd in ODD:
            if method in {"DELETE", "PATCH"} and _small_int(odd):
                continue  # "+1" is a real id: don't revoke the caller's own token or demote them
            for which in names:
                url = path
                for nm in names:
                    val = odd if nm == which else ("standing" if nm == "name" else "1")
                    url = re.sub(r"{" + nm + r"(?::\w+)?}", val, url)
                kw = {"json": body} if method in {"POST", "PATCH", "PUT"} else {}
                for role in ("admin", "supervisor", "operator"):  # the first role the route lets in
                    r = env.client.request(method, url, headers=env.h(role), **kw)
                    if r.status_code != 403:
                        break
                n += 1
                if r.status_code >= 500 or (r.status_code not in OK_CODES and r.status_code >= 400):
                    bad.append(f"{method} {url} -> {r.status_code} {r.text[:160]}")
                elif r.status_code >= 400 and path.startswith("/api/"):
                    j = r.json()
                    if not (isinstance(j, dict) and "error" in j and {"code", "message"} <= set(j["error"])):
                        bad.append(f"{method} {url} -> {r.status_code} body {r.text[:160]}")
    assert n > 200
    assert not bad, "\n".join(bad[:40]) + f"\n({len(bad)} of {n})"


def test_odd_ids_under_every_role(env: ApiEnv) -> None:
    for role in ("supervisor", "operator", "auditor"):
        for path in (
            "/api/alerts/{x}",
            "/api/deployments/{x}",
            "/api/users/{x}",
            "/api/reports/deployments/{x}",
            "/api/watchlists/standing/entries/{x}/images/0",
        ):
            for odd in ("99999999999999999999999999", "-1", quote("☃"), "%00"):
                r = env.client.get(path.replace("{x}", odd), headers=env.h(role))
                assert r.status_code in {403, 404, 422, 400}, (role, path, odd, r.status_code, r.text)
                assert "error" in r.json()
