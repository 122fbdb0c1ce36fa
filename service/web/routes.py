"""The coders' pages: server-rendered Dutch HTML over the same repository the API uses.

Signing in checks the API token once and starts a server-side session (service/sessions.py): the
browser keeps only a random session id, in an HttpOnly, SameSite=Strict cookie, never the token.
The pages' JavaScript calls the JSON API with that cookie and the session's CSRF token in a header;
every form carries the CSRF token too. Signing out deletes the session in the database.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from training.agreement import DIMENSIONS, agreement_report
from training.agreement_report import agreement_texts
from training.segmenting import Segment

from .. import repository, sessions
from ..api.deps import SESSION_COOKIE, Services, ServicesDep, browser_session
from ..schemas import MAX_ROW_ID
from ..api.models import list_models
from ..batching import Overloaded
from ..registry import NoModelError
from ..security import new_secret, same_secret
from ..sessions import SignedIn
from ..visibility import Viewer
from . import plots, queries
from .catalogue import catalogue

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
# Before sign-in there is no session to hold a CSRF token: the sign-in form's token is also kept in
# this cookie (only sent to the sign-in address), and a post whose field and cookie differ is refused.
SIGNIN_COOKIE = "codeerhulp_signin"
SIGNIN_PATH = "/aanmelden"

# Resamples behind the page's intervals, as in the agreement command: stable 95% bounds. On a study
# of some 3,500 segments with three coders they add a few seconds to the page (BENCHMARKS.md,
# agreement report), about as much as the coefficients themselves take.
AGREEMENT_RESAMPLES = 1000

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=WEB_DIR / "templates")


def _secure(request: Request, services: Services) -> bool:
    # Behind a proxy that terminates HTTPS, uvicorn sets the scheme from X-Forwarded-Proto when the
    # proxy's address is in forwarded_allow_ips; secure_cookies covers a proxy that does not say.
    return services.settings.secure_cookies or request.url.scheme == "https"


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _safe_next(target: str | None) -> str:
    # Only paths on this site: "//host" or "http://..." would make the sign-in an open redirect.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/documenten"


def _to_signin(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(request.url_for("signin_page").include_query_params(next=target), status_code=303)


def _codebook_view(services: ServicesDep) -> dict[str, Any]:
    """What the pages and the code picker need from the codebook, keyed by factor id."""
    cb = services.codebook
    groups = {g.id: g.label for g in cb.groups}
    return {
        "version": cb.version,
        "richting": dict(cb.richting_labels),
        "factors": {f.id: {"id": f.id, "label": f.label, "group": groups.get(f.group, f.group),
                           "richting": list(f.richting), "aard": dict(f.poles), "active": f.status == "active"}
                    for f in cb.factors},
    }


def _render(request: Request, name: str, me: SignedIn | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page; for a signed-in coder with their session's CSRF token (forms and the pages' requests)."""
    t = catalogue()
    context = {"t": t, "js_strings": t["js"], "user": me.user if me else None,
               "csrf_token": me.csrf_token if me else None, **context}
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _orders() -> list[tuple[str, str]]:
    """The review orders as (value of ?volgorde=, Dutch name): the one list every page shows."""
    names = catalogue()["orders"]
    return [(order, names[order]) for order in queries.ORDERS]


def _wants_html(request: Request) -> bool:
    # The API (and any client that does not ask for HTML, such as curl or httpx) keeps JSON errors.
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Errors outside the API: a Dutch page for a browser, FastAPI's JSON for everyone else."""
    if not _wants_html(request):
        return await http_exception_handler(request, exc)
    services = getattr(request.app.state, "services", None)
    me = browser_session(services, request) if services is not None else None
    t = catalogue()["errors"]
    missing = exc.status_code == 404
    return _render(request, "error.html", me, status_code=exc.status_code,
                   title=t["page_not_found_title"] if missing else t["title"],
                   message=t["page_not_found"] if missing else t["other"],
                   status=t["status"].format(status=exc.status_code))


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/documenten", status_code=303)


@router.get("/favicon.ico")
def favicon() -> RedirectResponse:
    # Browsers ask for /favicon.ico on pages without an icon link (the API docs): the same SVG.
    return RedirectResponse("/static/favicon.svg", status_code=301)


