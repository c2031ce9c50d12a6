"""Names with '/' or control/invisible characters are refused with a clear error at the API and the
CLI (watchlist names, person ids, deployment names, camera names, usernames); nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import TEST_DATA
from tests.integration.apihelp import PASSWORD, ApiEnv, make_env

from openlfr.errors import InputError
from openlfr.names import check_name, name_problem

BAD = [
    "a/b",
    "..\\x",
    "nul\x00x",
    "tab\tx",
    "cr\rx",
    "lf\nx",
    "esc\x1b[31mred",
    "del\x7fx",
    "rlo\u202egpj.exe",
    "zw\u200bsp",
    "c1\x85x",
    "ls\u2028x",
    ".",
    "..",
    " .. ",
]
GOOD = ["Standing list 2026", "O'Brien-Smith", "élève_01", "名前", "a.b@c", "x (1)"]
FACE = TEST_DATA / "faces" / "Al_Gore" / "Al_Gore_0001.jpg"


@pytest.mark.parametrize("bad", BAD)
def test_name_problem_refuses(bad: str) -> None:
    assert name_problem(bad) is not None
    with pytest.raises(InputError) as ei:
        check_name(bad, "watchlist name", "bad_name")
    assert ei.value.code == "bad_name" and "watchlist name" in ei.value.message


@pytest.mark.parametrize("good", GOOD)
def test_name_problem_accepts(good: str) -> None:
    assert name_problem(good) is None


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENLFR_KEY", raising=False)
        mp.delenv("OPENLFR_DATABASE_URL", raising=False)
        e = make_env(tmp_path_factory.mktemp("names") / "data")
        yield e
        e.client.close()


def _err(r: Any, code: str) -> None:
    assert r.status_code in (400, 422), (r.status_code, r.text)
    assert r.json()["error"]["code"] == code, r.text


def test_api_refuses_bad_names(env: ApiEnv) -> None:
    c, sup = env.client, env.h("supervisor")
    for bad in BAD:
        _err(c.post("/api/watchlists", json={"name": bad}, headers=sup), "bad_name")
    assert c.get("/api/watchlists", headers=sup).json()["count"] == 0
    r = c.post("/api/watchlists", json={"name": "standing"}, headers=sup)
    assert r.status_code == 201, r.text
    for bad in BAD:
        r = c.post(
            "/api/watchlists/standing/entries",
            data={"person_id": bad},
            files=[("files", ("a.jpg", FACE.read_bytes(), "image/jpeg"))],
            headers=sup,
        )
        _err(r, "bad_person_id")
    assert c.get("/api/watchlists/standing", headers=sup).json()["entries"] == []
    now = datetime.now(UTC)
    base = {
        "location": "High St",
        "purpose": "names test",
        "planned_start": now.isoformat(),
        "planned_end": (now + timedelta(hours=1)).isoformat(),
        "source_watchlist": "standing",
        "all_entries_reason": "test",
        "threshold": 0.5,
        "legal_basis": "Common law policing powers; force LFR policy v1",
        "cameras": [{"name": "cam1", "url": "rtsp://camera.invalid/x"}],
    }
    for bad in BAD:
        _err(c.post("/api/deployments", json={**base, "name": bad}, headers=env.h("operator")), "bad_name")
        r = c.post(
            "/api/deployments",
            json={**base, "cameras": [{"name": bad, "url": "rtsp://camera.invalid/x"}]},
            headers=env.h("operator"),
        )
        assert r.status_code in (400, 422) and r.json()["error"]["code"] in ("bad_camera", "validation_error"), r.text
    assert c.get("/api/deployments", headers=sup).json()["count"] == 0
    for bad in BAD:
        r = c.post(
            "/api/users", json={"username": bad, "password": PASSWORD, "role": "operator"}, headers=env.h("admin")
        )
        assert r.status_code in (400, 422), r.text
        assert r.json()["error"]["code"] in ("bad_username", "validation_error"), r.text


def test_cli_refuses_bad_names(data_dir: Path, cli: Any) -> None:
    assert cli("init").returncode == 0
    for bad in ("a/b", "esc\x1b[2Jx", "rlo\u202ex", "tab\tx"):
        r = cli("watchlist", "create", bad)
        assert r.returncode != 0 and "bad_name" in r.stdout + r.stderr, r.stdout + r.stderr
    assert cli("watchlist", "create", "demo").returncode == 0
    r = cli("watchlist", "add", "demo", "--person", "x/y", "--image", str(FACE))
    assert r.returncode != 0 and "bad_person_id" in r.stdout + r.stderr, r.stdout + r.stderr
    r = cli("watchlist", "show", "demo", "--json")
    assert r.returncode == 0 and "x/y" not in r.stdout


def test_live_camera_names_refused() -> None:
    from pydantic import ValidationError

    from openlfr.runtime.workers import CameraSpec
    from openlfr.services.live import RunOptions, camera_specs

    with pytest.raises(InputError) as ei:
        camera_specs(["/x.mp4"], RunOptions(), names=["door/1"])
    assert ei.value.code == "bad_camera"
    with pytest.raises(ValidationError):
        CameraSpec(name="a\nb", url="/x.mp4")
