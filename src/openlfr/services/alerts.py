"""Alerts: storing them (the live path's ``AlertSink``), reviewing and adjudicating them, legal holds.

Every alert image (probe crop and context frame, redacted except the alerted person, P3; copy of
the matched watchlist photo) is encrypted at rest (P7); viewing one is audited (``alert.view_image``) and refused to
auditors. Adjudication records a verdict (``true``/``false``), an engagement outcome
(``arrest``, ``other_disposal``, ``no_action``, ``not_engaged``) and a note.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openlfr.engine.imageio import strip_metadata
from openlfr.errors import ConflictError, InputError, NotFoundError
from openlfr.services.context import AppContext
from openlfr.services.deployments import as_utc, refresh_frozen_stats
from openlfr.services.media import sniff_image
from openlfr.services.results import Page
from openlfr.services.roles import MAY_ADJUDICATE, MAY_HOLD, MAY_VIEW_IMAGES, require_role
from openlfr.services.stats import counter_scope
from openlfr.storage import audit
from openlfr.storage.models import CounterBatch, WatchlistEntry
from openlfr.storage.models_gov import IMAGE_KINDS, OUTCOMES, VERDICTS, Alert, Deployment, LegalHold
from openlfr.storage.repos.alerts import AlertFilter, AlertRepo
from openlfr.storage.repos.deployments import DeploymentRepo
from openlfr.storage.repos.watchlists import WatchlistRepo
from openlfr.types import AlertRecord

log = logging.getLogger(__name__)
_COUNTER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


def _media_type(data: bytes) -> str:
    kind = sniff_image(data)
    if kind not in ("image/jpeg", "image/png", "image/webp"):
        raise InputError("alert image is not a JPEG, PNG or WebP", code="bad_alert_image")
    return kind


class StoreAlertSink:
    """The alert store as an :class:`openlfr.runtime.sinks.AlertSink` for one deployment.

    - ``submit`` stores one alert in its own transaction (row, encrypted images, a re-encrypted copy
      of the matched watchlist photo, an ``alert.create`` audit event) and returns once committed.
      Idempotent on ``alert.alert_id``. Refuses (``ConflictError``, code ``deployment_not_live``)
      once the deployment is not live, and refuses a record below its threshold (P1).
    - ``count`` adds to counters under ``deployment:{id}:camera:{name}`` (same refusal).
    ``deployment_id=None`` stores alerts outside any deployment (counters under ``adhoc:camera:*``).
    """

    def __init__(self, ctx: AppContext, deployment_id: int | None, actor: str | None = None) -> None:
        self.ctx = ctx
        self.deployment_id = deployment_id
        self.actor = actor or ctx.settings.actor

    def _check_live(self, s: Session) -> Deployment | None:
        if self.deployment_id is None:
            return None
        dep = DeploymentRepo(s).get(self.deployment_id)
        if dep is None:
            raise NotFoundError(f"no deployment {self.deployment_id}", code="deployment_not_found")
        if dep.state != "live":
            raise ConflictError(
                f"deployment {dep.id} is {dep.state}, not live; nothing more is recorded", code="deployment_not_live"
            )
        return dep

    def submit(self, alert: AlertRecord) -> None:
        self.store(alert)

    def _check_record(self, alert: AlertRecord) -> tuple[str, str | None]:
        """Refuse what is not a storable alert of this deployment; the probe's and the frame's media types."""
        if alert.deployment_id is not None and alert.deployment_id != self.deployment_id:
            raise InputError(
                f"alert for deployment {alert.deployment_id} sent to the sink of {self.deployment_id}",
                code="wrong_deployment",
            )
        if not alert.alert_id or len(alert.alert_id) > 100:
            raise InputError("alert_id must be 1-100 characters", code="bad_alert")
        if not alert.score >= alert.threshold:
            raise InputError(
                f"score {alert.score:.4f} is below the threshold {alert.threshold:.4f}: only matches are stored",
                code="below_threshold",
            )
        if not alert.probe_jpeg:
            raise InputError("an alert needs its probe crop", code="bad_alert_image")
        return _media_type(alert.probe_jpeg), (_media_type(alert.frame_jpeg) if alert.frame_jpeg else None)

    def _row(self, alert: AlertRecord, entry: WatchlistEntry | None) -> Alert:
        return Alert(
            alert_uid=alert.alert_id,
            deployment_id=self.deployment_id,
            watchlist_id=alert.watchlist_id,
            entry_id=alert.entry_id,
            person_id=alert.person_id,
            display_name=entry.display_name if entry else None,
            category=entry.category if entry else None,
            camera=alert.camera,
            occurred_at=as_utc(alert.occurred_at),
            score=float(alert.score),
            threshold=float(alert.threshold),
            track_id=int(alert.track_id),
            box=dict(zip(("x1", "y1", "x2", "y2"), map(float, alert.box), strict=True)),
            models=dict(alert.models),
        )

    def _pictures(
        self,
        lists: WatchlistRepo,
        alert: AlertRecord,
        entry: WatchlistEntry | None,
        probe_type: str,
        frame_type: str | None,
    ) -> list[tuple[str, str, bytes]]:
        """(kind, media type, bytes) of the alert's images: probe crop, context frame, the matched person's photo."""
        pictures: list[tuple[str, str, bytes]] = [("probe", probe_type, alert.probe_jpeg)]
        if alert.frame_jpeg and frame_type:
            pictures.append(("frame", frame_type, alert.frame_jpeg))
        if entry is not None:
            ref = lists.first_photo(entry.id)
            if ref is not None:
                pictures.append(("reference", *ref))
        return pictures

    def _existing(self, alert_id: str) -> int | None:
        with self.ctx.db.session() as s:
            return AlertRepo(s).id_of(alert_id)

    def store(self, alert: AlertRecord) -> int:
        """Store and commit; returns the alert's row id (the existing one for a duplicate)."""
        probe_type, frame_type = self._check_record(alert)
        cipher = self.ctx.cipher
        try:
            with self.ctx.db.session() as s:
                alerts = AlertRepo(s, cipher)
                existing = alerts.id_of(alert.alert_id)
                if existing is not None:
                    return existing
                dep = self._check_live(s)
                if dep is not None and alert.watchlist_id != dep.watchlist_id:
                    raise InputError(
                        f"alert matched watchlist {alert.watchlist_id}, not deployment "
                        f"{dep.id}'s list {dep.watchlist_id}",
                        code="wrong_watchlist",
                    )
                lists = WatchlistRepo(s, cipher)
                entry = lists.entry(alert.entry_id)
                if entry is not None and entry.watchlist_id != alert.watchlist_id:
                    entry = None
                row = self._row(alert, entry)
                pictures = self._pictures(lists, alert, entry, probe_type, frame_type)
                s.add(row)
                s.flush()
                for kind, media_type, data in pictures:
                    alerts.add_image(row, kind, media_type, data)  # sealed, bound to (image id, alert id, kind)
                s.flush()
                audit.record(
                    s,
                    self.actor,
                    "alert.create",
                    "alert",
                    row.id,
                    {
                        "alert_uid": alert.alert_id,
                        "deployment_id": self.deployment_id,
                        "camera": alert.camera,
                        "score": round(float(alert.score), 6),
                        "threshold": float(alert.threshold),
                        "images": sorted(i.kind for i in row.images),
                    },
                    private={
                        "person_id": alert.person_id,
                        "entry_id": alert.entry_id,
                        "name": entry.display_name if entry else None,
                    },
                    cipher=cipher,
                    purge_key=f"alert:{row.id}",
                )
                return int(row.id)
        except IntegrityError:
            # A concurrent writer stored the same alert_id first: idempotent.
            existing = self._existing(alert.alert_id)
            if existing is None:
                raise
            return existing

    def count(self, camera: str, deltas: dict[str, int], batch_id: str | None = None) -> None:
        """Add ``deltas`` to the camera's counters. With a ``batch_id`` (a spooled delta) the id is recorded
        in the same transaction and a batch already recorded is skipped: applying it twice counts it once."""
        if batch_id is not None and not (0 < len(batch_id) <= 64):
            raise InputError("a counter batch id is 1-64 characters", code="bad_counter")
        clean: dict[str, int] = {}
        for name, value in deltas.items():
            if not _COUNTER_NAME.match(name):
                raise InputError(f"bad counter name {name!r}", code="bad_counter")
            v = int(value)
            if v < 0:
                raise InputError(f"counter {name} cannot decrease", code="bad_counter")
            if v:
                clean[name] = v
        if not clean:
            return
        scope = counter_scope(self.deployment_id, camera)
        try:
            with self.ctx.db.session() as s:
                self._check_live(s)
                if batch_id is not None:
                    if AlertRepo(s).batch_applied(batch_id):
                        return  # applied before (flushed again after a crash): counted once
                    s.add(CounterBatch(batch_id=batch_id, scope=scope, applied_at=datetime.now(UTC)))
                    s.flush()
                AlertRepo(s).add_counts(scope, clean)
        except IntegrityError:
            if batch_id is None:
                raise
            with self.ctx.db.session() as s:  # a concurrent flush of the same batch committed first
                if not AlertRepo(s).batch_applied(batch_id):
                    raise


