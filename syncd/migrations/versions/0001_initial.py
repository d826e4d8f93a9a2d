"""Initial schema: entries, cursors, sync runs, publishes and link tokens."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from syncd.store import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("vendor_id", sa.String(128), nullable=False),
        sa.Column("client_key", sa.String(64), nullable=True),
        sa.Column("work_date", sa.Date, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("worker_name", sa.String(256), nullable=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("synced_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("account", "vendor_id", name="uq_entries_account_vendor_id"),
    )
    op.create_index("ix_entries_client_date", "entries", ["client_key", "work_date"])
    op.create_index("ix_entries_account_date", "entries", ["account", "work_date"])
    op.create_table(
        "cursors",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("position", UTCDateTime, nullable=True),
        sa.Column("reconciled_at", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
        sa.Column("fetched", sa.Integer, nullable=False, server_default="0"),
        sa.Column("changed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_sync_runs_account_started", "sync_runs", ["account", "started_at"])
    op.create_table(
        "publishes",
        sa.Column("client_key", sa.String(64), primary_key=True),
        sa.Column("token", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.Column("stale", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "link_tokens",
        sa.Column("token", sa.String(128), primary_key=True),
        sa.Column("client_key", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_link_tokens_client", "link_tokens", ["client_key"])


def downgrade() -> None:
    for table in ("link_tokens", "publishes", "sync_runs", "cursors", "entries"):
        op.drop_table(table)
