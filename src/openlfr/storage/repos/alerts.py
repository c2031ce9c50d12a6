"""Alerts: their rows, their sealed images, adjudication reads, legal holds, the live store's counters, and
the retention sweeper's selections and deletes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from openlfr.errors import InputError
from openlfr.storage.crypto import Cipher
from openlfr.storage.models import Counter, CounterBatch
from openlfr.storage.models_gov import Alert, AlertImage, LegalHold
from openlfr.storage.sealed import seal, unseal

SORTS: dict[str, tuple[Any, ...]] = {
    "newest": (Alert.occurred_at.desc(), Alert.id.desc()),
    "oldest": (Alert.occurred_at.asc(), Alert.id.asc()),
    "score_desc": (Alert.score.desc(), Alert.id.desc()),
    "score_asc": (Alert.score.asc(), Alert.id.asc()),
}
"""The orders a page of alerts can be read in."""


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts a page or count covers. ``verdict``: ``open`` (not adjudicated), ``true`` or ``false``;
    ``person`` matches the person id or name (substring, any case); ``[since, until)`` bounds the alert time."""

    deployment: int | None = None
    verdict: str | None = None
    include_purged: bool = False
    camera: str | None = None
    person: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_score: float | None = None
    max_score: float | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if self.deployment is not None:
            conds.append(Alert.deployment_id == self.deployment)
        if self.verdict == "open":
            conds.append(Alert.verdict.is_(None))
        elif self.verdict is not None:
            conds.append(Alert.verdict == self.verdict)
        if not self.include_purged:
            conds.append(Alert.purged_at.is_(None))
        if self.camera:
            conds.append(Alert.camera == self.camera)
        if self.person:
            needle = self.person.lower()
            conds.append(
                func.lower(Alert.person_id).contains(needle, autoescape=True)
                | func.lower(Alert.display_name).contains(needle, autoescape=True)
            )
        if self.since is not None:
            conds.append(Alert.occurred_at >= self.since)
        if self.until is not None:
            conds.append(Alert.occurred_at < self.until)
        if self.min_score is not None:
            conds.append(Alert.score >= self.min_score)
        if self.max_score is not None:
            conds.append(Alert.score <= self.max_score)
        return conds


