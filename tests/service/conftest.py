"""Service fixtures: a database per test (SQLite file, and PostgreSQL in its own schema when
CODEERHULP_TEST_POSTGRES_URL is set), a private copy of the trained model store, and app settings
that retrain in seconds (the lexical config on the small corpus)."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from service import repository
from service.db import Database, migrate
from service.settings import Settings
from training.processes import process_alive, process_id
from tests.conftest import POSTGRES_READY_TIMEOUT, POSTGRES_URL, SERVER_START_TIMEOUT
from training import paths

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def copy_store(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # artifacts are read-only; tests tamper with copies
    return target


_postgres_ready = False


def wait_for_postgres(engine, timeout: float = POSTGRES_READY_TIMEOUT) -> None:
    """Wait (once per session) until the server accepts connections, then fail with its last error."""
    global _postgres_ready
    deadline = time.monotonic() + timeout
    while not _postgres_ready:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            _postgres_ready = True
        except OperationalError as exc:
            if time.monotonic() > deadline:
                pytest.fail(f"PostgreSQL at CODEERHULP_TEST_POSTGRES_URL not ready after {timeout:.0f} s "
                            f"(CODEERHULP_TEST_POSTGRES_TIMEOUT): {exc.orig}")
            time.sleep(1)


@contextlib.contextmanager
def fresh_database(backend: str, base: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file under base, or a PostgreSQL schema dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{base / 'data' / 'codeerhulp.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("CODEERHULP_TEST_POSTGRES_URL is not set")
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    wait_for_postgres(admin)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database per test, on each backend."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def models_dir(tmp_path, trained_models_dir) -> Path:
    return copy_store(trained_models_dir, tmp_path / "models")


def make_settings(base: Path, database_url: str, models_dir: Path, small_corpus: dict[str, Path],
                  small_transcripts: Path) -> Settings:
    """Settings over a test's own database and model store that retrain in seconds."""
    return Settings(
        data_dir=base / "data", database_url=database_url, models_dir=models_dir,
        train_dir=small_corpus["train"], eval_dir=small_corpus["eval"], transcripts_dir=small_transcripts,
        train_config=paths.PACKAGE_DIR / "configs" / "lexical.yaml", embedding_cache_dir=None,
        # A lease outlives 20 missed heartbeats: the job's process runs niced, and on a machine busy with
        # two test processes a 5 s lease once expired under a living retrain (it was failed, not cancelled).
        model_poll_seconds=0.2, job_heartbeat_seconds=0.5, job_stale_seconds=10.0,
    )


@pytest.fixture
def settings(tmp_path, database_url, models_dir, small_corpus, small_transcripts) -> Settings:
    return make_settings(tmp_path, database_url, models_dir, small_corpus, small_transcripts)


def add_user(url: str, name: str, role: str = "coder") -> str:
    """Create a user directly in the database (migrating it first) and return the token."""
    db = Database(url)
    try:
        migrate(db)
        _, token = db.write(lambda s: repository.create_user(s, name, role))
    finally:
        db.dispose()
    return token


def suggest_again(settings: Settings, document: dict, code: dict[str, str], model_version: str) -> int:
    """A new suggestion run of a document that gives every segment ``code`` (as a newly promoted
    model could), stored by the service's own domain function; returns the run's number."""
    records = [{"codes": [{**code, "confidence": 0.9}], "model_version": model_version, "codebook_version": "1.0.0"}
               for _ in document["segments"]]
    db = Database(settings.resolved_database_url())
    try:
        return db.write(lambda s: repository.add_suggestion_run(s, document["id"],
                                                                [seg["id"] for seg in document["segments"]], records))
    finally:
        db.dispose()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def pid_running(pid: int) -> bool:
    """Whether a process of this host still runs (the job queue's own check, training.processes)."""
    return bool(process_alive(process_id(pid)))


def form_token(html: str) -> str:
    """The CSRF token a page's form carries (the sign-in form, or the sign-out button's form)."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, token: str) -> None:  # noqa: ANN001 - a TestClient
    """Sign in as a browser does: open the form, send it back with its CSRF token."""
    csrf = form_token(client.get("/aanmelden").text)
    r = client.post("/aanmelden", data={"token": token, "next": "/documenten", "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/documenten", r.text


def run_cli(settings: Settings, monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:  # noqa: ANN001
    """``codeerhulp ARGV`` in this process against these settings' database: exit code, stdout, stderr."""
    from service.cli import main
    from service.settings import get_settings

    monkeypatch.setenv("CODEERHULP_DATABASE_URL", settings.resolved_database_url())
    monkeypatch.setenv("CODEERHULP_AUTH_CACHE_SECONDS", str(settings.auth_cache_seconds))
    get_settings.cache_clear()
    try:
        code = main(list(argv))
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr()
    return code, out.out, out.err


def settings_env(settings: Settings) -> dict[str, str]:
    """The CODEERHULP_* environment that reproduces these settings in a server subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEERHULP_")}
    for key, value in settings.model_dump().items():
        if value is not None:
            env[f"CODEERHULP_{key.upper()}"] = str(value)
    env["CODEERHULP_LOG_LEVEL"] = "INFO"
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``codeerhulp serve`` in a subprocess on a free loopback port, its log in a file."""

    def __init__(self, settings: Settings, log_path: Path, workers: int = 1) -> None:
        self.settings = settings
        self.log_path = log_path
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = SERVER_START_TIMEOUT) -> "Server":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(self.port), "--workers", str(self.workers),
             "--log-level", "info", "--no-access-log"],
            env=settings_env(self.settings), stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no shutdown handlers run
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def server_factory(tmp_path):
    servers: list[Server] = []

    def make(settings: Settings, workers: int = 1, name: str = "server") -> Server:
        server = Server(settings, tmp_path / f"{name}-{len(servers)}.log", workers)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


class JobWorker:
    """``codeerhulp worker`` in a subprocess (what serve starts beside uvicorn), its log in a file."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.log_path = log_path
        log = open(log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "service.cli", "worker"], env=settings_env(settings),
                                     stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2])

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def job_worker(settings: Settings, tmp_path) -> Iterator[JobWorker]:
    """A job worker beside an in-process app (the client fixture): it runs the retrains."""
    worker = JobWorker(settings, tmp_path / "worker.log")
    yield worker
    worker.stop()


@pytest.fixture
def users(settings: Settings) -> dict[str, str]:
    """An admin and two coders, by name, with their tokens."""
    url = settings.resolved_database_url()
    return {"admin": add_user(url, "admin", "admin"), "anna": add_user(url, "anna"), "bram": add_user(url, "bram")}


@pytest.fixture
def client(settings: Settings, users: dict[str, str]):
    """The app in-process (lifespan included), with the users above."""
    from fastapi.testclient import TestClient

    from service.main import create_app

    with TestClient(create_app(settings)) as c:
        yield c

