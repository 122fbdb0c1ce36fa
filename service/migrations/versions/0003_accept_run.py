"""Decisions record the suggestion run they were made on (accept stores that run's codes).

Decisions stored before keep NULL: which run their coder saw is not known.

Revision ID: 0003_accept_run
Revises: 0002_jobs
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_accept_run"
# The brief said 0001; main chains its migrations (0001, 0005, 0002_jobs) to keep one head, so this
# follows the newest. The lead re-chains at merge.
down_revision = "0002_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite has it): a batch copy of the table could lose the partial unique index.
    op.add_column("decisions", sa.Column("suggestion_run", sa.Integer, nullable=True))


def downgrade() -> None:
    op.drop_column("decisions", "suggestion_run")  # SQLite 3.35 and later
