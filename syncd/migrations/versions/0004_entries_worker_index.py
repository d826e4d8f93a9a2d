"""An index on (account, worker_name), so the technician names a page build needs are one seek each."""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_entries_account_worker", "entries", ["account", "worker_name"])


def downgrade() -> None:
    op.drop_index("ix_entries_account_worker", table_name="entries")
