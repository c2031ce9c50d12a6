"""Crash safety: a process storing alerts in a loop is killed with SIGKILL; on restart the database
opens, every alert the writer reported as committed is there (with its images), and the audit chain
and its anchor verify. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from tests.integration.conftest import FACES, seed_watchlist

from openlfr.services import audit_admin
from openlfr.services import deployments as dsvc
from openlfr.storage.models_gov import Alert, AlertImage

WRITER = r"""
import sys, uuid
from datetime import UTC, datetime
from pathlib import Path
from sqlalchemy import select
from openlfr.services.context import AppContext
from openlfr.services.alerts import StoreAlertSink
from openlfr.services.deployments import live_plan
from openlfr.storage.models import WatchlistEntry
from openlfr.types import AlertRecord

ctx = AppContext()
dep = int(sys.argv[1])
probe = Path(sys.argv[2]).read_bytes()
plan = live_plan(ctx, dep)
with ctx.db.session() as s:
    entries = list(s.execute(select(WatchlistEntry.id, WatchlistEntry.person_id)
                             .where(WatchlistEntry.watchlist_id == plan.watchlist_id)))
sink = StoreAlertSink(ctx, dep)
i = 0
while True:
    eid, pid = entries[i % len(entries)]
    rec = AlertRecord(alert_id=uuid.uuid4().hex, deployment_id=dep, watchlist_id=plan.watchlist_id, entry_id=eid,
                      person_id=pid, score=plan.threshold + 0.02, threshold=plan.threshold, camera="cam1",
                      occurred_at=datetime.now(UTC), track_id=i, probe_jpeg=probe, frame_jpeg=probe)
    sink.submit(rec)          # returns after the commit
    print(rec.alert_id, flush=True)
    sink.count("cam1", {"faces_seen": 3, "frames_analysed": 10})
    i += 1
"""


@pytest.mark.slow
def test_sigkill_while_writing_alerts(gov_ctx: Any, enrolled_people: list[Any]) -> None:
    ctx = gov_ctx
    seed_watchlist(ctx, "standing", enrolled_people)
    now = datetime.now(UTC)
    d = dsvc.create(
        ctx,
        location="Mare St, Hackney, by the town hall",
        purpose="crash test",
        planned_start=now - timedelta(minutes=1),
        planned_end=now + timedelta(hours=1),
        actor="c",
        source_watchlist="standing",
        all_entries_reason="op",
        cameras=[dsvc.CameraSpec("cam1", "a.mp4")],
        threshold=0.9,
        legal_basis="Common law policing powers; force LFR policy v1",
    )
    dsvc.authorise(
        ctx,
        d.id,
        "sup",
        "supervisor",
        "Supt Z",
        justification="test fixture: alerts here are synthetic, stored at a fixed threshold 0.9",
    )
    dsvc.mark_live(ctx, d.id, "op")
    ctx.close()

    env = {**os.environ, "OPENLFR_ACTOR": "writer"}
    probe = FACES / "Al_Gore" / "Al_Gore_0002.jpg"
    committed: list[str] = []
    for round_ in range(2):  # kill, restart, kill again
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(d.id), str(probe)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        target = 25 + 10 * round_
        got = 0
        while got < target and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed.append(line.strip())
            got += 1
        time.sleep(0.013 * (round_ + 1))  # land inside a later transaction
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        committed += [x.strip() for x in proc.stdout.read().splitlines() if x.strip()]
        assert got >= target, proc.stderr.read() if proc.stderr else ""
        assert proc.returncode == -signal.SIGKILL

    from openlfr.services.context import AppContext

    again = AppContext(ctx.settings)  # "restart": a new process state opening the same database
    with again.db.session() as s:
        if again.db.is_sqlite:
            assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        stored = set(s.scalars(select(Alert.alert_uid)))
        n_alerts = s.scalar(select(func.count()).select_from(Alert))
        n_images = s.scalar(select(func.count()).select_from(AlertImage))
    missing = [a for a in committed if a not in stored]
    assert not missing, f"{len(missing)} committed alerts lost"
    assert n_alerts == len(stored) >= len(committed)
    assert n_images == 3 * n_alerts  # probe, frame, reference: no alert half-written
    res = audit_admin.verify(again)
    assert res.ok, res.to_dict()
    assert res.events >= len(committed)
    again.close()
