"""Workers: the technician names seen per account, kept beside the entries they came from."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("account", "name", name="pk_workers"),
    )
    op.execute("INSERT INTO workers (account, name) "
               "SELECT DISTINCT account, worker_name FROM entries WHERE worker_name IS NOT NULL")


def downgrade() -> None:
    op.drop_table("workers")
