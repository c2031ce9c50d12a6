"""Governance models: deployments, their cameras, alerts with adjudication, alert images, legal holds.

Shares ``Base`` (``storage.base``) with :mod:`openlfr.storage.models` (``storage.schema`` imports all three), so one
metadata and one migration history cover both. Biometric columns hold ciphertext only (P7):
``AlertImage.data_enc``; a camera's stream URL may carry credentials, so it is encrypted too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openlfr.storage.base import Base, utcnow

DEPLOYMENT_STATES = ("draft", "authorised", "live", "ended")
VERDICTS = ("true", "false")
OUTCOMES = ("arrest", "other_disposal", "no_action", "not_engaged")
IMAGE_KINDS = ("probe", "frame", "reference")


class Deployment(Base):
    """One authorised use of live facial recognition: a place, a time window, a purpose, cameras,
    a threshold and a bespoke watchlist. States: draft -> authorised -> live -> ended."""

    __tablename__ = "deployments"
    __table_args__ = (CheckConstraint("state IN ('draft', 'authorised', 'live', 'ended')", name="ck_deployment_state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    location: Mapped[str] = mapped_column(Text)
    """Stated precisely (street, junction, landmark), not a borough."""
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    purpose: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    planned_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    planned_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    threshold: Mapped[float | None] = mapped_column(Float, default=None)
    target_fpir: Mapped[float | None] = mapped_column(Float, default=None)
    threshold_source: Mapped[str | None] = mapped_column(String(20), default=None)
    """``target_fpir`` (threshold from the calibration at the list's size) or ``override``."""
    operating_point: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """Fixed at authorisation: threshold, target, calibration used, expected false alerts per
    10,000 faces and TPIR, the safe-band verdict (services/operating_point.py)."""
    justification: Mapped[str] = mapped_column(Text, default="", server_default="")
    """Written justification for an operating point outside the safe band."""
    detector: Mapped[str] = mapped_column(String(100))
    embedder: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20), default="draft", index=True)

    watchlist_id: Mapped[int | None] = mapped_column(ForeignKey("watchlists.id", ondelete="SET NULL"), default=None)
    watchlist_name: Mapped[str] = mapped_column(String(200), default="")
    source_watchlist: Mapped[str] = mapped_column(String(200), default="")
    watchlist_size: Mapped[int | None] = mapped_column(Integer, default=None)
    """Entries on the bespoke list; kept after the list itself is deleted (P4)."""
    watchlist_digest: Mapped[str | None] = mapped_column(String(64), default=None)
    """sha256 over the list's entries and images when authorised; a changed list cannot go live."""
    watchlist_deleted_at: Mapped[datetime | None] = mapped_column(default=None)

    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    authorising_officer: Mapped[str | None] = mapped_column(String(300), default=None)
    authorised_by: Mapped[str | None] = mapped_column(String(200), default=None)
    authorised_at: Mapped[datetime | None] = mapped_column(default=None)
    authorisation_note: Mapped[str] = mapped_column(Text, default="")
    started_by: Mapped[str | None] = mapped_column(String(200), default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_by: Mapped[str | None] = mapped_column(String(200), default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    end_reason: Mapped[str] = mapped_column(Text, default="")
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    """Statistics frozen when the deployment ended (no biometric data)."""
    lease_holder: Mapped[str | None] = mapped_column(String(300), default=None)
    """The runner serving this deployment now (``host:pid:random``); one at a time (services/lease.py)."""
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    """The holder's lease expires then unless renewed; a killed runner's lease lapses."""

    cameras: Mapped[list[DeploymentCamera]] = relationship(
        back_populates="deployment", cascade="all, delete-orphan", passive_deletes=True, order_by="DeploymentCamera.id"
    )

    def heading(self) -> dict[str, Any]:
        """How the deployment is named in listings and reports: id, name, state and place."""
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "location": self.location,
            "latitude": self.latitude,
            "longitude": self.longitude,
        }


class DeploymentCamera(Base):
    __tablename__ = "deployment_cameras"
    __table_args__ = (UniqueConstraint("deployment_id", "name", name="uq_camera_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    url_enc: Mapped[bytes] = mapped_column(LargeBinary)
    """The stream URL (may hold credentials), encrypted."""
    url_display: Mapped[str] = mapped_column(Text)
    """The URL with any password replaced by ``***``: safe to show and log."""
    description: Mapped[str] = mapped_column(Text, default="")

    deployment: Mapped[Deployment] = relationship(back_populates="cameras")


class Alert(Base):
    """A match at or above threshold, its adjudication and outcome.

    When retention removes an alert (P5) its images are deleted and its identifying fields
    (person, entry, box, note) are cleared; what is left is an anonymous statistic: deployment,
    camera, time, score, verdict and outcome.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint("verdict IS NULL OR verdict IN ('true', 'false')", name="ck_alert_verdict"),
        CheckConstraint(
            "outcome IS NULL OR outcome IN ('arrest', 'other_disposal', 'no_action', 'not_engaged')",
            name="ck_alert_outcome",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_uid: Mapped[str] = mapped_column(String(100), unique=True)
    """``AlertRecord.alert_id`` from the runtime; submitting the same one twice is a no-op."""
    deployment_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="RESTRICT"), default=None, index=True
    )
    watchlist_id: Mapped[int | None] = mapped_column(Integer, default=None)
    entry_id: Mapped[int | None] = mapped_column(Integer, default=None)
    person_id: Mapped[str | None] = mapped_column(String(200), default=None)
    display_name: Mapped[str | None] = mapped_column(String(300), default=None)
    category: Mapped[str | None] = mapped_column(String(200), default=None)
    camera: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    track_id: Mapped[int | None] = mapped_column(Integer, default=None)
    box: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    models: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    verdict: Mapped[str | None] = mapped_column(String(10), default=None, index=True)
    outcome: Mapped[str | None] = mapped_column(String(20), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    adjudicated_by: Mapped[str | None] = mapped_column(String(200), default=None)
    adjudicated_at: Mapped[datetime | None] = mapped_column(default=None)

    purged_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    """When retention deleted the images and identifying fields."""
    purge_reason: Mapped[str | None] = mapped_column(String(100), default=None)

    images: Mapped[list[AlertImage]] = relationship(
        back_populates="alert", cascade="all, delete-orphan", passive_deletes=True
    )


class AlertImage(Base):
    """An alert's encrypted pictures: the probe crop, the frame with every other face pixelated,
    and a copy of the matched watchlist photo needed to review the alert after the deployment's
    watchlist is deleted (P4)."""

    __tablename__ = "alert_images"
    __table_args__ = (
        UniqueConstraint("alert_id", "kind", name="uq_alert_image_kind"),
        CheckConstraint("kind IN ('probe', 'frame', 'reference')", name="ck_alert_image_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    media_type: Mapped[str] = mapped_column(String(50), default="image/jpeg")
    data_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    alert: Mapped[Alert] = relationship(back_populates="images")


class LegalHold(Base):
    """Suspends retention deletion for one alert or for every alert of a deployment (audited)."""

    __tablename__ = "legal_holds"
    __table_args__ = (CheckConstraint("alert_id IS NOT NULL OR deployment_id IS NOT NULL", name="ck_hold_target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), default=None, index=True)
    deployment_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), default=None, index=True
    )
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(200))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_by: Mapped[str | None] = mapped_column(String(200), default=None)
    released_at: Mapped[datetime | None] = mapped_column(default=None)
