"""Service subcommands: ``serve`` (uvicorn) and ``users`` (add, list)."""

from __future__ import annotations

import argparse
import sys

from ..errors import CliError
from ..settings import get_settings


def register(sub) -> None:  # noqa: ANN001 - argparse's private subparsers type
    p = sub.add_parser("serve", help="run the HTTP service (FastAPI on uvicorn)",
                       description="Run the coding service. Settings come from CODEERHULP_* environment variables "
                                   "(database URL, models dir, limits); the database is migrated at start. "
                                   "OpenAPI docs at http://HOST:PORT/docs.")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1,
                   help="worker processes; each serves the promoted model within model_poll_seconds")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.add_argument("--no-access-log", action="store_true", help="do not log every request (faster under load)")
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("users", help="add or list the service's users (coders and admins)",
                       description="Manage users of the service. 'users add' prints the new user's API token "
                                   "once; only its hash is stored.")
    users = p.add_subparsers(dest="users_command", metavar="ACTION")
    add = users.add_parser("add", help="add a user and print their token once")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", choices=("coder", "admin"), default="coder")
    add.set_defaults(handler=cmd_users_add)
    lst = users.add_parser("list", help="list users and roles")
    lst.set_defaults(handler=cmd_users_list)
    p.set_defaults(handler=lambda args: p.print_help() or 0)


WORKER_HEALTHCHECK_SECONDS = 120


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from ..db import Database, migrate

    if args.workers < 1:
        raise CliError("--workers must be at least 1")
    settings = get_settings()
    # Migrate once here so that workers starting together find the schema ready (they check again, cheaply).
    db = Database(settings.resolved_database_url())
    try:
        migrate(db)
    finally:
        db.dispose()
    os.environ.setdefault("CODEERHULP_LOG_LEVEL", args.log_level.upper())
    # A worker loads its model (and may build the encoder engine) before it answers uvicorn's health
    # check; uvicorn's 5 s default killed and restarted workers in a loop on a busy 2-core machine.
    uvicorn.run("service.main:app_factory", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level=args.log_level, access_log=not args.no_access_log,
                timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS)
    return 0


def _database():  # noqa: ANN202
    from ..db import Database, migrate

    db = Database(get_settings().resolved_database_url())
    migrate(db)
    return db


def cmd_users_add(args: argparse.Namespace) -> int:
    from .. import repository

    db = _database()
    try:
        user, token = db.write(lambda s: repository.create_user(s, args.name, args.role))
    except (repository.Conflict, repository.Invalid) as exc:
        raise CliError(str(exc)) from None
    finally:
        db.dispose()
    print(f"added {user.role} {user.name!r}. Their API token (shown once, store it safely):", file=sys.stderr)
    print(token)
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from .. import repository

    db = _database()
    try:
        users = db.read(repository.list_users)
    finally:
        db.dispose()
    for u in users:
        print(f"{u.id}\t{u.name}\t{u.role}\t{'active' if u.active else 'revoked'}")
    if not users:
        print("no users; add one with 'codeerhulp users add NAME --role admin'", file=sys.stderr)
    return 0
