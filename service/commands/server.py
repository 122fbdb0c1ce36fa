"""Service subcommands: ``serve`` (uvicorn and the job worker), ``worker``, ``jobs`` and ``users``
(add, list, revoke, rotate, forget)."""

from __future__ import annotations

import argparse
import sys

from ..errors import CliError
from ..settings import get_settings


def register(sub) -> None:  # noqa: ANN001 - argparse's private subparsers type
    p = sub.add_parser("serve", help="de codeerservice starten (HTTP, FastAPI op uvicorn)",
                       description="Start de codeerservice: de pagina's voor codeurs en de API. Instellingen komen "
                                   "uit de omgevingsvariabelen CODEERHULP_* (database-URL, modelmap, grenzen); de "
                                   "database wordt bij de start bijgewerkt. API-documentatie op "
                                   "http://HOST:POORT/docs.")
    p.add_argument("--host", metavar="ADRES", default="127.0.0.1",
                   help="netwerkadres om op te luisteren (standaard 127.0.0.1: alleen deze computer)")
    p.add_argument("--port", type=int, default=8000, metavar="POORT", help="poort (standaard 8000)")
    p.add_argument("--workers", type=int, metavar="N", default=1,
                   help="webprocessen; elk gaat binnen model_poll_seconds over op een nieuw actief model "
                        "(standaard 1)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"),
                   help="hoeveel de logs melden (standaard info; logregels zijn Engels)")
    p.add_argument("--no-access-log", action="store_true",
                   help="niet elk verzoek loggen (sneller onder zware belasting)")
    p.add_argument("--no-worker", action="store_true",
                   help="geen taakverwerker starten: draai 'codeerhulp worker' elders, anders blijven hertrainingen "
                        "in de wachtrij")
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("worker", help="de taakverwerker (hertrainingen) naast de service draaien",
                       description="Haalt hertrainingen uit de wachtrij in de database en voert elke uit in een eigen "
                                   "proces met lagere CPU-prioriteit. 'codeerhulp serve' start er een; start er zelf "
                                   "een bij 'serve --no-worker', bijvoorbeeld op een andere computer met dezelfde "
                                   "database en modelopslag. Stopt bij SIGTERM of Ctrl+C (een lopende taak mislukt "
                                   "dan).")
    p.add_argument("--once", action="store_true", help="één taak uit de wachtrij uitvoeren (of geen) en stoppen")
    p.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # set by serve: die with it
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser("jobs", help="taken tonen, of er een annuleren",
                       description="De taken van de service (hertrainingen) met hun status; 'jobs cancel ID' stopt "
                                   "er een.")
    job_actions = p.add_subparsers(dest="jobs_command", metavar="ACTIE", title="acties")
    lst = job_actions.add_parser("list", help="de laatste taken, nieuwste eerst",
                                 description="De laatste 20 taken, nieuwste eerst: id, status, aangemaakt, bericht.")
    lst.set_defaults(handler=cmd_jobs_list)
    cancel = job_actions.add_parser("cancel", help="een wachtende of lopende taak annuleren",
                                    description="Annuleert een taak die wacht of loopt; een geannuleerde "
                                                "hertraining maakt nooit een model actief.")
    cancel.add_argument("job_id", type=int, metavar="ID", help="het nummer uit 'codeerhulp jobs list'")
    cancel.set_defaults(handler=cmd_jobs_cancel)
    p.set_defaults(handler=lambda args: p.print_help() or 0)

    p = sub.add_parser("users", help="gebruikers van de service (codeurs en beheerders) toevoegen, tonen, intrekken "
                                     "of een nieuwe sleutel geven",
                       description="Beheer van de gebruikers van de service. 'users add' en 'users rotate' tonen de "
                                   "API-sleutel (token) van de gebruiker één keer; alleen de hash wordt bewaard.")
    users = p.add_subparsers(dest="users_command", metavar="ACTIE", title="acties")
    add = users.add_parser("add", help="een gebruiker toevoegen en de sleutel één keer tonen",
                           description="Voegt een gebruiker toe en toont de API-sleutel één keer (op standaarduitvoer, "
                                       "de uitleg op standaardfout).")
    add.add_argument("name", metavar="NAAM", help="de naam waaronder de gebruiker codeert")
    add.add_argument("--role", choices=("coder", "admin"), default="coder",
                     help="coder: codeur; admin: beheerder, mag ook hertrainen en modellen activeren "
                          "(standaard coder)")
    add.set_defaults(handler=cmd_users_add)
    lst = users.add_parser("list", help="gebruikers en hun rol tonen",
                           description="Toont id, naam, rol en of de sleutel actief of ingetrokken is.")
    lst.set_defaults(handler=cmd_users_list)
    revoke = users.add_parser(
        "revoke", help="de sleutel van een gebruiker intrekken en de browsersessies beëindigen",
        description="De sleutel werkt meteen niet meer in nieuwe processen en binnen auth_cache_seconds in een "
                    "draaiende service; de browsersessies van de gebruiker eindigen meteen. 'users rotate NAAM' "
                    "geeft de toegang terug.")
    revoke.add_argument("name", metavar="NAAM")
    revoke.set_defaults(handler=cmd_users_revoke)
    rotate = users.add_parser(
        "rotate", help="een gebruiker een nieuwe sleutel geven (één keer getoond); de oude werkt niet meer",
        description="Een nieuwe sleutel voor NAAM, één keer getoond; de oude werkt niet meer (binnen "
                    "auth_cache_seconds in een draaiende service) en de browsersessies van de gebruiker eindigen. "
                    "Een ingetrokken gebruiker is weer actief.")
    rotate.add_argument("name", metavar="NAAM")
    rotate.set_defaults(handler=cmd_users_rotate)
    forget = users.add_parser(
        "forget", help="alle huidige besluiten van een codeur intrekken (geheugen, hertrainen, overeenstemming)",
        description="Trekt elk huidig besluit van NAAM in: ze tellen meteen niet meer mee in het geheugen van de "
                    "suggesties, bij het volgende hertrainen en in de overeenstemming. Er wordt niets gewist: per "
                    "fragment komt er een versie 'withdrawn' (ingetrokken) bij met wanneer, door wie en waarom "
                    "(GET /api/v1/segments/ID/decisions?history=true). Een model dat al op de besluiten is getraind, "
                    "blijft dat: hertrain daarna, of zet een eerdere versie terug. De sleutel van de gebruiker "
                    "blijft werken; nieuwe besluiten tellen weer mee.")
    forget.add_argument("name", metavar="NAAM", help="de codeur van wie de besluiten worden ingetrokken")
    forget.add_argument("--reason", metavar="TEKST", help="waarom; bewaard bij elke intrekking")
    forget.set_defaults(handler=cmd_users_forget)
    p.set_defaults(handler=lambda args: p.print_help() or 0)


