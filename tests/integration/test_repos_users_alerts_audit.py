"""The repositories under the user, alert and audit services (issue 20), on SQLite and PostgreSQL: what
they answer, that images are sealed on write and unsealed only with the cipher, and that filters escape
the caller's text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.integration.conftest import FACES, make_alert, seed_watchlist

from openlfr.services import alerts as asvc
from openlfr.services import deployments as dsvc
from openlfr.services import users as usvc
from openlfr.storage.repos.alerts import AlertFilter, AlertRepo
from openlfr.storage.repos.audit import AuditFilter, AuditRepo
from openlfr.storage.repos.users import UserRepo
from openlfr.storage.sealed import unseal

NOW = datetime.now(UTC)
PROBE = (FACES / "Al_Gore" / "Al_Gore_0002.jpg").read_bytes()


@pytest.fixture
def live(gov_ctx: Any, enrolled_people: list[Any]) -> tuple[Any, Any]:
    ctx = gov_ctx
    seed_watchlist(ctx, "standing", enrolled_people)
    d = dsvc.create(
        ctx,
        location="High St, Kingston, by the market",
        purpose="wanted",
        planned_start=NOW - timedelta(minutes=5),
        planned_end=NOW + timedelta(hours=1),
        actor="creator",
        source_watchlist="standing",
        all_entries_reason="operation repo",
        cameras=[dsvc.CameraSpec("cam1", "a.mp4")],
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


def test_alert_repo_seals_images_and_answers_filters_and_holds(live: tuple[Any, Any]) -> None:
    ctx, plan = live
    sink = asvc.StoreAlertSink(ctx, plan.deployment_id)
    sink.store(make_alert(plan, ctx, "Al_Gore", PROBE, score=0.95))
    sink.store(make_alert(plan, ctx, "Al_Gore", PROBE, score=0.92))
    with ctx.db.session() as s:
        alerts = AlertRepo(s)
        newest_first = alerts.page(AlertFilter(), 10, 0)
        assert len(newest_first) == 2 and alerts.count(AlertFilter()) == 2
        by_score = alerts.page(AlertFilter(), 10, 0, sort="score_asc")
        assert [a.score for a in by_score] == sorted(a.score for a in newest_first)
        assert alerts.count(AlertFilter(person="AL_go")) == 2
        assert alerts.count(AlertFilter(person="%")) == 0  # the caller's text is escaped, not a wildcard
        assert alerts.count(AlertFilter(verdict="open", min_score=0.94)) == 1
        a = by_score[-1]
        assert alerts.by_uid(a.alert_uid) is a and alerts.id_of(a.alert_uid) == a.id
        assert {k: sorted(v) for k, v in alerts.image_kinds([a.id, -1]).items()} == {
            a.id: ["probe", "reference"],
            -1: [],
        }
        img = alerts.image(a.id, "probe")
        assert img is not None and PROBE not in bytes(img.data_enc)
        with pytest.raises(ValueError, match="no cipher"):
            alerts.image_bytes(img)
        assert AlertRepo(s, ctx.cipher).image_bytes(img) == PROBE == unseal(ctx.cipher, img)
        assert alerts.held() == (set(), set()) and alerts.held([]) == (set(), set())
    asvc.place_hold(ctx, "sup", "supervisor", "case 1", alert=a.id)
    asvc.place_hold(ctx, "sup", "supervisor", "case 2", deployment=plan.deployment_id)
    with ctx.db.session() as s:
        alerts = AlertRepo(s)
        other = alerts.page(AlertFilter(), 10, 0, sort="score_desc")[1]
        assert alerts.held([other]) == (set(), {plan.deployment_id})
        assert alerts.held() == ({a.id}, {plan.deployment_id})
        assert [h.reason for h in alerts.holds()] == ["case 1", "case 2"]
        assert alerts.delete_images(a.id) == 2 and alerts.image_kinds([a.id]) == {a.id: []}


def test_user_repo_sessions_tokens_and_admins(gov_ctx: Any) -> None:
    ctx = gov_ctx
    usvc.create_user(ctx, "ann", "a-long-password-1", "admin", "setup")
    usvc.create_user(ctx, "bob", "a-long-password-2", "operator", "ann")
    kept, p = usvc.login(ctx, "ann", "a-long-password-1")
    usvc.login(ctx, "ann", "a-long-password-1")
    usvc.login(ctx, "ann", "a-long-password-1")
    usvc.create_token(ctx, "ann", "ann")
    with ctx.db.session() as s:
        users = UserRepo(s)
        assert users.count() == 2 and [u.username for u in users.page(10, 0)] == ["ann", "bob"]
        assert users.active_admins() == 1
        ann = users.by_name("ann")
        assert ann is not None and users.get(ann.id) is ann and users.by_name("nobody") is None
        assert users.delete_sessions(ann.id, keep=p.session_id) == 2
        found = users.session_with_user(usvc.digest(kept))
        assert found is not None and found[1] is ann and found[0].id == p.session_id
        assert [t.user_id for t in users.live_tokens(ann.id)] == [ann.id] and users.tokens(ann.id + 1) == []
        assert users.delete_expired_sessions(NOW + timedelta(days=1)) == 1


def test_audit_repo_reads_the_log(gov_ctx: Any) -> None:
    ctx = gov_ctx
    usvc.create_user(ctx, "ann", "a-long-password-1", "admin", "setup")
    usvc.create_user(ctx, "bob.smith", "a-long-password-2", "operator", "ann")
    with ctx.db.session() as s:
        log = AuditRepo(s)
        head = log.head()
        assert head is not None and log.hash_at(head[0]) == head[1] and log.hash_at(head[0] + 1) is None
        assert log.count() == head[0] and [e.seq for e in log.newest(2)] == [head[0], head[0] - 1]
        creates = AuditFilter(action="user.")
        assert [e.actor for e in log.page(creates, 10, 0)] == ["ann", "setup"]
        assert log.count(AuditFilter(action="user%")) == 0  # a prefix, not a pattern
        assert [c[:2] for c in log.text_candidates(creates, "BOB.S")] == [(head[0], True)]
        assert [e.seq for e in log.by_seqs([1, head[0]])] == [head[0], 1] and log.by_seqs([]) == []