def _signin_form(request: Request, services: Services, status_code: int = 200, error: str | None = None,
                 next_path: str | None = None, signed_out: bool = False, fresh_token: bool = False,
                 headers: dict[str, str] | None = None) -> HTMLResponse:
    """The sign-in page, with the form's CSRF token in a field and in its cookie."""
    token = request.cookies.get(SIGNIN_COOKIE)
    if fresh_token or not token:
        token = new_secret()
    response = _render(request, "signin.html", None, status_code=status_code, next=_safe_next(next_path),
                       signed_out=signed_out, error=error, csrf_token=token)
    response.set_cookie(SIGNIN_COOKIE, token, path=SIGNIN_PATH, httponly=True, samesite="strict",
                        secure=_secure(request, services))
    response.headers.update(headers or {})
    return response


@router.get(SIGNIN_PATH, name="signin_page")
def signin_page(request: Request, services: ServicesDep, next: str | None = None,  # noqa: A002
                afgemeld: bool = False) -> HTMLResponse:
    return _signin_form(request, services, next_path=next, signed_out=afgemeld)


@router.post(SIGNIN_PATH)
def signin(request: Request, services: ServicesDep, token: Annotated[str, Form()] = "",
           next: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "") -> Response:  # noqa: A002
    t = catalogue()["signin"]
    address = _client_address(request)
    wait = services.signin_limiter.retry_after(address)
    if wait is not None:
        return _signin_form(request, services, status_code=429, next_path=next, headers={"Retry-After": str(wait)},
                            error=t["error_too_many"].format(seconds=wait))
    if not same_secret(csrf_token, request.cookies.get(SIGNIN_COOKIE)):
        # Not a failed sign-in (no token was tried): a form from elsewhere, or one older than its cookie.
        return _signin_form(request, services, status_code=403, next_path=next, fresh_token=True,
                            error=t["error_form"])
    token = token.strip()
    user = services.db.read(lambda s: repository.user_by_token(s, token)) if token else None
    if user is None:
        if token:
            services.signin_limiter.failed(address)
            if services.signin_limiter.retry_after(address) is not None:
                log.warning("failed sign-ins from %s reached the limit of %d a minute",
                            address, services.settings.signin_failures_per_minute)
        return _signin_form(request, services, status_code=401, next_path=next,
                            error=t["error_unknown"] if token else t["error_empty"])
    lifetime = dt.timedelta(hours=services.settings.session_hours)
    previous = request.cookies.get(SESSION_COOKIE)

    def start(session):  # noqa: ANN001, ANN202 - one transaction: the old session ends as the new one starts
        if previous:
            sessions.end_session(session, previous)
        return sessions.start_session(session, user, lifetime)

    session_id, _ = services.db.write(start)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, session_id, max_age=int(lifetime.total_seconds()), httponly=True,
                        samesite="strict", secure=_secure(request, services))
    response.delete_cookie(SIGNIN_COOKIE, path=SIGNIN_PATH)
    return response