WORKER_HEALTHCHECK_SECONDS = 120
ROLE_NAMES = {"coder": "codeur", "admin": "beheerder"}


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    if args.workers < 1:
        raise CliError("--workers moet minstens 1 zijn")
    settings = get_settings()
    # Migrate once here so that workers starting together find the schema ready (they check again, cheaply).
    open_database().dispose()
    os.environ.setdefault("CODEERHULP_LOG_LEVEL", args.log_level.upper())
    worker = None if args.no_worker else WorkerProcess()
    if worker:
        worker.start()
    try:
        # A worker loads its model (and may build the encoder engine) before it answers uvicorn's health
        # check; uvicorn's 5 s default killed and restarted workers in a loop on a busy 2-core machine.
        uvicorn.run("service.main:app_factory", factory=True, host=args.host, port=args.port, workers=args.workers,
                    log_level=args.log_level, access_log=not args.no_access_log,
                    timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
                    # The client address (sign-in limit) and scheme (Secure cookie) from these proxies only.
                    proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips)
    finally:
        if worker:
            worker.stop()
    return 0


class WorkerProcess:
    """The job worker that serve starts beside uvicorn and starts again when it stops unexpectedly.

    It dies with serve (``--parent-pid``), so a serve killed with SIGKILL leaves no worker behind.
    """

    RESTART_DELAYS = (1, 2, 5, 10, 30)  # seconds, growing while it keeps failing

    def __init__(self) -> None:
        import threading

        self.proc = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._keep_running, name="job-worker", daemon=True)

    def _spawn(self):  # noqa: ANN202 - subprocess.Popen
        import os
        import subprocess

        return subprocess.Popen([sys.executable, "-m", "service.cli", "worker", "--parent-pid", str(os.getpid())])

    def start(self) -> None:
        self.proc = self._spawn()
        self.thread.start()

    def _keep_running(self) -> None:
        import logging
        import time

        failures = 0
        while not self.stopping.is_set():
            code = self.proc.wait()
            if self.stopping.is_set():
                return
            delay = self.RESTART_DELAYS[min(failures, len(self.RESTART_DELAYS) - 1)]
            logging.getLogger(__name__).error("the job worker stopped (exit code %s); starting it again in %d s",
                                              code, delay)
            started = time.monotonic()
            if self.stopping.wait(delay):
                return
            self.proc = self._spawn()
            failures = failures + 1 if time.monotonic() - started < 60 else 0

    def stop(self) -> None:
        import subprocess

        self.stopping.set()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # the worker fails a running job and ends
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def cmd_worker(args: argparse.Namespace) -> int:
    from ..worker import configure_logging, run_worker

    configure_logging()
    return run_worker(get_settings(), parent_pid=args.parent_pid, once=args.once)


