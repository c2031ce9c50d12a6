"""integrity: purgeable encrypted audit details, watchlist integrity digest, content hashes

Revision ID: 0004
Revises: 0003

Existing ciphertext is not rewritten here (the migration has no key): version-1 (Fernet) values
keep decrypting, and ``openlfr keys reencrypt`` rewrites them in the bound v2 format and seals
watchlists that have no integrity digest yet.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_details",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("purge_key", sa.String(length=100), nullable=True),
        sa.Column("data_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ref"),
    )
    op.create_index(op.f("ix_audit_details_purge_key"), "audit_details", ["purge_key"], unique=False)
    op.add_column("watchlists", sa.Column("integrity_digest", sa.String(length=64), nullable=True))
    op.add_column("reference_images", sa.Column("content_sha256", sa.String(length=64), nullable=True))
    op.add_column("reference_embeddings", sa.Column("content_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reference_embeddings") as batch:
        batch.drop_column("content_sha256")
    with op.batch_alter_table("reference_images") as batch:
        batch.drop_column("content_sha256")
    with op.batch_alter_table("watchlists") as batch:
        batch.drop_column("integrity_digest")
    op.drop_index(op.f("ix_audit_details_purge_key"), table_name="audit_details")
    op.drop_table("audit_details")
