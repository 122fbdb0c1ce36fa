"""Blind coding: when a document was opened for discussion, and whether each decision was made blind.

Decisions stored before keep NULL in ``blind``: whether their coder saw the others' is not known.
Documents start closed (blind), also those that existed before: opening one is an admin's choice.

Revision ID: 0007_discussion
Revises: 0003_accept_run
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_discussion"
down_revision = "0003_accept_run"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (SQLite has them): a batch copy of decisions could lose its partial unique index.
    op.add_column("documents", sa.Column("discussion_opened_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("decisions", sa.Column("blind", sa.Boolean, nullable=True))


def downgrade() -> None:
    op.drop_column("decisions", "blind")  # SQLite 3.35 and later
    op.drop_column("documents", "discussion_opened_at")