def cmd_jobs_list(args: argparse.Namespace) -> int:
    from .. import repository
    from ..web.catalogue import catalogue

    db = open_database()
    try:
        found = [repository.job_out(j) for j in db.read(lambda s: repository.list_jobs(s, limit=20))]
    finally:
        db.dispose()
    labels = catalogue()["admin"]
    for job in found:
        phase = f" ({labels['phases'].get(job.phase, job.phase)})" if job.status == "running" and job.phase else ""
        print(f"{job.id}\t{labels['statuses'].get(job.status, job.status)}{phase}\t"
              f"{job.created_at:%Y-%m-%d %H:%M}\t{job.message or ''}")
    if not found:
        print("nog geen taken", file=sys.stderr)
    return 0


def cmd_jobs_cancel(args: argparse.Namespace) -> int:
    import getpass

    from .. import jobs, repository

    db = open_database()
    try:
        job = jobs.request_cancel(db, args.job_id, f"{getpass.getuser()} (opdrachtregel)")
    except repository.NotFound:
        raise CliError(f"taak {args.job_id} bestaat niet; 'codeerhulp jobs list' toont de taken") from None
    except repository.Conflict:
        raise CliError(f"taak {args.job_id} is al afgelopen; er valt niets te annuleren") from None
    finally:
        db.dispose()
    print(job.message)
    return 0


def open_database():  # noqa: ANN202
    """The service's database, migrated; a wrong URL or an unreachable server is one Dutch line."""
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    from ..db import Database, migrate

    url = get_settings().resolved_database_url()
    try:
        db = Database(url)
    except sqlalchemy.exc.ArgumentError:
        raise CliError("CODEERHULP_DATABASE_URL is geen database-URL; bijvoorbeeld "
                       "postgresql+psycopg://gebruiker@host:5432/codeerhulp of sqlite:///pad/codeerhulp.db") from None
    try:
        migrate(db)
    except sqlalchemy.exc.OperationalError as exc:
        db.dispose()
        shown = make_url(url).render_as_string(hide_password=True)
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise CliError(f"de database {shown} is niet bereikbaar ({reason}); controleer CODEERHULP_DATABASE_URL en "
                       "of de databaseserver draait") from None
    return db


