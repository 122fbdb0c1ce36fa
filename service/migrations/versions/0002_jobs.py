"""Jobs become a queue that a separate worker process takes jobs from: a lease with a fencing
token, a cancel request, the phase and progress of a running job, and the status 'cancelled'.

Revision ID: 0002_jobs
Revises: 0005_memory_state
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_jobs"
down_revision = "0005_memory_state"
branch_labels = None
depends_on = None

STATUSES_BEFORE = "status IN ('queued', 'running', 'succeeded', 'failed')"
STATUSES_AFTER = "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')"
ONE_ACTIVE = "status IN ('queued', 'running')"


# On SQLite the batch below rebuilds the table (copy, drop, rename); service.db.migrate turns
# foreign keys off around migrations, as SQLite's own recipe for that says, and checks them after.


def _one_active_index(create: bool) -> None:
    # Dropped around the batch below and made again: SQLite rebuilds the table there, and a partial
    # index is safer restated than left to reflection.
    if create:
        op.create_index("uq_jobs_one_active", "jobs", ["kind"], unique=True,
                        sqlite_where=sa.text(ONE_ACTIVE), postgresql_where=sa.text(ONE_ACTIVE))
    else:
        op.drop_index("uq_jobs_one_active", table_name="jobs")


def upgrade() -> None:
    _one_active_index(create=False)
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("lease_token", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("phase", sa.String(32)))
        batch.add_column(sa.Column("progress", sa.Float))
        batch.drop_constraint("ck_jobs_status", type_="check")
        batch.create_check_constraint("ck_jobs_status", STATUSES_AFTER)
    _one_active_index(create=True)
    # A retrain that was queued or running under the old design ran in a thread of a web worker,
    # which this upgrade outlives: nothing will ever finish it.
    op.execute(sa.text("UPDATE jobs SET status = 'failed', message = 'mislukt: de service is tijdens de taak bijgewerkt' "
                       "WHERE status IN ('queued', 'running')"))


def downgrade() -> None:
    op.execute(sa.text("UPDATE jobs SET status = 'failed' WHERE status = 'cancelled'"))
    _one_active_index(create=False)
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("ck_jobs_status", type_="check")
        batch.create_check_constraint("ck_jobs_status", STATUSES_BEFORE)
        for column in ("progress", "phase", "cancel_requested", "lease_expires_at", "lease_token"):
            batch.drop_column(column)
    _one_active_index(create=True)