# ---------------------------------------------------------------- review


def _get_alert(s: Session, ref: int | str) -> Alert:
    alerts = AlertRepo(s)
    a: Alert | None = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
        a = alerts.get(int(ref))
    if a is None and isinstance(ref, str):
        a = alerts.by_uid(ref.strip())
    if a is None:
        raise NotFoundError(f"no alert {ref!r}", code="alert_not_found")
    return a


def _iso(dt: datetime | None) -> str | None:
    d = as_utc(dt)
    return None if d is None else d.isoformat()


@dataclass(frozen=True)
class AlertView:
    """An alert's metadata (never image bytes). Times are ISO 8601 (UTC) or None; after retention purges an
    alert, the person, entry, box and note are None and ``purged_at`` says when."""

    id: int
    alert_uid: str
    deployment_id: int | None
    camera: str
    occurred_at: str | None
    received_at: str | None
    person_id: str | None
    name: str | None
    category: str | None
    entry_id: int | None
    score: float
    threshold: float
    track_id: int | None
    box: dict[str, Any] | None
    """``x1``, ``y1``, ``x2``, ``y2`` in the frame's pixels."""
    models: dict[str, Any]
    """The ids of the models that raised the alert."""
    verdict: str | None
    adjudicated: bool
    outcome: str | None
    note: str | None
    adjudicated_by: str | None
    adjudicated_at: str | None
    images: list[str]
    """The kinds of image kept (probe, frame, reference)."""
    legal_hold: bool
    purged_at: str | None
    purge_reason: str | None