def _in_database(name: str, fn):  # noqa: ANN001, ANN202 - fn(session) -> result, in one transaction
    import sqlalchemy.exc

    from .. import repository
    from ..db import WriteConflict

    db = open_database()
    try:
        return db.write(fn)
    except repository.NotFound:
        raise CliError(f"er is geen gebruiker {name!r}; 'codeerhulp users list' toont wie er zijn") from None
    except repository.Conflict:
        raise CliError(f"er is al een gebruiker {name!r}; kies een andere naam") from None
    except repository.Invalid as exc:
        raise CliError(f"ongeldige gebruiker: {exc}") from None
    except (sqlalchemy.exc.SQLAlchemyError, WriteConflict) as exc:  # one transaction, rolled back: nothing changed
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise CliError(f"de database weigerde de wijziging ({reason}); er is niets veranderd") from None
    finally:
        db.dispose()


def _print_token(message: str, token: str) -> None:
    # The message to the person on stderr, the token alone on stdout: 'TOKEN=$(codeerhulp users ...)' works.
    print(f"{message} Hun API-sleutel (token), alleen nu getoond; bewaar en geef die veilig door:", file=sys.stderr)
    print(token)


def cmd_users_add(args: argparse.Namespace) -> int:
    from .. import repository

    if not args.name.strip():  # said here in Dutch: the repository's own message is the API's, in English
        raise CliError("een gebruiker heeft een naam nodig")
    user, token = _in_database(args.name, lambda s: repository.create_user(s, args.name, args.role))
    _print_token(f"{ROLE_NAMES[user.role]} {user.name!r} toegevoegd.", token)
    return 0


def cmd_users_revoke(args: argparse.Namespace) -> int:
    from .. import repository

    user = _in_database(args.name, lambda s: repository.revoke_user(s, args.name))
    print(f"sleutel van {user.name!r} ingetrokken en browsersessies beëindigd; een draaiende service weigert de "
          f"sleutel binnen {get_settings().auth_cache_seconds:g} s (auth_cache_seconds). Toegang teruggeven: "
          f"codeerhulp users rotate {user.name}", file=sys.stderr)
    return 0


def cmd_users_rotate(args: argparse.Namespace) -> int:
    from .. import repository

    user, token = _in_database(args.name, lambda s: repository.rotate_token(s, args.name))
    _print_token(f"nieuwe sleutel voor {user.name!r}; de oude werkt niet meer (in een draaiende service binnen "
                 f"{get_settings().auth_cache_seconds:g} s) en hun browsersessies zijn beëindigd.", token)
    return 0


def cmd_users_forget(args: argparse.Namespace) -> int:
    import getpass

    from .. import repository

    note = f"ingetrokken door {getpass.getuser()} (codeerhulp users forget)"
    if args.reason and args.reason.strip():
        note += f": {args.reason.strip()}"
    done = _in_database(args.name, lambda s: repository.withdraw_decisions(s, args.name, note))
    if not done.n_decisions:
        print(f"{done.coder!r} heeft geen huidige besluiten; er is niets ingetrokken")
        return 0
    print(f"{done.n_decisions} {'besluit' if done.n_decisions == 1 else 'besluiten'} van {done.coder!r} ingetrokken, "
          f"op {done.n_documents} {'document' if done.n_documents == 1 else 'documenten'}. Ze tellen niet meer mee "
          "in het geheugen van de suggesties, bij hertrainen en in de overeenstemming; de geschiedenis blijft "
          "bewaard. Een model dat al op deze besluiten is getraind, blijft dat tot de volgende hertraining "
          "(of zet de vorige versie terug: POST /api/v1/models/rollback).")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from .. import repository

    db = open_database()
    try:
        users = db.read(repository.list_users)
    finally:
        db.dispose()
    for u in users:
        print(f"{u.id}\t{u.name}\t{u.role}\t{'actief' if u.active else 'ingetrokken'}")
    if not users:
        print("nog geen gebruikers; voeg er een toe met 'codeerhulp users add NAAM --role admin'", file=sys.stderr)
    return 0
