"""The alert store (StoreAlertSink) and adjudication on SQLite and PostgreSQL: encryption at rest,
idempotency, refusals, counters, audited image views, roles, legal holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from tests.integration.conftest import FACES, make_alert, seed_watchlist

from openlfr.errors import AuthError, ConflictError, InputError, NotFoundError
from openlfr.runtime.sinks import AlertSink
from openlfr.services import alerts as asvc
from openlfr.services import deployments as dsvc
from openlfr.storage.models import AuditEvent, Counter
from openlfr.storage.models_gov import Alert, AlertImage
from openlfr.storage.sealed import unseal

NOW = datetime.now(UTC)
PROBE = (FACES / "Al_Gore" / "Al_Gore_0002.jpg").read_bytes()
FRAME = (FACES / "Al_Gore" / "Al_Gore_0003.jpg").read_bytes()


@pytest.fixture
def live(gov_ctx: Any, enrolled_people: list[Any]) -> tuple[Any, Any]:
    ctx = gov_ctx
    seed_watchlist(ctx, "standing", enrolled_people)
    d = dsvc.create(
        ctx,
        location="Station Rd, Sutton, at the station entrance",
        purpose="wanted",
        planned_start=NOW - timedelta(minutes=5),
        planned_end=NOW + timedelta(hours=1),
        actor="creator",
        source_watchlist="standing",
        all_entries_reason="operation test",
        cameras=[dsvc.CameraSpec("cam1", "a.mp4"), dsvc.CameraSpec("cam2", "b.mp4")],
        threshold=0.9,
        legal_basis="Common law policing powers; force LFR policy v1",
    )
    dsvc.authorise(
        ctx,
        d.id,
        "sup",
        "supervisor",
        "Supt A",
        justification="test fixture: alerts here are synthetic, stored at a fixed threshold 0.9",
    )
    return ctx, dsvc.mark_live(ctx, d.id, "op")


def _actions(ctx: Any) -> list[str]:
    with ctx.db.session() as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_store_is_encrypted_idempotent_and_audited(live: tuple[Any, Any]) -> None:
    ctx, plan = live
    sink = asvc.StoreAlertSink(ctx, plan.deployment_id)
    assert isinstance(sink, AlertSink)
    rec = make_alert(plan, ctx, "Al_Gore", PROBE, frame=FRAME, score=0.93)
    first = sink.store(rec)
    sink.submit(rec)  # the same alert again: nothing new
    assert sink.store(rec) == first
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 1
        imgs = {i.kind: i for i in s.scalars(select(AlertImage))}
        assert set(imgs) == {"probe", "frame", "reference"}
        # ciphertext at rest, never the JPEG
        raw = [bytes(r[0]) for r in s.execute(text("SELECT data_enc FROM alert_images"))]
        assert all(b"\xff\xd8\xff" not in r and b"JFIF" not in r for r in raw)
        assert unseal(ctx.cipher, imgs["probe"]) == PROBE
        assert unseal(ctx.cipher, imgs["frame"]) == FRAME
    assert _actions(ctx).count("alert.create") == 1
    a = asvc.show_alert(ctx, rec.alert_id)
    assert a.person_id == "Al_Gore" and a.adjudicated is False and a.images == ["frame", "probe", "reference"]
    lst = asvc.list_alerts(ctx, deployment=plan.deployment_id, unadjudicated=True)
    assert lst.count == 1 and lst.data[0].verdict is None


def test_refusals(live: tuple[Any, Any]) -> None:
    ctx, plan = live
    sink = asvc.StoreAlertSink(ctx, plan.deployment_id)
    with pytest.raises(InputError) as e:
        sink.submit(make_alert(plan, ctx, "Al_Gore", PROBE, score=plan.threshold - 0.01))
    assert e.value.code == "below_threshold"
    with pytest.raises(InputError) as e:
        sink.submit(make_alert(plan, ctx, "Al_Gore", b"not an image"))
    assert e.value.code == "bad_alert_image"
    other = asvc.StoreAlertSink(ctx, plan.deployment_id + 1)
    with pytest.raises(InputError) as e:
        other.submit(make_alert(plan, ctx, "Al_Gore", PROBE))
    assert e.value.code == "wrong_deployment"
    with pytest.raises(InputError) as e:
        sink.count("cam1", {"faces_seen": -1})
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 0
    rec = make_alert(plan, ctx, "Al_Gore", PROBE)  # entry still resolvable before the end
    dsvc.mark_ended(ctx, plan.deployment_id, "op")
    with pytest.raises(ConflictError) as e2:
        sink.submit(rec)
    assert e2.value.code == "deployment_not_live"
    with pytest.raises(ConflictError) as e3:
        sink.count("cam1", {"faces_seen": 1})
    assert e3.value.code == "deployment_not_live"


def test_counters_accumulate_per_camera(live: tuple[Any, Any]) -> None:
    ctx, plan = live
    sink = asvc.StoreAlertSink(ctx, plan.deployment_id)
    for _ in range(3):
        sink.count("cam1", {"faces_seen": 4, "frames_analysed": 25, "quality_rejected": 1})
    sink.count("cam2", {"faces_seen": 2, "live_seconds": 90})
    sink.count("cam2", {"faces_seen": 0})
    with ctx.db.session() as s:
        rows = {(c.scope, c.name): c.value for c in s.scalars(select(Counter))}
    dep = plan.deployment_id
    assert rows[(f"deployment:{dep}:camera:cam1", "faces_seen")] == 12
    assert rows[(f"deployment:{dep}:camera:cam1", "frames_analysed")] == 75
    assert rows[(f"deployment:{dep}:camera:cam2", "live_seconds")] == 90
    st = dsvc.show(ctx, dep).statistics
    assert st["faces_seen"] == 14 and st["quality_rejected"] == 3
    assert st["camera_live_seconds"] == {"cam1": None, "cam2": 90.0}


def test_adjudication_image_views_and_roles(live: tuple[Any, Any]) -> None:
    ctx, plan = live
    sink = asvc.StoreAlertSink(ctx, plan.deployment_id)
    t_rec = make_alert(plan, ctx, "Al_Gore", PROBE, camera="cam1")
    f_rec = make_alert(plan, ctx, "Adrien_Brody", PROBE, camera="cam2")
    t_id, f_id = sink.store(t_rec), sink.store(f_rec)

    with pytest.raises(AuthError):
        asvc.alert_image(ctx, t_id, "probe", "aud", "auditor")
    data, media = asvc.alert_image(ctx, t_id, "probe", "op", "operator")
    assert data == PROBE and media == "image/jpeg"
    ref, _ = asvc.alert_image(ctx, t_id, "reference", "op", "operator")
    assert ref[:3] == b"\xff\xd8\xff"
    with pytest.raises(NotFoundError):
        asvc.alert_image(ctx, t_id, "frame", "op", "operator")
    with ctx.db.session() as s:
        views = s.scalars(select(AuditEvent).where(AuditEvent.action == "alert.view_image")).all()
    assert [(v.actor, v.details["kind"]) for v in views] == [("op", "probe"), ("op", "reference")]

    with pytest.raises(AuthError):
        asvc.adjudicate(ctx, t_id, "aud", "auditor", "true")
    with pytest.raises(InputError):
        asvc.adjudicate(ctx, t_id, "op", "operator", "maybe")
    with pytest.raises(InputError):
        asvc.adjudicate(ctx, t_id, "op", "operator", "true", outcome="fined")
    a = asvc.adjudicate(ctx, t_id, "op", "operator", "true", outcome="arrest", note="arrested on warrant")
    assert a.verdict == "true" and a.outcome == "arrest" and a.adjudicated_by == "op"
    b = asvc.adjudicate(ctx, f_id, "op", "operator", "false", outcome="not engaged")
    assert b.outcome == "not_engaged"
    b2 = asvc.adjudicate(ctx, f_id, "sup", "supervisor", "false", outcome="no_action", note="spoke, released")
    assert b2.outcome == "no_action"
    with ctx.db.session() as s:
        last = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "alert.adjudicate").order_by(AuditEvent.seq.desc())
        ).first()
    assert last is not None and last.details["previous"] == {"verdict": "false", "outcome": "not_engaged"}
    assert asvc.list_alerts(ctx, unadjudicated=True).count == 0
    st = dsvc.show(ctx, plan.deployment_id).statistics
    assert (st["alerts"], st["true_alerts"], st["false_alerts"], st["unadjudicated"]) == (2, 1, 1, 0)
    assert st["outcomes"]["arrest"] == 1 and st["outcomes"]["no_action"] == 1

    # a late adjudication after the end refreshes the frozen statistics
    u_id = sink.store(make_alert(plan, ctx, "Al_Gore", PROBE))
    dsvc.mark_ended(ctx, plan.deployment_id, "op")
    assert dsvc.show(ctx, plan.deployment_id).statistics["unadjudicated"] == 1
    asvc.adjudicate(ctx, u_id, "op", "operator", "true", outcome="other_disposal")
    st2 = dsvc.show(ctx, plan.deployment_id).statistics
    assert st2["unadjudicated"] == 0 and st2["true_alerts"] == 2 and st2["outcomes"]["other_disposal"] == 1
    # the reference copy survives the deletion of the deployment's watchlist (P4)
    assert asvc.alert_image(ctx, u_id, "reference", "op", "operator")[0][:3] == b"\xff\xd8\xff"


def test_legal_holds(live: tuple[Any, Any]) -> None:
    ctx, plan = live
    sink = asvc.StoreAlertSink(ctx, plan.deployment_id)
    a_id = sink.store(make_alert(plan, ctx, "Al_Gore", PROBE))
    with pytest.raises(AuthError):
        asvc.place_hold(ctx, "op", "operator", "case 1", alert=a_id)
    with pytest.raises(InputError):
        asvc.place_hold(ctx, "sup", "supervisor", " ", alert=a_id)
    other = sink.store(make_alert(plan, ctx, "Al_Gore", PROBE))
    h = asvc.place_hold(ctx, "sup", "supervisor", "case 2024/118", alert=a_id)
    assert asvc.show_alert(ctx, a_id).legal_hold is True

    def listed_holds() -> dict[int, bool]:
        # the list (batched queries) says what show_alert says, alert by alert
        rows = asvc.list_alerts(ctx, deployment=plan.deployment_id).data
        assert all(r == asvc.show_alert(ctx, r.id) for r in rows)
        return {r.id: r.legal_hold for r in rows if r.id in (a_id, other)}

    assert listed_holds() == {a_id: True, other: False}
    hd = asvc.place_hold(ctx, "sup", "supervisor", "inquiry", deployment=plan.deployment_id)
    assert [x.id for x in asvc.list_holds(ctx)] == [h.id, hd.id]
    asvc.release_hold(ctx, h.id, "sup", "supervisor", "case closed")
    with pytest.raises(ConflictError):
        asvc.release_hold(ctx, h.id, "sup", "supervisor")
    assert asvc.show_alert(ctx, a_id).legal_hold is True  # still held through the deployment
    assert listed_holds() == {a_id: True, other: True}
    asvc.release_hold(ctx, hd.id, "sup", "admin")
    assert asvc.show_alert(ctx, a_id).legal_hold is False
    assert listed_holds() == {a_id: False, other: False}
    acts = _actions(ctx)
    assert acts.count("legal_hold.place") == 2 and acts.count("legal_hold.release") == 2
