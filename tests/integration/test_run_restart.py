"""Crash and restart of ``openlfr run --deployment`` (issue 18, item 1), through the real CLI.

A synthetic walk-through (five listed people) is the deployment's file camera. The first run is
killed with SIGKILL right after its 3rd stored alert; a second runner started while the first is
live is refused; the run started again replays the file: every alert is stored exactly once (the
replayed alerts get the same ids), the database's integrity check and ``openlfr audit verify`` pass.
A lease held by a runner on another host is honoured until it lapses.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from openlfr.errors import ConflictError

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
FACES = REPO / "tests" / "data" / "faces"
PW = "restart-long-password-1"


def _ok(p: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert p.returncode == 0, f"{p.args}\n{p.stdout}\n{p.stderr}"
    return p


def _deployment(cli: Any, tmp_path: Path) -> str:
    images = tmp_path / "people"
    shutil.copytree(FACES, images)
    video = tmp_path / "walk.mp4"
    _ok(
        cli(
            "synth",
            "walkthrough",
            "--images",
            str(images),
            "--out",
            str(video),
            "--truth",
            str(tmp_path / "truth.json"),
            "--people",
            "5",
            "--watchlisted",
            "5",
            "--size",
            "640x360",
            "--fps",
            "8",
            "--enrol-images",
            "1",
            "--pass-images",
            "2",
            "--seed",
            "3",
            "--watchlist-dir",
            str(tmp_path / "wl"),
        )
    )
    _ok(cli("init"))
    _ok(cli("watchlist", "create", "wl"))
    _ok(cli("watchlist", "import", "wl", str(tmp_path / "wl")))
    start = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    end = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    made = json.loads(
        _ok(
            cli(
                "deployment",
                "create",
                "--location",
                "Stage door, restart test",
                "--purpose",
                "test",
                "--start",
                start,
                "--end",
                end,
                "--source-watchlist",
                "wl",
                "--all-entries",
                "test subjects",
                "--camera",
                f"cam1={video}",
                "--json",
                "--legal-basis",
                "Common law policing powers; force LFR policy v1",
            )
        ).stdout
    )
    dep = str(made["id"])
    _ok(cli("user", "create", "--username", "sup", "--role", "supervisor", "--password-stdin", input=PW + "\n"))
    _ok(
        cli(
            "deployment", "authorise", dep, "--officer", "Insp. Test", "--username", "sup", env={"OPENLFR_PASSWORD": PW}
        )
    )
    return dep


def _alerts(stdout: str) -> list[dict[str, Any]]:
    out = []
    for ln in stdout.splitlines():
        if ln.strip().startswith("{"):
            ev = json.loads(ln)
            if ev.get("event") == "alert":
                out.append(ev)
    return out


def test_sigkill_after_third_alert_then_restart(cli: Any, data_dir: Path, tmp_path: Path) -> None:
    dep = _deployment(cli, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "openlfr", "run", "--deployment", dep, "--json", "--realtime"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    first: list[dict[str, Any]] = []
    refused: subprocess.CompletedProcess[str] | None = None
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 300
        while len(first) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            first += _alerts(line)
            if len(first) == 1 and refused is None:
                # a second runner of the live deployment while the first holds it: refused, nothing run
                refused = cli("run", "--deployment", dep, "--json", timeout=120)
        # the 3rd alert line is printed after its commit: kill now, mid-run
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(first) == 3, proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == -signal.SIGKILL
    assert refused is not None and refused.returncode != 0
    assert "deployment_busy" in refused.stderr and "already being run" in refused.stderr, refused.stderr
    assert _alerts(refused.stdout) == []

    # run again: the lease of the killed runner (same host, process gone) is taken over at once
    again = _ok(cli("run", "--deployment", dep, "--json", timeout=600))
    second = _alerts(again.stdout)
    assert {a["alert_id"] for a in first} <= {a["alert_id"] for a in second}, "replayed alerts got new ids"

    stored = json.loads(_ok(cli("alert", "list", "--deployment", dep, "--json")).stdout)["data"]
    uids = [a["alert_uid"] for a in stored]
    assert len(uids) == len(set(uids))
    assert set(uids) == {a["alert_id"] for a in first + second}, "an alert was lost or stored twice"
    pairs = [(a["person_id"], a["track_id"]) for a in second]
    assert len(pairs) == len(set(pairs)) and len(stored) == len(second) >= 4
    con = sqlite3.connect(data_dir / "openlfr.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    _ok(cli("audit", "verify"))


def test_lease_of_another_host_holds_until_it_lapses(gov_ctx: Any, enrolled_people: list[Any]) -> None:
    from tests.integration.conftest import seed_watchlist

    from openlfr.services import deployments as dsvc
    from openlfr.services.lease import DeploymentLease
    from openlfr.storage.models_gov import Deployment

    ctx = gov_ctx
    seed_watchlist(ctx, "standing", enrolled_people)
    now = datetime.now(UTC)
    d = dsvc.create(
        ctx,
        location="Mare St, Hackney, by the town hall",
        purpose="lease test",
        planned_start=now - timedelta(minutes=1),
        planned_end=now + timedelta(hours=1),
        actor="c",
        source_watchlist="standing",
        all_entries_reason="op",
        cameras=[dsvc.CameraSpec("cam1", "a.mp4")],
        legal_basis="Common law policing powers; force LFR policy v1",
    )
    a = DeploymentLease(ctx, d.id, holder="other-host.example:4242:aaaa", ttl_s=60)
    a.acquire()
    b = DeploymentLease(ctx, d.id, ttl_s=60)
    with pytest.raises(ConflictError) as exc:
        b.acquire()
    assert exc.value.code == "deployment_busy" and "other-host.example" in exc.value.message
    assert not b.renew()  # b holds nothing
    # the other host's runner died and stopped renewing: its lease lapses
    with ctx.db.session() as s:
        s.execute(
            update(Deployment).where(Deployment.id == d.id).values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    b.acquire()
    assert not a.renew(), "the lapsed holder must learn it lost the lease"
    assert b.renew()
    b.release()
    with ctx.db.session() as s:
        assert s.get(Deployment, d.id).lease_holder is None  # type: ignore[union-attr]
