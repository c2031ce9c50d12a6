"""Retention (P5): the sweeper.

One sweep, at time ``now`` (a parameter so tests and audits can ask "what would happen on day 31"):

1. ends every deployment whose planned end has passed (its watchlist is deleted: P4);
2. removes false alerts ``false_alert_hours`` after adjudication (default 24, configurable down
   to 0 = at the next sweep; never more than 24);
3. removes every other alert ``alert_days`` after it occurred (default 31, never more than 31);
4. deletes watchlist entries past their ``expires_at`` (with their photos and embeddings);
5. skips alerts under an active legal hold (on the alert or its deployment) and says how many;
6. checkpoints the SQLite WAL so no deleted ciphertext stays in the journal.

"Removing" an alert deletes its images (probe, frame, reference copy: the cascade) and clears its
identifying fields (person, entry, box, track, note); the row that stays is an anonymous
statistic (deployment, camera, time, score, verdict, outcome) so reports keep their figures.
Every removal is an ``alert.purge`` audit event; the sweep itself is ``retention.sweep``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.orm import Session

from openlfr.errors import ConfigError
from openlfr.services import watchlist_integrity
from openlfr.services.context import AppContext
from openlfr.services.deployments import as_utc, end_overdue
from openlfr.storage import audit
from openlfr.storage.models_gov import Alert
from openlfr.storage.repos.alerts import AlertRepo
from openlfr.storage.repos.watchlists import WatchlistRepo

log = logging.getLogger(__name__)
SWEEPER = "retention-sweeper"


class RetentionPolicy(BaseSettings):
    """From the environment (``OPENLFR_RETENTION_*``); bounds enforce P5's maxima."""

    model_config = SettingsConfigDict(env_prefix="OPENLFR_RETENTION_", extra="ignore")

    false_alert_hours: float = Field(
        default=24.0,
        ge=0.0,
        le=24.0,
        description="Hours after a 'false' adjudication before the alert is removed (0 = at the next sweep).",
    )
    alert_days: float = Field(
        default=31.0, gt=0.0, le=31.0, description="Days after it occurred before any other alert is removed."
    )


def load_policy(**overrides: Any) -> RetentionPolicy:
    try:
        return RetentionPolicy(**overrides)
    except ValueError as exc:
        raise ConfigError(f"retention settings: {str(exc).splitlines()[-1].strip()}", code="bad_retention") from exc


@dataclass
class SweepResult:
    now: str
    policy: dict[str, float]
    deployments_ended: list[int] = field(default_factory=list)
    false_alerts_removed: int = 0
    expired_alerts_removed: int = 0
    images_deleted: int = 0
    held_alerts_kept: int = 0
    expired_entries_deleted: int = 0


PURGED_REASON = "(purged with the alert)"


def purge_alert(s: Session, a: Alert, reason: str, actor: str, now: datetime) -> int:
    """Delete an alert's images and identifying fields; returns the number of images deleted."""
    alerts = AlertRepo(s)
    n = alerts.delete_images(a.id)
    person = a.person_id
    a.person_id = a.display_name = a.category = a.note = None
    a.entry_id = a.track_id = None
    a.box = None
    a.purged_at, a.purge_reason = now, reason
    audit.purge_private(s, f"alert:{a.id}")  # personal audit details of this alert (issue 13)
    # the reasons of its (released) legal holds name a case or a person: they go with the alert
    alerts.set_hold_reasons(a.id, PURGED_REASON)
    audit.record(
        s,
        actor,
        "alert.purge",
        "alert",
        a.id,
        {
            "reason": reason,
            "images_deleted": n,
            "deployment_id": a.deployment_id,
            "verdict": a.verdict,
            "had_person_id": person is not None,
        },
    )
    return n


def _purge_due_alerts(s: Session, res: SweepResult, pol: RetentionPolicy, actor: str, t: datetime) -> None:
    """Purge the alerts past their retention (false alerts after ``false_alert_hours`` from adjudication, any
    alert after ``alert_days``), except those under a legal hold; counted in ``res``."""
    false_cutoff = t - timedelta(hours=pol.false_alert_hours)
    age_cutoff = t - timedelta(days=pol.alert_days)
    alerts = AlertRepo(s)
    held_alerts, held_deps = alerts.held()
    for a in alerts.due_for_purge(false_cutoff, age_cutoff):
        if a.id in held_alerts or (a.deployment_id is not None and a.deployment_id in held_deps):
            res.held_alerts_kept += 1
            continue
        adj = as_utc(a.adjudicated_at)
        if a.verdict == "false" and adj is not None and adj <= false_cutoff:
            res.images_deleted += purge_alert(s, a, "false alert retention", actor, t)
            res.false_alerts_removed += 1
        else:
            res.images_deleted += purge_alert(s, a, f"{pol.alert_days:g}-day retention", actor, t)
            res.expired_alerts_removed += 1


def _delete_expired_entries(ctx: AppContext, s: Session, res: SweepResult, actor: str, t: datetime) -> None:
    """Delete the watchlist entries past their expiry with their photos and embeddings, each audited; reseal the
    lists that were intact before (never launder a tampered list); counted in ``res``."""
    lists = WatchlistRepo(s)
    expired = lists.expired_entries(t)
    intact = {
        wl_id
        for wl_id in sorted({e.watchlist_id for e in expired})
        if (wl := lists.get(wl_id)) is not None and watchlist_integrity.is_valid(s, ctx.cipher, wl)
    }
    for e in expired:
        images = lists.delete_entry(e).images
        audit.record(
            s,
            actor,
            "watchlist.entry_expired",
            "watchlist_entry",
            e.id,
            {"watchlist_id": e.watchlist_id, "images": images},
            private={"person_id": e.person_id},
            cipher=ctx.cipher,
        )
        res.expired_entries_deleted += 1
    for wl_id in sorted(intact):
        wl = lists.get(wl_id)
        if wl is not None:
            watchlist_integrity.reseal(s, ctx.cipher, wl)


def sweep(
    ctx: AppContext, now: datetime | None = None, actor: str = SWEEPER, policy: RetentionPolicy | None = None
) -> SweepResult:
    t = as_utc(now) or datetime.now(UTC)
    pol = policy or load_policy()
    res = SweepResult(
        now=t.isoformat(), policy={"false_alert_hours": pol.false_alert_hours, "alert_days": pol.alert_days}
    )
    res.deployments_ended = end_overdue(ctx, actor, now=t)
    with ctx.db.session() as s:
        _purge_due_alerts(s, res, pol, actor, t)
        _delete_expired_entries(ctx, s, res, actor, t)
        audit.record(s, actor, "retention.sweep", "retention", "", asdict(res))
    ctx.db.checkpoint(
        vacuum=bool(
            res.false_alerts_removed or res.expired_alerts_removed or res.images_deleted or res.expired_entries_deleted
        )
    )
    log.info(
        "retention sweep at %s: %d false and %d expired alerts removed, %d held",
        res.now,
        res.false_alerts_removed,
        res.expired_alerts_removed,
        res.held_alerts_kept,
    )
    return res
