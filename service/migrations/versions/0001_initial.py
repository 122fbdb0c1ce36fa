"""The initial schema: users, documents, segments, suggestions, decisions, models, jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("active", sa.Boolean, nullable=False),
        _ts("created_at"),
        sa.CheckConstraint("role IN ('coder', 'admin')", name="ck_users_role"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("respondent", sa.String(50)),
        sa.Column("role", sa.String(50)),
        sa.Column("moment", sa.String(20)),
        sa.Column("plg", sa.String(100)),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("uploaded_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("suggestion_run", sa.Integer, nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("external_id", sa.String(100), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("speaker", sa.String(100)),
        sa.Column("question", sa.Text),
        sa.Column("line_start", sa.Integer),
        sa.Column("line_end", sa.Integer),
        sa.Column("char_start", sa.Integer),
        sa.Column("char_end", sa.Integer),
        sa.UniqueConstraint("document_id", "ordinal"),
    )
    op.create_index("ix_segments_document_id", "segments", ["document_id"])
    op.create_table(
        "suggestions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("segment_id", sa.Integer, sa.ForeignKey("segments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("run", sa.Integer, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("factor", sa.String(100), nullable=False),
        sa.Column("richting", sa.String(4), nullable=False),
        sa.Column("aard", sa.String(4), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("richting_confidence", sa.Float),
        sa.Column("aard_confidence", sa.Float),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("codebook_version", sa.String(64), nullable=False),
        _ts("created_at"),
    )
    op.create_index("ix_suggestions_segment_run", "suggestions", ["segment_id", "run"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("segment_id", sa.Integer, sa.ForeignKey("segments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("coder_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("codes", sa.JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("is_current", sa.Boolean, nullable=False),
        sa.Column("model_version", sa.String(64)),
        sa.Column("codebook_version", sa.String(64)),
        sa.Column("note", sa.Text),
        _ts("created_at"),
        sa.UniqueConstraint("segment_id", "coder_id", "version"),
        sa.CheckConstraint("action IN ('accept', 'correct', 'reject', 'no_code')", name="ck_decisions_action"),
    )
    op.create_index("ix_decisions_segment_id", "decisions", ["segment_id"])
    op.create_index("ix_decisions_coder_id", "decisions", ["coder_id"])
    op.create_index("uq_decisions_current", "decisions", ["segment_id", "coder_id"], unique=True,
                    sqlite_where=sa.text("is_current"), postgresql_where=sa.text("is_current"))
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("worker", sa.String(255)),
        _ts("created_at"),
        _ts("started_at", True),
        _ts("finished_at", True),
        _ts("heartbeat_at", True),
        sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="ck_jobs_status"),
    )
    op.create_index("uq_jobs_one_active", "jobs", ["kind"], unique=True,
                    sqlite_where=sa.text("status IN ('queued', 'running')"),
                    postgresql_where=sa.text("status IN ('queued', 'running')"))
    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("gate_reason", sa.Text),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id")),
        _ts("created_at"),
    )
    op.create_table(
        "model_activations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("previous_version", sa.String(64)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("activated_by", sa.Integer, sa.ForeignKey("users.id")),
        _ts("created_at"),
    )


def downgrade() -> None:
    for table in ("model_activations", "model_versions", "jobs", "decisions", "suggestions", "segments",
                  "documents", "users"):
        op.drop_table(table)
