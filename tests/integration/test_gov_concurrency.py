"""Concurrent writers and audited readers on SQLite and PostgreSQL: alerts stored from several threads
while others view images (an audited read) all succeed, and the audit chain stays whole."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.conftest import FACES, make_alert, seed_watchlist

from openlfr.services import alerts as asvc
from openlfr.services import audit_admin
from openlfr.services import deployments as dsvc

PROBE = (FACES / "Al_Gore" / "Al_Gore_0002.jpg").read_bytes()


def test_concurrent_alerts_counters_and_audited_views(gov_ctx: Any, enrolled_people: list[Any]) -> None:
    ctx = gov_ctx
    seed_watchlist(ctx, "standing", enrolled_people)
    now = datetime.now(UTC)
    d = dsvc.create(
        ctx,
        location="Broad St, Reading, by the fountain",
        purpose="concurrency",
        planned_start=now - timedelta(minutes=1),
        planned_end=now + timedelta(hours=1),
        actor="c",
        source_watchlist="standing",
        all_entries_reason="op",
        cameras=[dsvc.CameraSpec("cam1", "a.mp4"), dsvc.CameraSpec("cam2", "b.mp4")],
        threshold=0.9,
        legal_basis="Common law policing powers; force LFR policy v1",
    )
    dsvc.authorise(
        ctx,
        d.id,
        "sup",
        "supervisor",
        "Supt C",
        justification="test fixture: alerts here are synthetic, stored at a fixed threshold 0.9",
    )
    plan = dsvc.mark_live(ctx, d.id, "op")
    sink = asvc.StoreAlertSink(ctx, plan.deployment_id)
    first = sink.store(make_alert(plan, ctx, "Al_Gore", PROBE))
    recs = [make_alert(plan, ctx, "Al_Gore", PROBE, camera=f"cam{1 + i % 2}") for i in range(60)]
    errors: list[str] = []

    def writer(part: list[Any]) -> None:
        for r in part:
            try:
                sink.submit(r)
                sink.count(r.camera, {"faces_seen": 2})
            except Exception as exc:
                errors.append(repr(exc))

    def viewer() -> None:
        for _ in range(40):
            try:
                asvc.alert_image(ctx, first, "probe", "op", "operator")
            except Exception as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=writer, args=(recs[i::2],)) for i in range(2)]
    threads += [threading.Thread(target=viewer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, (len(errors), errors[:2])
    assert asvc.list_alerts(ctx).count == 61
    assert dsvc.show(ctx, plan.deployment_id).statistics["faces_seen"] == 120
    res = audit_admin.verify(ctx)
    assert res.ok and res.events >= 61 + 80
