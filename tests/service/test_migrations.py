"""Migrations on a database that has data: 0001 -> 0002_jobs -> 0001 -> head, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from service.db import Database, migrate, run_alembic


def alembic(db: Database, action, revision: str) -> None:  # noqa: ANN001 - command.upgrade or downgrade
    with db.engine.connect() as conn:
        run_alembic(conn, action, revision)


def insert_job(conn, job_id: int, status: str) -> None:  # noqa: ANN001
    conn.execute(text("INSERT INTO jobs (id, kind, status, params, created_at) "
                      "VALUES (:id, 'retrain', :status, '{}', CURRENT_TIMESTAMP)"), {"id": job_id, "status": status})


def test_0002_jobs_keeps_the_jobs_and_what_refers_to_them(database_url):
    db = Database(database_url)
    try:
        alembic(db, command.upgrade, "0001")
        with db.engine.begin() as conn:
            insert_job(conn, 1, "succeeded")
            insert_job(conn, 2, "running")  # a retrain in a web worker's thread, which the upgrade outlives
            conn.execute(text("INSERT INTO model_versions (version, status, metrics, job_id, created_at) "
                              "VALUES ('v1', 'promoted', '{}', 1, CURRENT_TIMESTAMP)"))
        migrate(db)  # what every start runs (SQLite rebuilds the jobs table here)
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT id, status, message, lease_token, cancel_requested FROM jobs "
                                     "ORDER BY id")).all()
            assert [(r.id, r.status, r.lease_token, bool(r.cancel_requested)) for r in rows] == [
                (1, "succeeded", 0, False), (2, "failed", 0, False)]
            assert "bijgewerkt" in rows[1].message
            assert conn.execute(text("SELECT job_id FROM model_versions")).scalar() == 1
        columns = {c["name"] for c in inspect(db.engine).get_columns("jobs")}
        assert {"lease_token", "lease_expires_at", "cancel_requested", "phase", "progress"} <= columns
        with db.engine.begin() as conn:  # the new status is allowed, an unknown one is not
            insert_job(conn, 3, "cancelled")
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            insert_job(conn, 4, "paused")
        with db.engine.begin() as conn:
            insert_job(conn, 5, "queued")
        with pytest.raises(IntegrityError), db.engine.begin() as conn:  # still one retrain at a time
            insert_job(conn, 6, "running")

        alembic(db, command.downgrade, "0001")
        assert "lease_token" not in {c["name"] for c in inspect(db.engine).get_columns("jobs")}
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT status FROM jobs WHERE id = 3")).scalar() == "failed"
        migrate(db)
        if db.sqlite:
            with db.engine.connect() as conn:
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
                assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        db.dispose()


def insert_decision(conn, decision_id: int, action: str, version: int, current: bool) -> None:  # noqa: ANN001
    conn.execute(text("INSERT INTO decisions (id, segment_id, coder_id, action, codes, version, is_current, created_at) "
                      "VALUES (:id, 1, 1, :action, '[]', :version, :current, CURRENT_TIMESTAMP)"),
                 {"id": decision_id, "action": action, "version": version, "current": current})


def test_0008_withdrawn_allows_the_withdrawal_and_keeps_one_current_decision_per_coder(database_url):
    db = Database(database_url)
    try:
        alembic(db, command.upgrade, "0007_discussion")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO users (id, name, role, token_hash, active, created_at) "
                              "VALUES (1, 'anna', 'coder', 'h', TRUE, CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO documents (id, name, kind, text, uploaded_by, suggestion_run, created_at) "
                              "VALUES (1, 'a.txt', 'interview', 'L1: x', 1, 1, CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO segments (id, document_id, ordinal, external_id, text) "
                              "VALUES (1, 1, 1, 'a-1', 'x')"))
            insert_decision(conn, 1, "correct", 1, False)
        with pytest.raises(IntegrityError), db.engine.begin() as conn:  # not yet an action
            insert_decision(conn, 2, "withdrawn", 2, False)
        migrate(db)  # SQLite rebuilds the decisions table here
        with db.engine.begin() as conn:
            insert_decision(conn, 2, "withdrawn", 2, False)
            insert_decision(conn, 3, "accept", 3, True)
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            insert_decision(conn, 4, "forgotten", 4, False)
        with pytest.raises(IntegrityError), db.engine.begin() as conn:  # the partial unique index survived
            insert_decision(conn, 4, "reject", 4, True)

        alembic(db, command.downgrade, "0007_discussion")
        with db.engine.connect() as conn:  # the old schema cannot hold withdrawals; the rest stays
            assert conn.execute(text("SELECT id FROM decisions ORDER BY id")).scalars().all() == [1, 3]
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            insert_decision(conn, 4, "withdrawn", 4, False)
        migrate(db)
        if db.sqlite:
            with db.engine.connect() as conn:
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    finally:
        db.dispose()