AlertPage = Page[AlertView]


@dataclass(frozen=True)
class HoldView:
    """A legal hold on one alert or on every alert of a deployment."""

    id: int
    alert_id: int | None
    deployment_id: int | None
    reason: str
    placed_by: str
    placed_at: str | None
    released_by: str | None
    released_at: str | None
    active: bool


def alert_views(s: Session, alerts: list[Alert]) -> list[AlertView]:
    """Metadata only, never image bytes. Three queries for any number of alerts: the alerts, their
    image kinds and the active legal holds that cover them (by alert or by deployment)."""
    repo = AlertRepo(s)
    kinds = repo.image_kinds([a.id for a in alerts])
    held_alerts, held_deployments = repo.held(alerts)
    return [
        AlertView(
            id=a.id,
            alert_uid=a.alert_uid,
            deployment_id=a.deployment_id,
            camera=a.camera,
            occurred_at=_iso(a.occurred_at),
            received_at=_iso(a.received_at),
            person_id=a.person_id,
            name=a.display_name,
            category=a.category,
            entry_id=a.entry_id,
            score=a.score,
            threshold=a.threshold,
            track_id=a.track_id,
            box=a.box,
            models=a.models,
            verdict=a.verdict,
            adjudicated=a.verdict is not None,
            outcome=a.outcome,
            note=a.note,
            adjudicated_by=a.adjudicated_by,
            adjudicated_at=_iso(a.adjudicated_at),
            images=sorted(kinds[a.id]),
            legal_hold=a.id in held_alerts or a.deployment_id in held_deployments,
            purged_at=_iso(a.purged_at),
            purge_reason=a.purge_reason,
        )
        for a in alerts
    ]


