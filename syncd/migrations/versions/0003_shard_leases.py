"""Shard leases: which replica covers which shard of the clients, until when."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syncd.store import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shard_leases",
        sa.Column("shard_count", sa.Integer, nullable=False),
        sa.Column("shard", sa.Integer, nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("home", sa.Boolean, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("shard_count", "shard", name="pk_shard_leases"),
    )


def downgrade() -> None:
    op.drop_table("shard_leases")
