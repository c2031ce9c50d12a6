"""Alert review at scale: the alert list filtered and sorted, and what a reviewer needs beside one
alert (the watchlist entry's reason, and earlier decisions about the same person)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openlfr.errors import InputError
from openlfr.services.alerts import AlertPage, _get_alert, alert_views
from openlfr.services.context import AppContext
from openlfr.storage.repos.alerts import SORTS, AlertFilter, AlertRepo
from openlfr.storage.repos.watchlists import WatchlistRepo

VERDICTS = ("true", "false", "open")


@dataclass(frozen=True)
class ContextEntry:
    """What the watchlist says about the alerted person (while the entry exists)."""

    person_id: str
    name: str
    category: str
    reason: str
    added_by: str | None
    added_at: str | None


@dataclass(frozen=True)
class PreviousDecision:
    """An earlier, adjudicated alert for the same person id."""

    id: int
    deployment_id: int | None
    camera: str
    occurred_at: str | None
    score: float
    verdict: str | None
    outcome: str | None
    adjudicated_by: str | None
    adjudicated_at: str | None


@dataclass(frozen=True)
class ReviewContext:
    alert_id: int
    watchlist_entry: ContextEntry | None
    previous_decisions: list[PreviousDecision]


def filter_alerts(
    ctx: AppContext,
    *,
    deployment: int | None = None,
    unadjudicated: bool = False,
    include_purged: bool = False,
    camera: str | None = None,
    person: str | None = None,
    verdict: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    sort: str = "newest",
    limit: int = 50,
    offset: int = 0,
) -> AlertPage:
    """A page of alerts. ``person`` matches the person id or name (substring, any case); ``verdict``
    is true, false or open; ``since``/``until`` bound the alert time ``[since, until)``."""
    if sort not in SORTS:
        raise InputError(f"sort must be one of {', '.join(SORTS)}", code="bad_sort")
    if verdict is not None and verdict not in VERDICTS:
        raise InputError(f"verdict must be one of {', '.join(VERDICTS)}", code="bad_verdict")
    if not 1 <= limit <= 10_000 or offset < 0:
        raise InputError("limit must be 1..10000 and offset >= 0", code="bad_paging")
    f = AlertFilter(
        deployment=deployment,
        verdict="open" if unadjudicated else verdict,
        include_purged=include_purged,
        camera=camera,
        person=person,
        since=since,
        until=until,
        min_score=min_score,
        max_score=max_score,
    )
    with ctx.db.session() as s:
        alerts = AlertRepo(s)
        count = alerts.count(f)
        rows = alerts.page(f, limit, offset, sort)
        return AlertPage(alert_views(s, rows), count)


def review_context(ctx: AppContext, ref: int | str) -> ReviewContext:
    """The entry's reason and category (while the entry exists) and every other decided alert for the
    same person id, newest first (metadata only)."""
    with ctx.db.session() as s:
        a = _get_alert(s, ref)
        alerts = AlertRepo(s)
        entry = WatchlistRepo(s).entry(a.entry_id) if a.entry_id is not None else None
        watchlist = None
        if entry is not None:
            watchlist = ContextEntry(
                person_id=entry.person_id,
                name=entry.display_name,
                category=entry.category,
                reason=entry.reason,
                added_by=entry.added_by,
                added_at=entry.added_at.isoformat() if entry.added_at else None,
            )
        previous: list[PreviousDecision] = []
        if a.person_id:
            earlier = alerts.decided_for_person(a.person_id, a.id, limit=20)
            previous = [
                PreviousDecision(
                    id=d.id,
                    deployment_id=d.deployment_id,
                    camera=d.camera,
                    occurred_at=d.occurred_at,
                    score=d.score,
                    verdict=d.verdict,
                    outcome=d.outcome,
                    adjudicated_by=d.adjudicated_by,
                    adjudicated_at=d.adjudicated_at,
                )
                for d in alert_views(s, earlier)
            ]
        return ReviewContext(a.id, watchlist, previous)