def alert_view(s: Session, a: Alert) -> AlertView:
    return alert_views(s, [a])[0]


def list_alerts(
    ctx: AppContext,
    deployment: int | None = None,
    unadjudicated: bool = False,
    include_purged: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> AlertPage:
    """A page of alerts, newest first; unadjudicated alerts show ``adjudicated`` False."""
    if not 1 <= limit <= 10_000 or offset < 0:
        raise InputError("limit must be 1..10000 and offset >= 0", code="bad_paging")
    with ctx.db.session() as s:
        alerts = AlertRepo(s)
        f = AlertFilter(deployment, "open" if unadjudicated else None, include_purged)
        count = alerts.count(f)
        return AlertPage(alert_views(s, alerts.page(f, limit, offset)), count)


def show_alert(ctx: AppContext, ref: int | str) -> AlertView:
    with ctx.db.session() as s:
        return alert_view(s, _get_alert(s, ref))


def _without_metadata(data: bytes) -> bytes:
    """Served images carry no EXIF/GPS (a reference photo copied from a list enrolled before
    metadata stripping may)."""
    try:
        return strip_metadata(data)
    except InputError:
        return data


def alert_image(
    ctx: AppContext, ref: int | str, kind: str, actor: str, role: str, audited: bool = False
) -> tuple[bytes, str]:
    """Decrypt one of an alert's images for review; audited (``audited``: already, by the page view that
    declared it, ``services.image_views``), refused to auditors."""
    require_role(role, MAY_VIEW_IMAGES, "view face images")
    if kind not in IMAGE_KINDS:
        raise InputError(f"image kind must be one of {', '.join(IMAGE_KINDS)}", code="bad_kind")
    with ctx.db.session() as s:
        a = _get_alert(s, ref)
        img = AlertRepo(s).image(a.id, kind)
        if img is None:
            why = "deleted by retention" if a.purged_at is not None else "not recorded"
            raise NotFoundError(f"alert {a.id} has no {kind} image ({why})", code="image_not_found")
        data = _without_metadata(AlertRepo(s, ctx.cipher).image_bytes(img))
        if not audited:
            audit.record(s, actor, "alert.view_image", "alert", a.id, {"kind": kind, "role": role})
        return data, img.media_type


def adjudicate(
    ctx: AppContext,
    ref: int | str,
    actor: str,
    role: str,
    verdict: str,
    outcome: str | None = None,
    note: str | None = None,
) -> AlertView:
    """Record (or correct) the verdict and engagement outcome of an alert; audited with the
    previous values. A late adjudication of an ended deployment refreshes its frozen statistics."""
    require_role(role, MAY_ADJUDICATE, "adjudicate alerts")
    verdict = verdict.strip().lower()
    if verdict not in VERDICTS:
        raise InputError(f"verdict must be one of {', '.join(VERDICTS)}", code="bad_verdict")
    if outcome is not None:
        outcome = outcome.strip().lower().replace(" ", "_").replace("-", "_")
        if outcome not in OUTCOMES:
            raise InputError(f"outcome must be one of {', '.join(OUTCOMES)}", code="bad_outcome")
    with ctx.db.session() as s:
        a = _get_alert(s, ref)
        if a.purged_at is not None:
            raise ConflictError(f"alert {a.id} was removed by retention on {_iso(a.purged_at)}", code="alert_purged")
        previous = {"verdict": a.verdict, "outcome": a.outcome}
        a.verdict, a.adjudicated_by, a.adjudicated_at = verdict, actor, datetime.now(UTC)
        if outcome is not None:
            a.outcome = outcome
        if note is not None:
            a.note = note.strip()
        audit.record(
            s,
            actor,
            "alert.adjudicate",
            "alert",
            a.id,
            {
                "verdict": verdict,
                "outcome": a.outcome,
                "previous": previous,
                "role": role,
                "deployment_id": a.deployment_id,
            },
            private={"note": a.note} if a.note else None,
            cipher=ctx.cipher,
            purge_key=f"alert:{a.id}",
        )
        refresh_frozen_stats(s, a.deployment_id)
        return alert_view(s, a)


# ---------------------------------------------------------------- legal holds


def _hold_view(h: LegalHold) -> HoldView:
    return HoldView(
        id=h.id,
        alert_id=h.alert_id,
        deployment_id=h.deployment_id,
        reason=h.reason,
        placed_by=h.placed_by,
        placed_at=_iso(h.placed_at),
        released_by=h.released_by,
        released_at=_iso(h.released_at),
        active=h.released_at is None,
    )


def place_hold(
    ctx: AppContext,
    actor: str,
    role: str,
    reason: str,
    alert: int | str | None = None,
    deployment: int | str | None = None,
) -> HoldView:
    """Suspend retention deletion for one alert or for every alert of a deployment (audited)."""
    require_role(role, MAY_HOLD, "place legal holds")
    if (alert is None) == (deployment is None):
        raise InputError("hold either one alert or one deployment", code="bad_hold")
    if not reason.strip():
        raise InputError("a legal hold needs a reason (e.g. the case or order reference)", code="bad_hold")
    from openlfr.services.deployments import get_deployment

    with ctx.db.session() as s:
        h = LegalHold(reason=reason.strip(), placed_by=actor)
        if alert is not None:
            a = _get_alert(s, alert)
            if a.purged_at is not None:
                raise ConflictError(f"alert {a.id} was already removed by retention", code="alert_purged")
            h.alert_id = a.id
        else:
            h.deployment_id = get_deployment(s, deployment).id  # type: ignore[arg-type]
        s.add(h)
        s.flush()
        audit.record(
            s,
            actor,
            "legal_hold.place",
            "legal_hold",
            h.id,
            {"alert_id": h.alert_id, "deployment_id": h.deployment_id, "role": role},
            private={"reason": h.reason},
            cipher=ctx.cipher,
            purge_key=f"alert:{h.alert_id}" if h.alert_id is not None else None,
        )
        return _hold_view(h)


def release_hold(ctx: AppContext, hold_id: int, actor: str, role: str, note: str = "") -> HoldView:
    require_role(role, MAY_HOLD, "release legal holds")
    with ctx.db.session() as s:
        h = AlertRepo(s).hold(hold_id)
        if h is None:
            raise NotFoundError(f"no legal hold {hold_id}", code="hold_not_found")
        if h.released_at is not None:
            raise ConflictError(f"legal hold {hold_id} was already released", code="hold_released")
        h.released_by, h.released_at = actor, datetime.now(UTC)
        audit.record(
            s,
            actor,
            "legal_hold.release",
            "legal_hold",
            h.id,
            {"alert_id": h.alert_id, "deployment_id": h.deployment_id, "role": role},
            private={"note": note.strip()} if note.strip() else None,
            cipher=ctx.cipher,
            purge_key=f"alert:{h.alert_id}" if h.alert_id is not None else None,
        )
        return _hold_view(h)


def list_holds(ctx: AppContext, active_only: bool = True) -> list[HoldView]:
    with ctx.db.session() as s:
        return [_hold_view(h) for h in AlertRepo(s).holds(active_only)]
