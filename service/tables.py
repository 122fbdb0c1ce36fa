"""ORM tables. The schema itself is created by the Alembic migrations in ``service/migrations``.

Provenance is kept on every row that comes from a model or a person: suggestions carry the model
and codebook version, decisions their coder, version number and the suggestion run they judged.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    pass


ROLES = ("coder", "admin")
ACTIONS = ("accept", "correct", "reject", "no_code")
# The record that a coder's decision was withdrawn (codeerhulp users forget): a version of its own,
# never current, so the decision leaves every reader of current decisions and its history stays.
WITHDRAWN = "withdrawn"
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
MOMENTS = ("start", "eind", "logboek1", "logboek2", "logboek3")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BrowserSession(Base):
    """A signed-in browser. The cookie holds a random id; only its SHA-256 is stored, as with tokens,
    so the table alone lets no one sign in. Sign-out, revoke and rotate delete the rows."""

    __tablename__ = "browser_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Sent back in every form and in the pages' X-CSRF-Token header; only useful with the cookie.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    respondent: Mapped[str | None] = mapped_column(String(50))
    role: Mapped[str | None] = mapped_column(String(50))
    moment: Mapped[str | None] = mapped_column(String(20))
    plg: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # Suggestions are stored per run (one per model that suggested this document); reads show the last.
    suggestion_run: Mapped[int] = mapped_column(Integer, default=1)
    # Set while an admin has opened the document for discussion: then every coder sees every
    # decision on it (service/visibility.py); None while its coding is blind.
    discussion_opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    segments: Mapped[list[Segment]] = relationship(back_populates="document", order_by="Segment.ordinal",
                                                   cascade="all, delete-orphan")


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("document_id", "ordinal"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    external_id: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    speaker: Mapped[str | None] = mapped_column(String(100))
    question: Mapped[str | None] = mapped_column(Text)
    line_start: Mapped[int | None] = mapped_column(Integer)
    line_end: Mapped[int | None] = mapped_column(Integer)
    char_start: Mapped[int | None] = mapped_column(Integer)
    char_end: Mapped[int | None] = mapped_column(Integer)

    document: Mapped[Document] = relationship(back_populates="segments")


class Suggestion(Base):
    __tablename__ = "suggestions"
    __table_args__ = (Index("ix_suggestions_segment_run", "segment_id", "run"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    run: Mapped[int] = mapped_column(Integer)
    rank: Mapped[int] = mapped_column(Integer)
    factor: Mapped[str] = mapped_column(String(100))
    richting: Mapped[str] = mapped_column(String(4))
    aard: Mapped[str] = mapped_column(String(4))
    confidence: Mapped[float] = mapped_column(Float)
    richting_confidence: Mapped[float | None] = mapped_column(Float)
    aard_confidence: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(64))
    codebook_version: Mapped[str] = mapped_column(String(64))
    # The confirmation memory consulted ("<confirmed segments>:<digest>"), None when there was none.
    memory_state: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Decision(Base):
    """A coder's decision on a segment. Never updated except to retire it: a change is a new version.
    A withdrawn decision is retired with no current successor; a ``withdrawn`` row records when and by whom."""

    __tablename__ = "decisions"
    __table_args__ = (
        UniqueConstraint("segment_id", "coder_id", "version"),
        # At most one current decision per (segment, coder), enforced by the database itself so two
        # workers racing on the same pair cannot both win.
        Index("uq_decisions_current", "segment_id", "coder_id", unique=True,
              sqlite_where=text("is_current"), postgresql_where=text("is_current")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"), index=True)
    coder_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    codes: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    is_current: Mapped[bool] = mapped_column(Boolean)
    # The suggestion run the coder saw (the client names it; else the document's latest when the
    # decision came in): accept copies that run's codes, and its model and codebook version are kept
    # for provenance. None for decisions stored before runs were recorded (migration 0003).
    suggestion_run: Mapped[int | None] = mapped_column(Integer)
    model_version: Mapped[str | None] = mapped_column(String(64))
    codebook_version: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    # Whether the coder could not see other coders' decisions on this document when deciding (blind
    # coding on, document not open for discussion, coder no admin). None: stored before migration 0007.
    blind: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelVersion(Base):
    """A model version the service trained or served, with its gate result."""

    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # imported | promoted | rejected
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    gate_reason: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelActivation(Base):
    """Append-only history of the active model; the newest row is what every worker serves."""

    __tablename__ = "model_activations"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    previous_version: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    activated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # Only one retrain queued or running at a time, across all workers and hosts.
        Index("uq_jobs_one_active", "kind", unique=True,
              sqlite_where=text("status IN ('queued', 'running')"),
              postgresql_where=text("status IN ('queued', 'running')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    worker: Mapped[str | None] = mapped_column(String(255))  # host:pid of the process running it
    # The lease (service/jobs.py): held while lease_expires_at is set and in the future. The fencing
    # token grows at every claim and release; only the holder of the current token may write.
    lease_token: Mapped[int] = mapped_column(Integer, default=0)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    phase: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
