"""The database: one engine per process, SQLite by default and PostgreSQL by URL, migrated by Alembic.

Writes go through :meth:`Database.write`, which runs a function in one transaction and retries it
when the database reports a transient conflict (SQLite busy, a PostgreSQL serialization failure or
deadlock). A unique-key violation is retried once: a race with another worker is over by then and the
retry sees the row that won; a second violation is no race, and the caller gets a 409 at once. So
one request is one transaction: it is committed whole before the response is sent, or it leaves no
rows at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

T = TypeVar("T")
SERVICE_DIR = Path(__file__).resolve().parent
ALEMBIC_INI = SERVICE_DIR / "alembic.ini"
MIGRATIONS_DIR = SERVICE_DIR / "migrations"
# Any fixed number: PostgreSQL advisory lock key so that workers starting together migrate one by one.
_MIGRATION_LOCK_KEY = 727_001
SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str) -> Engine:
    """An engine with the pragmas and pool settings each backend needs for concurrent workers."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                               pool_size=20, max_overflow=20, pool_timeout=60)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI types
            # Let SQLAlchemy, not the sqlite3 module, decide when a transaction starts (see _begin).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # WAL: readers never block the writer and vice versa; several worker processes can share the file.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:  # noqa: ANN001
            # A write transaction takes the write lock up front (BEGIN IMMEDIATE). A deferred transaction
            # that reads and then writes fails at once with SQLITE_BUSY when another process wrote in
            # between, and the busy timeout does not help; IMMEDIATE waits its turn instead.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20, pool_timeout=60)


class WriteConflict(RuntimeError):
    """409: a write violated a unique key (or another constraint) again after a retry."""


# A concurrent insert that won a race is settled after one retry (it reads the winner's row);
# retrying a key that is taken for good only delays the answer.
INTEGRITY_ATTEMPTS = 2


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, OperationalError):
        msg = str(exc.orig).lower() if exc.orig else str(exc).lower()
        return "locked" in msg or "busy" in msg or "deadlock" in msg or "serializ" in msg
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "sqlstate", None)
        return code in ("40001", "40P01")  # serialization failure, deadlock
    return False


class Database:
    """The engine and session factory of this process, with one-transaction helpers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sqlite = is_sqlite(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextlib.contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        session = self._sessions()
        try:
            if write:
                session.connection(execution_options={"write": True})
            yield session
        finally:
            session.close()

    def read(self, fn: Callable[[Session], T]) -> T:
        with self.session() as session:
            return fn(session)

    def write(self, fn: Callable[[Session], T], attempts: int = 8) -> T:
        """Run fn in one transaction and commit; retry the whole function on a transient conflict.

        ``fn`` must not commit itself and must be safe to run again (it only touches the session).
        """
        integrity_errors = 0
        for attempt in range(1, attempts + 1):
            with self.session(write=True) as session:
                try:
                    result = fn(session)
                    session.commit()
                    return result
                except IntegrityError as exc:
                    session.rollback()
                    integrity_errors += 1
                    if integrity_errors >= INTEGRITY_ATTEMPTS or attempt == attempts:
                        log.warning("write refused by a constraint after %d attempt(s): %s", attempt, exc.orig)
                        raise WriteConflict("the change conflicts with data stored at the same moment (a unique key "
                                            "or another rule of the database); reload and try again") from exc
                    log.debug("retrying a transaction after a constraint violation (attempt %d)", attempt)
                except Exception as exc:
                    session.rollback()
                    if attempt == attempts or not _retryable(exc):
                        raise
                    log.debug("retrying a transaction after %s (attempt %d)", type(exc).__name__, attempt)
            time.sleep(min(0.5, 0.01 * 2 ** attempt) * random.random())
        raise AssertionError("unreachable")

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception as exc:  # any driver error means "not reachable" for /health
            log.warning("database not reachable: %s", exc)
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config() -> Config:
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@contextlib.contextmanager
def _migration_lock(db: Database) -> Iterator[None]:
    """Serialise migrations across worker processes that start at the same moment."""
    if db.sqlite:
        database = make_url(db.url).database
        if not database or database == ":memory:":
            yield
            return
        lock_path = Path(database).with_suffix(".migrate.lock")
        with open(lock_path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            conn.commit()


def run_alembic(conn: Connection, action: Callable[[Config, str], None], revision: str) -> None:
    """``action`` (alembic's command.upgrade or command.downgrade) to ``revision``, in one transaction.

    On SQLite, a migration that rebuilds a table (copy, drop, rename) would trip the foreign keys
    of the tables that refer to it: SQLite's own recipe is to turn them off outside the
    transaction and to check them all before committing, which this does.
    """
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        with conn.begin():
            config = alembic_config()
            config.attributes["connection"] = conn
            action(config, revision)
            if sqlite:
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {broken[:5]}")
    finally:
        if sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def migrate(db: Database) -> None:
    """``alembic upgrade head`` on this database, from code (run at every start; a no-op when current)."""
    with _migration_lock(db), db.engine.connect() as conn:
        run_alembic(conn, command.upgrade, "head")
    log.info("database schema is current (%s)", make_url(db.url).render_as_string(hide_password=True))