class AlertRepo:
    """Queries over alerts and what hangs off them in one open session; ``cipher`` seals and unseals images."""

    def __init__(self, s: Session, cipher: Cipher | None = None) -> None:
        self.s = s
        self.cipher = cipher

    def _cipher(self) -> Cipher:
        if self.cipher is None:
            raise ValueError("AlertRepo was given no cipher: images cannot be sealed or unsealed")
        return self.cipher

    # ------------------------------------------------------------ alerts

    def get(self, alert_id: int) -> Alert | None:
        return self.s.get(Alert, alert_id)

    def by_uid(self, alert_uid: str) -> Alert | None:
        """The alert with this ``alert_uid`` (the id the live path gave it)."""
        return self.s.scalar(select(Alert).where(Alert.alert_uid == alert_uid))

    def id_of(self, alert_uid: str) -> int | None:
        """The row id of the alert with this ``alert_uid``."""
        found = self.s.scalar(select(Alert.id).where(Alert.alert_uid == alert_uid))
        return None if found is None else int(found)

    def count(self, f: AlertFilter) -> int:
        q = select(Alert).where(*f.conditions())
        return int(self.s.scalar(select(func.count()).select_from(q.subquery())) or 0)

    def page(self, f: AlertFilter, limit: int, offset: int, sort: str = "newest") -> list[Alert]:
        """Alerts matching ``f`` in the order ``SORTS[sort]``."""
        q = select(Alert).where(*f.conditions()).order_by(*SORTS[sort]).limit(limit).offset(offset)
        return list(self.s.scalars(q))

    def decided_for_person(self, person_id: str, other_than: int, limit: int = 20) -> list[Alert]:
        """Adjudicated alerts for the person id, bar alert ``other_than``, newest first."""
        q = (
            select(Alert)
            .where(Alert.person_id == person_id, Alert.id != other_than, Alert.verdict.is_not(None))
            .order_by(Alert.occurred_at.desc())
            .limit(limit)
        )
        return list(self.s.scalars(q))

    # ------------------------------------------------------------ images

    def add_image(self, alert: Alert, kind: str, media_type: str, data: bytes) -> AlertImage:
        """Attach an image to the alert, sealed (bound to the image id, the alert id and the kind)."""
        img = AlertImage(kind=kind, media_type=media_type, data_enc=b"")
        alert.images.append(img)
        seal(self.s, self._cipher(), img, data)
        return img

    def image(self, alert_id: int, kind: str) -> AlertImage | None:
        return self.s.scalar(select(AlertImage).where(AlertImage.alert_id == alert_id, AlertImage.kind == kind))

    def image_bytes(self, img: AlertImage) -> bytes:
        """The image unsealed (checked to belong to its row)."""
        return unseal(self._cipher(), img)

    def image_kinds(self, alert_ids: list[int]) -> dict[int, list[str]]:
        """Alert id -> the kinds of image it keeps (every id given is a key)."""
        kinds: dict[int, list[str]] = {i: [] for i in alert_ids}
        if alert_ids:
            q = select(AlertImage.alert_id, AlertImage.kind).where(AlertImage.alert_id.in_(alert_ids))
            for alert_id, kind in self.s.execute(q):
                kinds[alert_id].append(kind)
        return kinds

    def delete_images(self, alert_id: int) -> int:
        """Delete every image of the alert; returns how many there were."""
        n = int(self.s.scalar(select(func.count()).select_from(AlertImage).where(AlertImage.alert_id == alert_id)) or 0)
        self.s.execute(delete(AlertImage).where(AlertImage.alert_id == alert_id))
        return n

    # ------------------------------------------------------------ legal holds

    def hold(self, hold_id: int) -> LegalHold | None:
        return self.s.get(LegalHold, hold_id)

    def holds(self, active_only: bool = True) -> list[LegalHold]:
        """Legal holds in id order."""
        q = select(LegalHold).order_by(LegalHold.id)
        if active_only:
            q = q.where(LegalHold.released_at.is_(None))
        return list(self.s.scalars(q))

    def held(self, alerts: list[Alert] | None = None) -> tuple[set[int], set[int]]:
        """(alert ids, deployment ids) under an active legal hold: those covering ``alerts`` only, or all."""
        q = select(LegalHold.alert_id, LegalHold.deployment_id).where(LegalHold.released_at.is_(None))
        if alerts is not None:
            if not alerts:
                return set(), set()
            conds = [LegalHold.alert_id.in_([a.id for a in alerts])]
            deployments = {a.deployment_id for a in alerts if a.deployment_id is not None}
            if deployments:
                conds.append(LegalHold.deployment_id.in_(deployments))
            q = q.where(or_(*conds))
        held_alerts: set[int] = set()
        held_deployments: set[int] = set()
        for a_id, d_id in self.s.execute(q):
            if a_id is not None:
                held_alerts.add(int(a_id))
            if d_id is not None:
                held_deployments.add(int(d_id))
        return held_alerts, held_deployments

    def set_hold_reasons(self, alert_id: int, reason: str) -> None:
        """Overwrite the reason of every hold (active or released) on the alert."""
        self.s.execute(update(LegalHold).where(LegalHold.alert_id == alert_id).values(reason=reason))

    # ------------------------------------------------------------ counters

    def batch_applied(self, batch_id: str) -> bool:
        """Whether a spooled counter batch with this id was applied already."""
        return self.s.get(CounterBatch, batch_id) is not None

    def add_counts(self, scope: str, deltas: dict[str, int]) -> None:
        """Add ``deltas`` to the scope's counters (created at the first delta), in one upsert each."""
        dialect = self.s.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise InputError(f"unsupported database {dialect}", code="bad_database")
        now = datetime.now(UTC)
        for name, delta in sorted(deltas.items()):
            stmt = insert(Counter).values(scope=scope, name=name, value=float(delta), updated_at=now)
            stmt = stmt.on_conflict_do_update(
                index_elements=["scope", "name"], set_={"value": Counter.value + stmt.excluded.value, "updated_at": now}
            )
            self.s.execute(stmt)

    # ------------------------------------------------------------ retention

    def due_for_purge(self, false_cutoff: datetime, age_cutoff: datetime) -> list[Alert]:
        """Unpurged alerts adjudicated false by ``false_cutoff`` or that occurred by ``age_cutoff``, in id order."""
        q = (
            select(Alert)
            .where(
                Alert.purged_at.is_(None),
                or_(
                    (Alert.verdict == "false") & (Alert.adjudicated_at <= false_cutoff), Alert.occurred_at <= age_cutoff
                ),
            )
            .order_by(Alert.id)
        )
        return list(self.s.scalars(q).all())
