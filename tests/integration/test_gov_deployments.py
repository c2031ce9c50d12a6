"""Deployments on SQLite and PostgreSQL: lifecycle, roles, the bespoke watchlist, the live plan's
refusals, and P4 (ending deletes the watchlist's photos and embeddings)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.integration.conftest import seed_watchlist

from openlfr.errors import AuthError, ConflictError, InputError, NotFoundError
from openlfr.services import deployments as dsvc
from openlfr.storage.models import AuditEvent, ReferenceEmbedding, ReferenceImage, Watchlist, WatchlistEntry
from openlfr.storage.sealed import unseal

NOW = datetime.now(UTC)


def _create(ctx: Any, **kw: Any) -> Any:
    args: dict[str, Any] = dict(
        location="Upper St, Islington, outside the Town Hall",
        purpose="wanted for serious offences",
        planned_start=NOW - timedelta(minutes=10),
        planned_end=NOW + timedelta(hours=2),
        actor="creator",
        source_watchlist="standing",
        entries=[dsvc.EntrySelection("Al_Gore", "warrant W1"), dsvc.EntrySelection("Adrien_Brody", "bail")],
        cameras=[dsvc.CameraSpec("cam1", "rtsp://viewer:s3cret@127.0.0.1:8554/live?token=abc")],
        legal_basis="PACE s.1 policy LFR-2.3(a)",
    )
    args.update(kw)
    return dsvc.create(ctx, **args)


@pytest.fixture
def standing(gov_ctx: Any, enrolled_people: list[Any]) -> Any:
    seed_watchlist(gov_ctx, "standing", enrolled_people)
    return gov_ctx


def _count(ctx: Any, model: Any, *where: Any) -> int:
    with ctx.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_lifecycle_and_p4(standing: Any) -> None:
    ctx = standing
    d = _create(ctx)
    assert d.state == "draft" and d.watchlist_size == 2
    assert d.cameras[0].url == "rtsp://***@127.0.0.1:8554/live?token=***"
    wl_id = d.watchlist_id
    with ctx.db.session() as s:
        wl = s.get(Watchlist, wl_id)
        assert wl is not None and wl.deployment_id == d.id
        entries = {
            e.person_id: e for e in s.scalars(select(WatchlistEntry).where(WatchlistEntry.watchlist_id == wl_id))
        }
        assert {p: e.reason for p, e in entries.items()} == {"Al_Gore": "warrant W1", "Adrien_Brody": "bail"}
        # the copies are re-encrypted: no ciphertext shared with the standing list
        copy_rows = list(
            s.scalars(select(ReferenceImage).join(WatchlistEntry).where(WatchlistEntry.watchlist_id == wl_id))
        )
        orig_rows = list(
            s.scalars(select(ReferenceImage).join(WatchlistEntry).where(WatchlistEntry.watchlist_id != wl_id))
        )
        copies, originals = {r.image_enc for r in copy_rows}, {r.image_enc for r in orig_rows}
        assert len(copies) == 2 and not copies & originals
        assert {unseal(ctx.cipher, r) for r in copy_rows} <= {unseal(ctx.cipher, r) for r in orig_rows}

    # only a supervisor authorises; a draft cannot run
    with pytest.raises(ConflictError) as e1:
        dsvc.live_plan(ctx, d.id)
    assert e1.value.code == "not_authorised"
    for role in ("operator", "auditor", "admin"):
        with pytest.raises(AuthError) as e2:
            dsvc.authorise(ctx, d.id, "someone", role, "Supt A")
        assert e2.value.code == "forbidden"
    a = dsvc.authorise(ctx, d.id, "sup", "supervisor", "Supt A Smith", "briefed")
    assert a.state == "authorised" and a.authorising_officer == "Supt A Smith"
    assert a.threshold_source == "target_fpir" and a.target_fpir == 1e-4
    assert a.threshold == a.operating_point["threshold"] and 0.7 < a.threshold < 1.0
    with pytest.raises(ConflictError):
        dsvc.authorise(ctx, d.id, "sup", "supervisor", "Supt A Smith")

    plan = dsvc.live_plan(ctx, d.id)
    assert plan.state == "authorised" and plan.watchlist == f"deployment-{d.id}" and plan.watchlist_size == 2
    assert plan.cameras[0].url == "rtsp://viewer:s3cret@127.0.0.1:8554/live?token=abc"
    assert "s3cret" not in repr(plan) and "s3cret" not in str(plan.to_dict())
    live = dsvc.mark_live(ctx, d.id, "op")
    assert live.state == "live" and dsvc.mark_live(ctx, d.id, "op").state == "live"  # idempotent
    assert dsvc.state_of(ctx, d.id) == "live"

    n_emb_before = _count(ctx, ReferenceEmbedding)
    out = dsvc.mark_ended(ctx, d.id, "op", reason="operation complete")
    assert out.state == "ended" and out.watchlist_deleted == {"entries": 2, "images": 2, "embeddings": 2}
    assert out.watchlist_id is None and out.watchlist_size == 2
    assert _count(ctx, Watchlist, Watchlist.id == wl_id) == 0
    assert _count(ctx, WatchlistEntry, WatchlistEntry.watchlist_id == wl_id) == 0
    assert _count(ctx, ReferenceEmbedding) == n_emb_before - 2
    # the standing list is untouched
    assert _count(ctx, WatchlistEntry) == 5
    assert out.statistics["alerts"] == 0 and dsvc.show(ctx, d.id).statistics_frozen is True
    assert dsvc.mark_ended(ctx, d.id, "op").state == "ended"  # idempotent
    with pytest.raises(ConflictError):
        dsvc.live_plan(ctx, d.id)
    with ctx.db.session() as s:
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert actions[-5:] == [
        "deployment.create",
        "watchlist.copy",
        "deployment.authorise",
        "deployment.start",
        "deployment.end",
    ]


def test_window_and_watchlist_changes_are_refused(standing: Any) -> None:
    ctx = standing
    later = _create(ctx, name="later", planned_start=NOW + timedelta(hours=1), planned_end=NOW + timedelta(hours=3))
    dsvc.authorise(ctx, later.id, "sup", "supervisor", "Supt B")
    with pytest.raises(ConflictError) as e:
        dsvc.mark_live(ctx, later.id, "op")
    assert e.value.code == "before_window"
    # inside the window (simulated clock) it may start; after the end it may not
    assert dsvc.live_plan(ctx, later.id, now=NOW + timedelta(hours=2)).deployment_id == later.id
    with pytest.raises(ConflictError) as e:
        dsvc.live_plan(ctx, later.id, now=NOW + timedelta(hours=3))
    assert e.value.code == "window_passed"

    d = _create(ctx, name="edited")
    dsvc.authorise(ctx, d.id, "sup", "supervisor", "Supt B")
    with ctx.db.session() as s:  # someone edits the bespoke list after authorisation
        s.execute(
            WatchlistEntry.__table__.delete().where(
                WatchlistEntry.watchlist_id == d.watchlist_id, WatchlistEntry.person_id == "Adrien_Brody"
            )
        )
    with pytest.raises(ConflictError) as e:
        dsvc.mark_live(ctx, d.id, "op")
    assert e.value.code == "watchlist_changed"

    past = _create(ctx, name="past")  # authorised (simulated clock) after its window ended
    with pytest.raises(ConflictError) as e:
        dsvc.authorise(ctx, past.id, "sup", "supervisor", "Supt B", now=NOW + timedelta(hours=3))
    assert e.value.code == "window_passed"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"location": "Islington"}, "vague_location"),
        ({"purpose": " "}, "bad_purpose"),
        ({"planned_end": NOW - timedelta(hours=1)}, "bad_window"),
        ({"threshold": 1.5}, "bad_threshold"),
        ({"threshold": 0.9, "target_fpir": 0.001}, "bad_threshold"),
        ({"latitude": 51.5}, "bad_coordinates"),
        ({"entries": [dsvc.EntrySelection("Al_Gore", "")]}, "bad_selection"),
        ({"entries": None}, "bad_selection"),
        ({"cameras": [dsvc.CameraSpec("bad name!", "x.mp4")]}, "bad_camera"),
    ],
)
def test_create_validation(standing: Any, change: dict[str, Any], code: str) -> None:
    with pytest.raises(InputError) as e:
        _create(standing, **change)
    assert e.value.code == code


def test_create_refusals_and_all_entries(standing: Any) -> None:
    ctx = standing
    with pytest.raises(NotFoundError) as e:
        _create(ctx, entries=[dsvc.EntrySelection("Nobody", "x")])
    assert e.value.code == "entry_not_found"
    with pytest.raises(NotFoundError):
        _create(ctx, source_watchlist="missing")
    d = _create(ctx, name="all", entries=None, all_entries_reason="operation X: every wanted person")
    assert d.watchlist_size == 5
    with pytest.raises(ConflictError) as e2:
        _create(ctx, name="all")
    assert e2.value.code == "deployment_exists"
    with pytest.raises(InputError) as e3:  # a deployment's list is not a source
        _create(ctx, name="x2", source_watchlist=d.watchlist)
    assert e3.value.code == "bad_source"
    # cancelling a draft deletes its list too
    out = dsvc.mark_ended(ctx, d.id, "creator", reason="cancelled")
    assert out.watchlist_deleted["embeddings"] == 5 and out.state == "ended"
    assert [r.id for r in dsvc.list_all(ctx, state="ended")] == [d.id]


def test_overdue_deployments_end_by_themselves(standing: Any) -> None:
    ctx = standing
    d = _create(ctx, name="short", planned_end=NOW + timedelta(minutes=30))
    dsvc.authorise(ctx, d.id, "sup", "supervisor", "Supt C")
    dsvc.mark_live(ctx, d.id, "op")
    assert dsvc.end_overdue(ctx, "sweeper", now=NOW + timedelta(minutes=10)) == []
    assert dsvc.end_overdue(ctx, "sweeper", now=NOW + timedelta(minutes=31)) == [d.id]
    show = dsvc.show(ctx, d.id)
    assert show.state == "ended" and show.end_reason == "planned end reached"
    assert show.watchlist_deleted_at is not None


def test_separation_of_duties(standing: Any) -> None:
    """The supervisor who drafted a deployment cannot authorise it, unless the installation allows it
    (one-person installations): then the authorisation is audited as a self-authorisation and shown."""
    from openlfr.services.context import AppContext

    ctx = standing
    d = _create(ctx, actor="sup")
    with pytest.raises(AuthError) as e:
        dsvc.authorise(ctx, d.id, "sup", "supervisor", "Supt A Smith")
    assert e.value.code == "self_authorisation" and e.value.http_status == 403
    assert "another supervisor" in e.value.message
    assert dsvc.show(ctx, d.id).state == "draft"
    assert dsvc.show(ctx, d.id).drafters == ["sup"]
    a = dsvc.authorise(ctx, d.id, "sup2", "supervisor", "Supt B Jones")
    assert a.state == "authorised" and a.self_authorised is False

    solo = AppContext(ctx.settings.model_copy(update={"allow_self_authorisation": True}))
    try:
        d2 = _create(solo, actor="sup", name="one-person install")
        a2 = dsvc.authorise(solo, d2.id, "sup", "supervisor", "Supt A Smith")
        assert a2.state == "authorised" and a2.self_authorised is True
        shown = dsvc.show(solo, d2.id)
        assert shown.self_authorised is True and shown.self_authorisation_allowed is True
    finally:
        solo.close()
    with ctx.db.session() as s:
        ev = {
            int(e.object_id): e.details
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "deployment.authorise"))
        }
    assert ev[d.id]["self_authorisation"] is False and ev[d2.id]["self_authorisation"] is True


def test_duration_counts_camera_time(standing: Any) -> None:
    """'Live for' and the reports' duration are camera time (the cameras' live seconds), not the
    wall clock since the start."""
    from openlfr.services import reports
    from openlfr.services.alerts import StoreAlertSink

    ctx = standing
    d = _create(ctx, cameras=[dsvc.CameraSpec("a", "a.mp4"), dsvc.CameraSpec("b", "b.mp4")])
    dsvc.authorise(ctx, d.id, "sup", "supervisor", "Supt A")
    dsvc.mark_live(ctx, d.id, "op", now=NOW - timedelta(minutes=5))
    sink = StoreAlertSink(ctx, d.id)
    sink.count("a", {"live_seconds": 90})
    sink.count("b", {"live_seconds": 30})
    st = dsvc.show(ctx, d.id).statistics
    assert st["deployment_live_seconds"] == 90.0
    assert st["wall_clock_seconds"] >= 300
    ended = dsvc.mark_ended(ctx, d.id, "op")
    assert ended.statistics["deployment_live_seconds"] == 90.0
    row = reports.deployment_report(ctx, d.id, actor="auditor").to_dict()["deployments"][0]
    assert row["duration_minutes"] == 1.5 and row["wall_clock_minutes"] >= 5.0