@router.post("/afmelden")
def signout(request: Request, services: ServicesDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    me = browser_session(services, request)
    if me is not None and not same_secret(csrf_token, me.csrf_token):
        t = catalogue()["errors"]
        return _render(request, "error.html", me, status_code=403, title=t["title"], message=t["signout_refused"],
                       status=t["status"].format(status=403))
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        services.db.write(lambda s: sessions.end_session(s, session_id))
    response = RedirectResponse(f"{SIGNIN_PATH}?afgemeld=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/documenten")
def documents_page(request: Request, services: ServicesDep) -> Response:
    me = browser_session(services, request)
    if me is None:
        return _to_signin(request)
    blind_coding = services.settings.blind_coding
    documents = services.db.read(lambda s: repository.list_documents(s, limit=1000, blind_coding=blind_coding))
    done = services.db.read(lambda s: queries.progress(s, [d.id for d in documents]))
    return _render(request, "documents.html", me, documents=documents, progress=done, orders=_orders(),
                   blind_coding=blind_coding)


def _most_instructive_first(services: Services, document) -> list:  # noqa: ANN001 - a schemas.DocumentOut
    """The "meest leerzaam" order, scored by the served model; document order when no model is served.
    While the document is blind its own confirmations stay out of the memory, as in its suggestions: the
    order must not tell one coder what another decided."""
    segments = document.segments
    try:
        positions = services.registry.most_instructive_first(
            [Segment(id=str(s.id), text=s.text, question=s.question, speaker=s.speaker) for s in segments],
            memory_without_document=document.id if document.blind else None)
    except (NoModelError, Overloaded):  # no model, or this worker's queue is full: the page still opens
        return queries.order_segments(segments, "document")
    return [segments[i] for i in positions]


@router.get("/documenten/{document_id}")
def segment_page(request: Request, services: ServicesDep, document_id: int, volgorde: str = "document",
                 segment: int | None = None) -> Response:
    me = browser_session(services, request)
    if me is None:
        return _to_signin(request)
    user = me.user
    try:
        if not 1 <= document_id <= MAX_ROW_ID:  # cannot exist; the database would refuse to look it up
            raise repository.NotFound(document_id)
        viewer = Viewer.of(user, services.settings.blind_coding)
        document = services.db.read(lambda s: repository.get_document(s, document_id, viewer))
    except repository.NotFound:
        return _render(request, "error.html", me, status_code=404, message=catalogue()["errors"]["not_found"])
    order = volgorde if volgorde in queries.ORDERS else "document"
    segments = _most_instructive_first(services, document) if order == "leerzaam" \
        else queries.order_segments(document.segments, order)
    mine = {s.id: next((d for d in s.decisions if d.coder == user.name), None) for s in segments}
    # Open where the coder left off: the asked segment, else the first they have not decided.
    ids = [s.id for s in segments]
    start = ids.index(segment) if segment in ids else next(
        (i for i, s in enumerate(segments) if mine[s.id] is None), 0)
    # The coder's own codes, for the picker to start from when they edit a decision again.
    decisions_json = {s_id: {"action": d.action, "codes": [c.model_dump() for c in d.codes]}
                      for s_id, d in mine.items() if d is not None}
    return _render(request, "segment.html", me, document=document, segments=segments, mine=mine, start=start,
                   order=order, orders=_orders(), codebook=_codebook_view(services), decisions_json=decisions_json,
                   position_key=f"codeerhulp.fragment.{document.id}.{user.name}")


@router.get("/overeenstemming")
def agreement_page(request: Request, services: ServicesDep, document: str | None = None) -> Response:
    me = browser_session(services, request)
    if me is None:
        return _to_signin(request)
    user = me.user
    document_id = int(document) if document and document.isdigit() and 1 <= int(document) <= MAX_ROW_ID else None

    viewer = Viewer.of(user, services.settings.blind_coding)

    def read(session):  # noqa: ANN001, ANN202 - one read transaction for the whole page
        humans = repository.all_coder_names(session, viewer)
        current = None
        if humans:
            names = [*humans, repository.MODEL_CODER]
            triples, blind = repository.agreement_input(session, names, viewer, document_id)
            current = agreement_report(triples, DIMENSIONS, resamples=AGREEMENT_RESAMPLES)
            current["blind_decisions"] = blind
        return (current, queries.agreement_over_versions(session, viewer, document_id),
                repository.list_documents(session, limit=1000, blind_coding=viewer.blind_coding),
                repository.list_jobs(session, limit=1))

    current, versions, documents, jobs = services.db.read(read)
    cb = _codebook_view(services)
    line = heat = None
    if versions:
        names = [v["version"] for v in versions]
        t = catalogue()["agreement"]
        coders = sorted({c for v in versions for c in v["kappa"]})
        series = {t["series_alpha"]: [v["alpha"] for v in versions]}
        series |= {f"{t['kappa_with']} {c}": [v["kappa"].get(c) for v in versions] for c in coders}
        line = plots.line_chart(names, series, t["over_versions"])
        used = [f for f in cb["factors"] if any(v["per_factor"].get(f, {}).get("n_present") for v in versions)]
        rows = [(cb["factors"][f]["label"], [(v["per_factor"].get(f, {}).get("alpha"),
                                              v["per_factor"].get(f, {}).get("n_units", 0)) for v in versions])
                for f in used]
        heat = plots.heatmap(names, rows, t["per_factor"]) if rows else None
    models = list_models(services, user) if user.role == "admin" else []
    explain = agreement_texts(current["bootstrap"]["resamples"] if current else AGREEMENT_RESAMPLES,
                              current["bootstrap"]["seed"] if current else 0)
    return _render(request, "agreement.html", me, current=current, line=line, heat=heat, documents=documents,
                   document_id=document_id, models=models, job=repository.job_out(jobs[0]) if jobs else None,
                   dimensions=DIMENSIONS, explain=explain, own_only=viewer.decisions_filter() is not None)
