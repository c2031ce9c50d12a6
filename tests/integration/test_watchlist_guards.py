"""Issue 13, items 4 and 5, through the real API and the real CLI on one SQLite data dir.

Item 4: a deployment's own watchlist changes only through the deployment; the ordinary watchlist
paths (API and CLI: enrol, add photos, remove, delete, import) refuse with 409
``deployment_watchlist`` while it is a draft, authorised or live, and nothing changes.

Item 5: an entry reference is the person id, always; an all-digit person id is never read as an
entry id (``entry:<id>`` is the explicit form for ids)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import run_cli
from tests.integration.apihelp import ApiEnv, make_env
from tests.integration.conftest import FACES

WHY = "test: a fixed threshold for this test, not an operational choice of operating point"


def _photo(person: str, i: int = 0) -> Path:
    return sorted((FACES / person).glob("*.jpg"))[i]


def _enrol(env: ApiEnv, wl: str, person_id: str, face: str) -> Any:
    p = _photo(face)
    return env.client.post(
        f"/api/watchlists/{wl}/entries",
        data={"person_id": person_id},
        files=[("files", (p.name, p.read_bytes(), "image/jpeg"))],
        headers=env.h("supervisor"),
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENLFR_KEY", raising=False)
        mp.delenv("OPENLFR_DATABASE_URL", raising=False)
        e = make_env(tmp_path_factory.mktemp("guards") / "data")
        assert e.client.post("/api/watchlists", json={"name": "standing"}, headers=e.h("supervisor")).status_code == 201
        for person in ("Al_Gore", "Adrien_Brody"):
            r = _enrol(e, "standing", person, person)
            assert r.status_code == 200 and r.json()["accepted_images"] == 1, r.text
        yield e
        e.client.close()


def _entries(env: ApiEnv, wl: str) -> list[dict[str, Any]]:
    r = env.client.get(f"/api/watchlists/{wl}", headers=env.h("supervisor"))
    assert r.status_code == 200, r.text
    return list(r.json()["entries"])


def _refused(r: Any) -> None:
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "deployment_watchlist", r.text


def test_deployment_watchlist_is_read_only_outside_the_deployment(env: ApiEnv, tmp_path: Path) -> None:
    from openlfr.services import deployments

    c = env.client
    now = datetime.now(UTC)
    r = c.post(
        "/api/deployments",
        headers=env.h("operator"),
        json={
            "location": "High St, Sutton, outside the station",
            "purpose": "guard test",
            "planned_start": (now - timedelta(minutes=1)).isoformat(),
            "planned_end": (now + timedelta(hours=1)).isoformat(),
            "source_watchlist": "standing",
            "all_entries_reason": "test",
            "threshold": 0.5,
            "legal_basis": "Common law policing powers; force LFR policy v1",
            "cameras": [{"name": "c1", "url": "rtsp://camera.invalid/clip"}],
        },
    )
    assert r.status_code == 201, r.text
    dep = r.json()
    wl = dep["watchlist"]
    before = _entries(env, wl)
    assert {e["person_id"] for e in before} == {"Al_Gore", "Adrien_Brody"}
    folder = tmp_path / "people" / "Abdullah_Gul"
    folder.mkdir(parents=True)
    shutil.copy(_photo("Abdullah_Gul"), folder / "a.jpg")
    cli_env = {"OPENLFR_DATA_DIR": str(env.data_dir)}

    def attempt_everything(state: str) -> None:
        _refused(_enrol(env, wl, "Abdullah_Gul", "Abdullah_Gul"))  # new person
        _refused(_enrol(env, wl, "Al_Gore", "Al_Gore"))  # photo to an entry
        _refused(c.delete(f"/api/watchlists/{wl}/entries/Al_Gore", headers=env.h("supervisor")))
        _refused(c.delete(f"/api/watchlists/{wl}/entries/entry:{before[0]['id']}", headers=env.h("admin")))
        _refused(c.delete(f"/api/watchlists/{wl}", headers=env.h("admin")))
        for args in (
            ("watchlist", "add", wl, "--person", "Abdullah_Gul", "--image", str(folder / "a.jpg")),
            ("watchlist", "add", wl, "--person", "Al_Gore", "--image", str(folder / "a.jpg")),
            ("watchlist", "remove", wl, "Al_Gore", "--yes"),
            ("watchlist", "remove", wl, "--entry-id", str(before[0]["id"]), "--yes"),
            ("watchlist", "import", wl, str(folder.parent)),
            ("watchlist", "delete", wl, "--yes"),
        ):
            p = run_cli(*args, env=cli_env)
            assert p.returncode != 0 and "deployment_watchlist" in p.stderr, (state, args, p.stdout, p.stderr)
        assert _entries(env, wl) == before, state

    attempt_everything("draft")
    r = c.post(
        f"/api/deployments/{dep['id']}/authorise",
        json={"officer": "Supt T", "justification": WHY},
        headers=env.h("supervisor"),
    )
    assert r.status_code == 200, r.text
    attempt_everything("authorised")
    deployments.mark_live(env.ctx, dep["id"], "test")
    attempt_everything("live")
    # The list is exactly what was authorised: the deployment can still run.
    assert deployments.live_plan(env.ctx, dep["id"]).watchlist_size == 2
    # Ending the deployment (its own path) still deletes it.
    r = c.post(f"/api/deployments/{dep['id']}/stop", headers=env.h("supervisor"))
    assert r.status_code == 200 and r.json()["watchlist_deleted"]["entries"] == 2, r.text
    assert c.get(f"/api/watchlists/{wl}", headers=env.h("supervisor")).status_code == 404


def test_all_digit_person_id_is_never_an_entry_id(env: ApiEnv) -> None:
    c, h = env.client, env.h("supervisor")
    assert c.post("/api/watchlists", json={"name": "refs"}, headers=h).status_code == 201
    assert _enrol(env, "refs", "Al_Gore", "Al_Gore").json()["accepted_images"] == 1
    gore = next(e for e in _entries(env, "refs") if e["person_id"] == "Al_Gore")
    # A person whose id is all digits, and a reference equal to Al Gore's entry id.
    digits = str(gore["id"])
    r = c.delete(f"/api/watchlists/refs/entries/{digits}", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "entry_not_found", r.text
    assert c.get(f"/api/watchlists/refs/entries/{digits}/images/0", headers=h).status_code == 404
    assert {e["person_id"] for e in _entries(env, "refs")} == {"Al_Gore"}  # untouched
    assert _enrol(env, "refs", digits, "Adrien_Brody").json()["accepted_images"] == 1
    r = c.delete(f"/api/watchlists/refs/entries/{digits}", headers=h)
    assert r.status_code == 200 and r.json()["person_id"] == digits, r.text
    assert {e["person_id"] for e in _entries(env, "refs")} == {"Al_Gore"}
    # Ids only through the explicit form; bad and out-of-range forms are clear errors, not 500s.
    r = c.get(f"/api/watchlists/refs/entries/entry:{gore['id']}/images/0", headers=h)
    assert r.status_code == 200 and r.content == _photo("Al_Gore").read_bytes()
    r = c.delete("/api/watchlists/refs/entries/entry:abc", headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_entry_ref"
    assert c.delete("/api/watchlists/refs/entries/entry:99999999999", headers=h).status_code == 404
    assert c.delete("/api/watchlists/refs/entries/99999999999", headers=h).status_code == 404
    r = _enrol(env, "refs", "entry:5", "Adrien_Brody")
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_person_id"
    # The CLI: a digit string is a person id; an entry id only with --entry-id.
    cli_env = {"OPENLFR_DATA_DIR": str(env.data_dir)}
    assert _enrol(env, "refs", digits, "Adrien_Brody").json()["accepted_images"] == 1
    other = next(e for e in _entries(env, "refs") if e["person_id"] == digits)
    p = run_cli("watchlist", "remove", "refs", str(other["id"]), "--yes", env=cli_env)
    assert p.returncode == 2 and "entry_not_found" in p.stderr, p.stderr  # no person named like that id
    p = run_cli("watchlist", "remove", "refs", digits, "--json", env=cli_env)
    assert p.returncode == 0 and f'"person_id": "{digits}"' in p.stdout, p.stderr
    assert {e["person_id"] for e in _entries(env, "refs")} == {"Al_Gore"}
    p = run_cli("watchlist", "remove", "refs", "--entry-id", str(gore["id"]), "--json", env=cli_env)
    assert p.returncode == 0 and '"person_id": "Al_Gore"' in p.stdout, p.stderr
    assert _entries(env, "refs") == []
