"""deployment operating point: how the threshold was chosen, its expected figures, justification

Revision ID: 0007
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("threshold_source", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("operating_point", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("justification", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("justification")
        batch_op.drop_column("operating_point")
        batch_op.drop_column("threshold_source")
