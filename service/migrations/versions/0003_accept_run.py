"""Decisions record the suggestion run they were made on (accept stores that run's codes).

Decisions stored before keep NULL: which run their coder saw is not known.

Revision ID: 0003_accept_run
Revises: 0006_sessions
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_accept_run"
# One line of migrations, in the order they landed: 0001, 0005_memory_state, 0002_jobs, 0006_sessions, this.
down_revision = "0006_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite has it): a batch copy of the table could lose the partial unique index.
    op.add_column("decisions", sa.Column("suggestion_run", sa.Integer, nullable=True))


def downgrade() -> None:
    op.drop_column("decisions", "suggestion_run")  # SQLite 3.35 and later
