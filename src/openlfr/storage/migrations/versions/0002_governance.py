"""governance: deployments, cameras, alerts (with adjudication), alert images, legal holds

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:07:55.652251
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("planned_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("target_fpir", sa.Float(), nullable=True),
        sa.Column("detector", sa.String(length=100), nullable=False),
        sa.Column("embedder", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("watchlist_id", sa.Integer(), nullable=True),
        sa.Column("watchlist_name", sa.String(length=200), nullable=False),
        sa.Column("source_watchlist", sa.String(length=200), nullable=False),
        sa.Column("watchlist_size", sa.Integer(), nullable=True),
        sa.Column("watchlist_digest", sa.String(length=64), nullable=True),
        sa.Column("watchlist_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("authorising_officer", sa.String(length=300), nullable=True),
        sa.Column("authorised_by", sa.String(length=200), nullable=True),
        sa.Column("authorised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("authorisation_note", sa.Text(), nullable=False),
        sa.Column("started_by", sa.String(length=200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=200), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.CheckConstraint("state IN ('draft', 'authorised', 'live', 'ended')", name="ck_deployment_state"),
        sa.ForeignKeyConstraint(["watchlist_id"], ["watchlists.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployments_state"), ["state"], unique=False)

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_uid", sa.String(length=100), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=True),
        sa.Column("watchlist_id", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.String(length=200), nullable=True),
        sa.Column("display_name", sa.String(length=300), nullable=True),
        sa.Column("category", sa.String(length=200), nullable=True),
        sa.Column("camera", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.Column("box", sa.JSON(), nullable=True),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.String(length=10), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("adjudicated_by", sa.String(length=200), nullable=True),
        sa.Column("adjudicated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purge_reason", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('arrest', 'other_disposal', 'no_action', 'not_engaged')",
            name="ck_alert_outcome",
        ),
        sa.CheckConstraint("verdict IS NULL OR verdict IN ('true', 'false')", name="ck_alert_verdict"),
        sa.ForeignKeyConstraint(["deployment_id"], ["deployments.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_uid"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_deployment_id"), ["deployment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_occurred_at"), ["occurred_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_purged_at"), ["purged_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_verdict"), ["verdict"], unique=False)

    op.create_table(
        "deployment_cameras",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url_enc", sa.LargeBinary(), nullable=False),
        sa.Column("url_display", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["deployment_id"], ["deployments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("deployment_id", "name", name="uq_camera_name"),
    )
    with op.batch_alter_table("deployment_cameras", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployment_cameras_deployment_id"), ["deployment_id"], unique=False)

    op.create_table(
        "alert_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("media_type", sa.String(length=50), nullable=False),
        sa.Column("data_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('probe', 'frame', 'reference')", name="ck_alert_image_kind"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id", "kind", name="uq_alert_image_kind"),
    )
    with op.batch_alter_table("alert_images", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_images_alert_id"), ["alert_id"], unique=False)

    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("deployment_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(length=200), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("alert_id IS NOT NULL OR deployment_id IS NOT NULL", name="ck_hold_target"),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["deployment_id"], ["deployments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_holds_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_legal_holds_deployment_id"), ["deployment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_holds_deployment_id"))
        batch_op.drop_index(batch_op.f("ix_legal_holds_alert_id"))

    op.drop_table("legal_holds")
    with op.batch_alter_table("alert_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_images_alert_id"))

    op.drop_table("alert_images")
    with op.batch_alter_table("deployment_cameras", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_cameras_deployment_id"))

    op.drop_table("deployment_cameras")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_verdict"))
        batch_op.drop_index(batch_op.f("ix_alerts_purged_at"))
        batch_op.drop_index(batch_op.f("ix_alerts_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_alerts_deployment_id"))

    op.drop_table("alerts")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployments_state"))

    op.drop_table("deployments")
