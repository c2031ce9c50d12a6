"""P8, route by route: walk /openapi.json; every route refuses unauthenticated callers (401) and
every role the policy table does not admit (403). A route missing from the table fails the test,
so a new route cannot ship without a stated policy. Auditors never receive a face image."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import TEST_DATA
from tests.integration.apihelp import ROLES, ApiEnv, make_env, seed_live_deployment

ALL = set(ROLES)
STAFF = {"admin", "supervisor", "operator"}
MANAGERS = {"admin", "supervisor"}
OVERSEERS = {"admin", "supervisor", "auditor"}
PUBLIC: set[str] = set()  # marker: no login needed

POLICY: dict[tuple[str, str], set[str]] = {
    ("GET", "/health"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/setup"): PUBLIC,
    ("POST", "/api/auth/logout"): ALL,
    ("GET", "/api/auth/me"): ALL,
    ("POST", "/api/auth/password"): ALL,
    ("GET", "/api/auth/tokens"): ALL,
    ("POST", "/api/auth/tokens"): ALL,
    ("DELETE", "/api/auth/tokens/{token_id}"): ALL,
    ("GET", "/api/users"): {"admin"},
    ("POST", "/api/users"): {"admin"},
    ("GET", "/api/users/{user_id}"): {"admin"},
    ("PATCH", "/api/users/{user_id}"): {"admin"},
    ("DELETE", "/api/users/{user_id}"): {"admin"},
    ("GET", "/api/users/{user_id}/tokens"): {"admin"},
    ("DELETE", "/api/users/{user_id}/tokens"): {"admin"},
    ("DELETE", "/api/users/{user_id}/tokens/{token_id}"): {"admin"},
    ("GET", "/api/watchlists"): STAFF,
    ("POST", "/api/watchlists"): MANAGERS,
    ("GET", "/api/watchlists/{name}"): STAFF,
    ("DELETE", "/api/watchlists/{name}"): MANAGERS,
    ("POST", "/api/watchlists/{name}/reembed"): MANAGERS,
    ("POST", "/api/watchlists/{name}/check"): STAFF,
    ("GET", "/api/watchlists/{name}/entries"): STAFF,
    ("POST", "/api/watchlists/{name}/entries"): MANAGERS,
    ("DELETE", "/api/watchlists/{name}/entries/{entry}"): MANAGERS,
    ("GET", "/api/watchlists/{name}/entries/{entry}/images/{index}"): STAFF,
    ("GET", "/api/deployments"): ALL,
    ("POST", "/api/deployments"): STAFF,
    ("GET", "/api/deployments/{ref}"): ALL,
    ("POST", "/api/deployments/{ref}/authorise"): {"supervisor"},
    ("GET", "/api/deployments/{ref}/operating-point"): ALL,
    ("POST", "/api/deployments/{ref}/start"): {"supervisor", "operator"},
    ("POST", "/api/deployments/{ref}/stop"): STAFF,
    ("POST", "/api/deployments/{ref}/cameras/test"): STAFF,
    ("GET", "/api/cameras"): ALL,
    ("GET", "/api/cameras/{deployment_id}/{camera}/frame.jpg"): STAFF,
    ("GET", "/api/cameras/{deployment_id}/{camera}/preview.mjpg"): STAFF,
    ("GET", "/api/alerts"): ALL,
    ("GET", "/api/alerts/{ref}"): ALL,
    ("GET", "/api/alerts/{ref}/images/{kind}"): STAFF,
    ("POST", "/api/alerts/{ref}/adjudicate"): {"supervisor", "operator"},
    ("POST", "/api/alerts/{ref}/hold"): MANAGERS,
    ("GET", "/api/holds"): OVERSEERS,
    ("POST", "/api/holds/{hold_id}/release"): MANAGERS,
    ("GET", "/api/events"): STAFF,
    ("GET", "/api/reports/deployments/{ref}"): ALL,
    ("GET", "/api/reports/period"): ALL,
    ("GET", "/api/reports/published"): ALL,
    ("POST", "/api/reports/published"): ALL,
    ("GET", "/api/audit"): OVERSEERS,
    ("GET", "/api/audit/verify"): OVERSEERS,
    ("GET", "/api/evaluation"): ALL,
    ("GET", "/api/evaluation/det.png"): ALL,
    ("POST", "/api/evaluation/plan"): ALL,
    ("GET", "/metrics"): {"supervisor"},
    ("GET", "/api/public/deployments"): PUBLIC,
    ("GET", "/api/public/deployments.csv"): PUBLIC,
    ("PATCH", "/api/watchlists/{name}"): MANAGERS,
    ("PATCH", "/api/watchlists/{name}/entries/{entry}"): MANAGERS,
    ("GET", "/api/watchlists/{name}/entries/{entry}/consistency"): STAFF,
    ("GET", "/api/watchlists/{name}/entries/{entry}/photos"): STAFF,
    ("DELETE", "/api/watchlists/{name}/entries/{entry}/images/{index}"): MANAGERS,
    ("POST", "/api/image-views"): STAFF,
    ("GET", "/api/alerts/{ref}/context"): ALL,
    ("GET", "/api/audit/export"): OVERSEERS,
    ("GET", "/api/retro/media"): STAFF,
    ("POST", "/api/retro"): STAFF,
    ("GET", "/api/retro"): STAFF,
    ("GET", "/api/retro/{job_id}"): STAFF,
    ("DELETE", "/api/retro/{job_id}"): STAFF,
    ("POST", "/api/retro/{job_id}/cancel"): STAFF,
    ("GET", "/api/retro/{job_id}/appearances/{index}/{kind}.jpg"): STAFF,
}

PAGES: dict[str, set[str]] = {
    "/live": ALL,
    "/alerts": ALL,
    "/alerts/1": ALL,
    "/deployments": ALL,
    "/deployments/1": ALL,
    "/watchlists": STAFF,
    "/watchlists/standing": STAFF,
    "/reports": ALL,
    "/audit": OVERSEERS,
    "/evaluation": ALL,
    "/users": {"admin"},
    "/account": ALL,
    "/check": STAFF,
    "/retro": STAFF,
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENLFR_KEY", raising=False)
        mp.delenv("OPENLFR_DATABASE_URL", raising=False)
        e = make_env(tmp_path_factory.mktemp("roles") / "data")
        e.extra.update(seed_live_deployment(e, TEST_DATA / "faces", ["Al_Gore", "Adrien_Brody"]))
        yield e
        e.client.close()


def _routes(env: ApiEnv) -> list[tuple[str, str]]:
    assert env.client.get("/openapi.json").status_code == 401  # the schema is for logged-in users
    spec = env.client.get("/openapi.json", headers=env.h("auditor")).json()
    return sorted(
        (m.upper(), p)
        for p, ops in spec["paths"].items()
        for m in ops
        if m in ("get", "post", "put", "patch", "delete")
    )


def _concrete(path: str) -> str:
    return re.sub(
        r"\{(\w+)\}", lambda m: {"kind": "probe", "name": "standing", "camera": "cam1"}.get(m.group(1), "1"), path
    )


def _call(env: ApiEnv, method: str, path: str, headers: dict[str, str] | None = None) -> Any:
    kwargs: dict[str, Any] = {"headers": headers or {}}
    if method in ("POST", "PATCH", "PUT"):
        kwargs["json"] = {}
    if path.endswith("/events") or path.endswith(".mjpg"):
        with env.client.stream(method, path, **kwargs) as r:
            if r.status_code != 200:
                r.read()
            return r
    return env.client.request(method, path, **kwargs)


def test_policy_table_covers_every_route(env: ApiEnv) -> None:
    routes = set(_routes(env))
    assert routes - set(POLICY) == set(), f"routes without a stated policy: {sorted(routes - set(POLICY))}"
    assert set(POLICY) - routes == set(), f"policy for routes that do not exist: {sorted(set(POLICY) - routes)}"


def test_every_route_refuses_unauthenticated_and_wrong_roles(env: ApiEnv) -> None:
    failures = []
    checked = 0
    for method, path in _routes(env):
        allowed = POLICY[(method, path)]
        url = _concrete(path)
        if allowed is PUBLIC:
            continue
        r = _call(env, method, url)
        checked += 1
        if r.status_code != 401:
            failures.append(f"{method} {url} unauthenticated -> {r.status_code}")
        elif "error" not in r.json():
            failures.append(f"{method} {url} 401 body is not the error shape")
        r = _call(env, method, url, {"Authorization": "Bearer olfr_not-a-real-token"})
        if r.status_code != 401:
            failures.append(f"{method} {url} bad token -> {r.status_code}")
        for role in sorted(ALL - allowed):
            r = _call(env, method, url, env.h(role))
            checked += 1
            if r.status_code != 403:
                failures.append(f"{method} {url} as {role} -> {r.status_code} (want 403)")
            elif r.json()["error"]["code"] != "forbidden":
                failures.append(f"{method} {url} as {role}: code {r.json()['error']['code']}")
        for role in sorted(allowed):  # the admitted roles get past the role check (any status but 401/403)
            if method == "DELETE" or path.endswith(("/logout", "/stop")) or path == "/api/users/{user_id}":
                continue  # destructive; the refusals above are what this test is about
            r = _call(env, method, url, env.h(role))
            if r.status_code in (401, 403):
                failures.append(f"{method} {url} as admitted {role} -> {r.status_code}: {r.text[:200]}")
    assert checked > 90
    assert not failures, "\n".join(failures)


def test_console_pages_need_login_and_role(env: ApiEnv) -> None:
    from openlfr.services import users

    for path in PAGES:
        r = env.client.get(path, follow_redirects=False, headers={"Accept": "text/html"})
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), (path, r.status_code)
    for role in ROLES:
        token, _ = users.login(env.ctx, role + "1", "correct-horse-battery")
        for path, allowed in PAGES.items():
            r = env.client.get(
                path, cookies={"openlfr_session": token}, follow_redirects=False, headers={"Accept": "text/html"}
            )
            assert r.status_code == (200 if role in allowed else 403), (role, path, r.status_code)
    assert env.client.get("/login").status_code == 200
    assert env.client.get("/health").json()["status"] == "ok"


def test_auditor_never_receives_a_face_image(env: ApiEnv) -> None:
    """Every GET route the auditor may call, with real ids: no image/* response, no image bytes."""
    alert_id, dep_id = env.extra["alert_id"], env.extra["deployment_id"]
    # staff do get the images (so the refusal below is about the role, not missing data)
    for kind in ("probe", "frame", "reference"):
        r = env.client.get(f"/api/alerts/{alert_id}/images/{kind}", headers=env.h("operator"))
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/"), (kind, r.status_code)
    r = env.client.get("/api/watchlists/standing/entries/Al_Gore/images/0", headers=env.h("supervisor"))
    assert r.status_code == 200 and r.content[:3] == b"\xff\xd8\xff"
    ids = {
        "ref": str(alert_id),
        "kind": "probe",
        "name": "standing",
        "entry": "Al_Gore",
        "index": "0",
        "deployment_id": str(dep_id),
        "camera": "cam1",
        "user_id": "1",
        "token_id": "1",
        "hold_id": "1",
        "job_id": "0",
    }
    seen = 0
    for method, path in _routes(env):
        if method != "GET" or path.endswith(("/events", ".mjpg")):
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
        if path == "/api/deployments/{ref}" or path == "/api/reports/deployments/{ref}":
            url = path.replace("{ref}", str(dep_id))
        for fmt in ("", "?format=html", "?format=csv") if "reports/deployments" in path else ("",):
            r = env.client.get(url + fmt, headers=env.h("auditor"))
            seen += 1
            ctype = r.headers.get("content-type", "")
            assert not ctype.startswith("image/") or path == "/api/evaluation/det.png", (url, ctype)
            assert b"\xff\xd8\xff" not in r.content, url  # no JPEG bytes anywhere in the body
            assert b"image/jpeg;base64" not in r.content, url
    assert seen > 15
    r = env.client.get(f"/api/alerts/{alert_id}", headers=env.h("auditor"))
    assert r.status_code == 200 and "probe" in r.json()["images"]  # metadata yes, pixels no
