"""Decisions can be withdrawn: ``codeerhulp users forget NAAM`` retires every current decision of a
coder and records, per segment, a withdrawal (action 'withdrawn', never current) that says when and
by whom, so the decision leaves the memory, retraining and agreement without its history being deleted.

Downgrading deletes the withdrawal rows (the old schema cannot hold them); the decisions they
withdrew stay retired.

Revision ID: 0008_withdrawn
Revises: 0007_discussion
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_withdrawn"
down_revision = "0007_discussion"
branch_labels = None
depends_on = None

ACTIONS_BEFORE = "action IN ('accept', 'correct', 'reject', 'no_code')"
ACTIONS_AFTER = "action IN ('accept', 'correct', 'reject', 'no_code', 'withdrawn')"


# On SQLite the batch below rebuilds the table (copy, drop, rename); service.db.migrate turns
# foreign keys off around migrations and checks them after (as in 0002_jobs).


def _current_index(create: bool) -> None:
    # The partial unique index is dropped around the batch and restated: SQLite rebuilds the table
    # there, and a partial index left to reflection could come back without its WHERE.
    if create:
        op.create_index("uq_decisions_current", "decisions", ["segment_id", "coder_id"], unique=True,
                        sqlite_where=sa.text("is_current"), postgresql_where=sa.text("is_current"))
    else:
        op.drop_index("uq_decisions_current", table_name="decisions")


def _actions(allowed: str) -> None:
    _current_index(create=False)
    with op.batch_alter_table("decisions") as batch:
        batch.drop_constraint("ck_decisions_action", type_="check")
        batch.create_check_constraint("ck_decisions_action", allowed)
    _current_index(create=True)


def upgrade() -> None:
    _actions(ACTIONS_AFTER)


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM decisions WHERE action = 'withdrawn'"))
    _actions(ACTIONS_BEFORE)
