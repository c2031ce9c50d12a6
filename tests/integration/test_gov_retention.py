"""Retention (P5) on SQLite and PostgreSQL: false alerts within 24 h (or at once), others after 31
days, legal holds suspend, deletion cascades with no orphaned row, statistics survive, and on SQLite
no deleted ciphertext is left in the database file or its WAL."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from tests.integration.conftest import FACES, make_alert, seed_watchlist

from openlfr.services import alerts as asvc
from openlfr.services import audit_admin, retention
from openlfr.services import deployments as dsvc
from openlfr.services.reports import deployment_report
from openlfr.storage.models import AuditEvent
from openlfr.storage.models_gov import Alert, AlertImage, LegalHold

NOW = datetime.now(UTC)
PROBE = (FACES / "Al_Gore" / "Al_Gore_0002.jpg").read_bytes()

ORPHAN_QUERIES = {
    "alert_images": "SELECT count(*) FROM alert_images WHERE alert_id NOT IN (SELECT id FROM alerts)",
    "legal_holds": "SELECT count(*) FROM legal_holds WHERE alert_id IS NOT NULL AND alert_id NOT IN "
    "(SELECT id FROM alerts)",
    "watchlist_entries": "SELECT count(*) FROM watchlist_entries WHERE watchlist_id NOT IN (SELECT id FROM watchlists)",
    "reference_images": "SELECT count(*) FROM reference_images WHERE entry_id NOT IN "
    "(SELECT id FROM watchlist_entries)",
    "reference_embeddings": "SELECT count(*) FROM reference_embeddings WHERE image_id NOT IN "
    "(SELECT id FROM reference_images)",
    "cameras": "SELECT count(*) FROM deployment_cameras WHERE deployment_id NOT IN (SELECT id FROM deployments)",
}


def orphans(ctx: Any) -> dict[str, int]:
    with ctx.db.session() as s:
        return {k: int(s.execute(text(q)).scalar() or 0) for k, q in ORPHAN_QUERIES.items()}


@pytest.fixture
def scenario(gov_ctx: Any, enrolled_people: list[Any]) -> tuple[Any, Any, dict[str, int]]:
    ctx = gov_ctx
    seed_watchlist(ctx, "standing", enrolled_people)
    d = dsvc.create(
        ctx,
        location="Rye Lane, Peckham, outside the station",
        purpose="wanted",
        planned_start=NOW - timedelta(minutes=5),
        planned_end=NOW + timedelta(hours=2),
        actor="creator",
        source_watchlist="standing",
        all_entries_reason="operation R",
        cameras=[dsvc.CameraSpec("cam1", "a.mp4")],
        threshold=0.9,
        legal_basis="Common law policing powers; force LFR policy v1",
    )
    dsvc.authorise(
        ctx,
        d.id,
        "sup",
        "supervisor",
        "Supt R",
        justification="test fixture: alerts here are synthetic, stored at a fixed threshold 0.9",
    )
    plan = dsvc.mark_live(ctx, d.id, "op")
    sink = asvc.StoreAlertSink(ctx, plan.deployment_id)
    sink.count("cam1", {"faces_seen": 500, "quality_rejected": 40})
    ids = {
        name: sink.store(make_alert(plan, ctx, person, PROBE, frame=PROBE, occurred_at=NOW))
        for name, person in (
            ("true", "Al_Gore"),
            ("false", "Adrien_Brody"),
            ("pending", "Al_Gore"),
            ("held", "Abdullah_Gul"),
        )
    }
    asvc.adjudicate(ctx, ids["true"], "op", "operator", "true", outcome="arrest")
    asvc.adjudicate(ctx, ids["false"], "op", "operator", "false", outcome="not_engaged", note="different person")
    asvc.adjudicate(ctx, ids["held"], "op", "operator", "true", outcome="other_disposal")
    asvc.place_hold(ctx, "sup", "supervisor", "case 77", alert=ids["held"])
    return ctx, plan, ids


def _images(ctx: Any, alert_id: int) -> int:
    with ctx.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(AlertImage).where(AlertImage.alert_id == alert_id)) or 0)


def test_false_alerts_go_within_24h_others_after_31_days(scenario: tuple[Any, Any, dict[str, int]]) -> None:
    ctx, plan, ids = scenario
    r0 = retention.sweep(ctx, now=NOW + timedelta(hours=1))
    assert r0.false_alerts_removed == 0 and r0.expired_alerts_removed == 0 and r0.held_alerts_kept == 0
    assert _images(ctx, ids["false"]) == 3

    r1 = retention.sweep(ctx, now=NOW + timedelta(hours=25))
    assert r1.false_alerts_removed == 1 and r1.images_deleted == 3
    assert r1.deployments_ended == [plan.deployment_id]  # its planned end passed
    fa = asvc.show_alert(ctx, ids["false"])
    assert fa.images == [] and fa.person_id is None and fa.note is None and fa.box is None
    assert fa.verdict == "false" and fa.purge_reason == "false alert retention"
    assert _images(ctx, ids["true"]) == 3 and _images(ctx, ids["pending"]) == 3

    r2 = retention.sweep(ctx, now=NOW + timedelta(days=31, minutes=1))
    assert r2.expired_alerts_removed == 2 and r2.held_alerts_kept == 1
    assert _images(ctx, ids["held"]) == 3
    holds = asvc.list_holds(ctx)
    asvc.release_hold(ctx, holds[0].id, "sup", "supervisor", "case closed")
    r3 = retention.sweep(ctx, now=NOW + timedelta(days=32))
    assert r3.expired_alerts_removed == 1 and r3.held_alerts_kept == 0

    # only statistics are left
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(AlertImage)) == 0
        assert s.scalar(select(func.count()).select_from(Alert).where(Alert.person_id.is_not(None))) == 0
        assert s.scalar(select(func.count()).select_from(Alert).where(Alert.purged_at.is_(None))) == 0
        purges = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "alert.purge"))
        assert purges == 4
        # issue 18: the hold's reason ("case 77") went with the alert it held
        reasons = list(s.scalars(select(LegalHold.reason)))
        assert reasons and "case 77" not in reasons and all(r == retention.PURGED_REASON for r in reasons)
    assert "case 77" not in json.dumps([dataclasses.asdict(h) for h in asvc.list_holds(ctx, active_only=False)])
    assert orphans(ctx) == dict.fromkeys(ORPHAN_QUERIES, 0)
    rep = deployment_report(ctx, plan.deployment_id).to_dict()["deployments"][0]
    assert (rep["faces_seen"], rep["alerts"], rep["true_alerts"], rep["false_alerts"], rep["unadjudicated"]) == (
        500,
        4,
        2,
        1,
        1,
    )
    assert rep["outcomes"]["arrest"] == 1 and rep["quality_rejected"] == 40
    assert audit_admin.verify(ctx).ok


def test_false_alert_retention_configurable_to_immediate(
    scenario: tuple[Any, Any, dict[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, _plan, ids = scenario
    monkeypatch.setenv("OPENLFR_RETENTION_FALSE_ALERT_HOURS", "0")
    r = retention.sweep(ctx)
    assert r.false_alerts_removed == 1 and r.policy["false_alert_hours"] == 0
    assert _images(ctx, ids["false"]) == 0 and _images(ctx, ids["true"]) == 3
    monkeypatch.setenv("OPENLFR_RETENTION_FALSE_ALERT_HOURS", "48")  # beyond P5's maximum
    from openlfr.errors import ConfigError

    with pytest.raises(ConfigError):
        retention.sweep(ctx)
    with pytest.raises(ConfigError):
        retention.load_policy(alert_days=40)


def test_purged_alerts_cannot_be_adjudicated_or_held(scenario: tuple[Any, Any, dict[str, int]]) -> None:
    from openlfr.errors import ConflictError, NotFoundError

    ctx, _plan, ids = scenario
    retention.sweep(ctx, now=NOW + timedelta(hours=25))
    with pytest.raises(ConflictError):
        asvc.adjudicate(ctx, ids["false"], "op", "operator", "true")
    with pytest.raises(ConflictError):
        asvc.place_hold(ctx, "sup", "supervisor", "late", alert=ids["false"])
    with pytest.raises(NotFoundError) as e:
        asvc.alert_image(ctx, ids["false"], "probe", "op", "operator")
    assert "retention" in e.value.message


def _slices(token: bytes) -> list[bytes]:
    """Distinctive 48-byte pieces of a ciphertext (several, in case one straddles a page boundary)."""
    return [token[i : i + 48] for i in range(16, len(token) - 48, 700)]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_no_ciphertext_left_in_sqlite_file_or_wal(scenario: tuple[Any, Any, dict[str, int]]) -> None:
    ctx, plan, _ids = scenario
    with ctx.db.session() as s:
        tokens = [bytes(t) for t in s.scalars(select(AlertImage.data_enc))]
        wl_tokens = [
            bytes(r[0])
            for r in s.execute(
                text(
                    "SELECT ri.image_enc FROM reference_images ri JOIN watchlist_entries e ON e.id = ri.entry_id "
                    "WHERE e.watchlist_id = :w"
                ),
                {"w": plan.watchlist_id},
            )
        ]
    assert len(tokens) == 12 and len(wl_tokens) == 5
    db_file = Path(ctx.settings.data_dir) / "openlfr.db"
    before = db_file.read_bytes() + (
        db_file.with_name("openlfr.db-wal").read_bytes() if db_file.with_name("openlfr.db-wal").exists() else b""
    )
    assert all(any(sl in before for sl in _slices(t)) for t in tokens)  # findable while they exist
    holds = asvc.list_holds(ctx)
    asvc.release_hold(ctx, holds[0].id, "sup", "supervisor")
    retention.sweep(ctx, now=NOW + timedelta(days=40))
    ctx.close()  # release pooled connections
    data = db_file.read_bytes()
    wal = db_file.with_name("openlfr.db-wal")
    data += wal.read_bytes() if wal.exists() else b""
    left = [t for t in tokens + wl_tokens if any(sl in data for sl in _slices(t))]
    assert not left, f"{len(left)} deleted ciphertexts still in the database file or WAL"
