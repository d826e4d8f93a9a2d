"""Alert state: which alerts have fired, so each fires once (per cycle) across restarts."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syncd.store import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_state",
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("fired_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("subject", "kind", "key", name="pk_alert_state"),
    )


def downgrade() -> None:
    op.drop_table("alert_state")
