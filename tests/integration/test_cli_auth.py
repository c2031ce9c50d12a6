"""Issue 13, item 10: the CLI's role-restricted commands act as a real user (password or API
token), checked by the same services as the API, and the audit log names that user. A stated
role (``--as-role`` / ``OPENLFR_ROLE``) is no longer accepted. Real CLI subprocesses, real SQLite."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import run_cli
from tests.integration.conftest import FACES

PW = "cli-auth-long-password"


def _ok(p: Any) -> Any:
    assert p.returncode == 0, f"{p.args}\n{p.stdout}\n{p.stderr}"
    return p


def _audit(data_dir: Path) -> list[tuple[str, str]]:
    con = sqlite3.connect(data_dir / "openlfr.db")
    try:
        return [(a, b) for a, b in con.execute("SELECT actor, action FROM audit_events ORDER BY seq")]
    finally:
        con.close()


def test_role_restricted_cli_commands_need_a_real_user(data_dir: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("OPENLFR_PASSWORD", raising=False)
    monkeypatch.delenv("OPENLFR_TOKEN", raising=False)
    monkeypatch.delenv("OPENLFR_USERNAME", raising=False)
    _ok(run_cli("init"))
    for user, role in (("sup", "supervisor"), ("op", "operator")):
        _ok(
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "openlfr",
                    "user",
                    "create",
                    "--username",
                    user,
                    "--role",
                    role,
                    "--password-stdin",
                ],
                input=PW + "\n",
                capture_output=True,
                text=True,
                env=dict(os.environ),
                timeout=120,
            )
        )
    _ok(run_cli("watchlist", "create", "standing"))
    _ok(
        run_cli(
            "watchlist",
            "add",
            "standing",
            "--person",
            "Al_Gore",
            "--image",
            str(sorted((FACES / "Al_Gore").glob("*.jpg"))[0]),
        )
    )
    now = datetime.now(UTC)
    made = json.loads(
        _ok(
            run_cli(
                "deployment",
                "create",
                "--location",
                "High St, Sutton, outside the station",
                "--purpose",
                "cli auth test",
                "--start",
                (now - timedelta(minutes=1)).isoformat(),
                "--end",
                (now + timedelta(hours=1)).isoformat(),
                "--source-watchlist",
                "standing",
                "--all-entries",
                "test",
                "--camera",
                "c1=/no/clip.mp4",
                "--legal-basis",
                "Common law policing powers; DPA 2018 s.35; force LFR policy v2",
                "--json",
            )
        ).stdout
    )
    dep = str(made["id"])
    authorise = ("deployment", "authorise", dep, "--officer", "Supt A")

    # No user, a stated role (option or the old environment variable): refused, nothing changes.
    p = run_cli(*authorise)
    assert p.returncode == 2 and "error[unauthenticated]" in p.stderr, p.stderr
    p = run_cli(*authorise, "--as-role", "supervisor")
    assert p.returncode == 2 and "error[role_not_accepted]" in p.stderr, p.stderr
    p = run_cli(*authorise, env={"OPENLFR_ROLE": "supervisor"})
    assert p.returncode == 2 and "error[unauthenticated]" in p.stderr, p.stderr
    # Wrong password: refused and audited as a failed login; a real operator: forbidden by role.
    p = run_cli(*authorise, "--username", "sup", env={"OPENLFR_PASSWORD": "not-the-password"})
    assert p.returncode == 2 and "error[bad_credentials]" in p.stderr, p.stderr
    assert ("sup", "auth.login_failed") in _audit(data_dir)
    p = run_cli(*authorise, "--username", "op", env={"OPENLFR_PASSWORD": PW})
    assert p.returncode == 2 and "error[forbidden]" in p.stderr, p.stderr
    assert json.loads(_ok(run_cli("deployment", "show", dep, "--json")).stdout)["state"] == "draft"

    # The supervisor, password through the environment (scripts) or typed at the prompt (stdin).
    out = json.loads(_ok(run_cli(*authorise, "--username", "sup", "--json", env={"OPENLFR_PASSWORD": PW})).stdout)
    assert out["state"] == "authorised" and out["authorised_by"] == "sup"
    assert ("sup", "deployment.authorise") in _audit(data_dir)

    # A token works the same way and acts as its owner; a revoked token is refused.
    token = json.loads(_ok(run_cli("user", "token", "sup", "--name", "script", "--json")).stdout)
    p = _ok(
        run_cli(
            "alert", "hold", "--deployment", dep, "--reason", "case 1", "--json", env={"OPENLFR_TOKEN": token["token"]}
        )
    )
    assert json.loads(p.stdout)["placed_by"] == "sup"
    assert _audit(data_dir)[-1][0] == "sup"
    hold_id = str(json.loads(p.stdout)["id"])
    p = run_cli("alert", "release", hold_id, "--username", "op", env={"OPENLFR_PASSWORD": PW})
    assert p.returncode == 2 and "error[forbidden]" in p.stderr, p.stderr
    _ok(run_cli("user", "revoke-token", "sup", str(token["id"])))
    p = run_cli("alert", "release", hold_id, "--token", token["token"])
    assert p.returncode == 2 and "error[unauthenticated]" in p.stderr, p.stderr
    p = subprocess.run(
        [sys.executable, "-m", "openlfr", "alert", "release", hold_id, "--username", "sup", "--json"],
        input=PW + "\n",
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    _ok(p)
    assert json.loads(p.stdout)["active"] is False
    assert _audit(data_dir)[-1] == ("sup", "legal_hold.release")
