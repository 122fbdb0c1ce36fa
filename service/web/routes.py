"""The coders' pages: server-rendered Dutch HTML over the same repository the API uses.

Reading is server-side: the sign-in form checks the token and keeps it in an HttpOnly,
SameSite=Strict cookie, which only these GET pages read. Writing is not: the page's JavaScript
keeps the token in sessionStorage and calls the JSON API with ``Authorization: Bearer``, so the
API never trusts a cookie and a forged cross-site request cannot write anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from training.agreement import DIMENSIONS, agreement_report
from training.agreement_report import agreement_texts

from .. import repository
from ..schemas import MAX_ROW_ID
from ..api.deps import ServicesDep, get_user
from ..api.models import list_models
from ..tables import User
from . import plots, queries
from .catalogue import catalogue

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
COOKIE = "codeerhulp_token"

# Resamples behind the page's intervals, as in the agreement command: stable 95% bounds. On a study
# of some 3,500 segments with three coders they add a few seconds to the page (BENCHMARKS.md,
# agreement report), about as much as the coefficients themselves take.
AGREEMENT_RESAMPLES = 1000

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=WEB_DIR / "templates")


def _user(request: Request, services: ServicesDep) -> User | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:  # the API's own check, with its token cache
        return get_user(services, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token))
    except HTTPException:
        return None


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


def _render(request: Request, name: str, user: User | None, status_code: int = 200, **context: Any) -> HTMLResponse:
    t = catalogue()
    return templates.TemplateResponse(request, name, {"t": t, "js_strings": t["js"], "user": user, **context},
                                      status_code=status_code)


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
    user = _user(request, services) if services is not None else None
    t = catalogue()["errors"]
    missing = exc.status_code == 404
    return _render(request, "error.html", user, status_code=exc.status_code,
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


@router.get("/aanmelden", name="signin_page")
def signin_page(request: Request, next: str | None = None, afgemeld: bool = False) -> HTMLResponse:  # noqa: A002
    return _render(request, "signin.html", None, next=_safe_next(next), signed_out=afgemeld, error=None)


@router.post("/aanmelden")
def signin(request: Request, services: ServicesDep, token: Annotated[str, Form()] = "",
           next: Annotated[str, Form()] = "") -> Response:  # noqa: A002
    token = token.strip()
    user = services.db.read(lambda s: repository.user_by_token(s, token)) if token else None
    if user is None:
        t = catalogue()["signin"]
        return _render(request, "signin.html", None, status_code=401, next=_safe_next(next), signed_out=False,
                       error=t["error_unknown"] if token else t["error_empty"])
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/afmelden")
def signout() -> RedirectResponse:
    response = RedirectResponse("/aanmelden?afgemeld=1", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/documenten")
def documents_page(request: Request, services: ServicesDep) -> Response:
    user = _user(request, services)
    if user is None:
        return _to_signin(request)
    documents = services.db.read(lambda s: repository.list_documents(s, limit=1000))
    done = services.db.read(lambda s: queries.progress(s, [d.id for d in documents]))
    return _render(request, "documents.html", user, documents=documents, progress=done, orders=_orders())


@router.get("/documenten/{document_id}")
def segment_page(request: Request, services: ServicesDep, document_id: int, volgorde: str = "document",
                 segment: int | None = None) -> Response:
    user = _user(request, services)
    if user is None:
        return _to_signin(request)
    try:
        if not 1 <= document_id <= MAX_ROW_ID:  # cannot exist; the database would refuse to look it up
            raise repository.NotFound(document_id)
        document = services.db.read(lambda s: repository.get_document(s, document_id))
    except repository.NotFound:
        return _render(request, "error.html", user, status_code=404, message=catalogue()["errors"]["not_found"])
    order = volgorde if volgorde in queries.ORDERS else "document"
    segments = queries.order_segments(document.segments, order)
    mine = {s.id: next((d for d in s.decisions if d.coder == user.name), None) for s in segments}
    # Open where the coder left off: the asked segment, else the first they have not decided.
    ids = [s.id for s in segments]
    start = ids.index(segment) if segment in ids else next(
        (i for i, s in enumerate(segments) if mine[s.id] is None), 0)
    # The coder's own codes, for the picker to start from when they edit a decision again.
    decisions_json = {s_id: {"action": d.action, "codes": [c.model_dump() for c in d.codes]}
                      for s_id, d in mine.items() if d is not None}
    return _render(request, "segment.html", user, document=document, segments=segments, mine=mine, start=start,
                   order=order, orders=_orders(), codebook=_codebook_view(services), decisions_json=decisions_json,
                   position_key=f"codeerhulp.fragment.{document.id}.{user.name}")


@router.get("/overeenstemming")
def agreement_page(request: Request, services: ServicesDep, document: str | None = None) -> Response:
    user = _user(request, services)
    if user is None:
        return _to_signin(request)
    document_id = int(document) if document and document.isdigit() and 1 <= int(document) <= MAX_ROW_ID else None

    def read(session):  # noqa: ANN001, ANN202 - one read transaction for the whole page
        humans = repository.all_coder_names(session)
        current = None
        if humans:
            names = [*humans, repository.MODEL_CODER]
            current = agreement_report(repository.agreement_triples(session, names, document_id), DIMENSIONS,
                                       resamples=AGREEMENT_RESAMPLES)
        return (current, queries.agreement_over_versions(session, document_id),
                repository.list_documents(session, limit=1000), repository.list_jobs(session, limit=1))

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
    return _render(request, "agreement.html", user, current=current, line=line, heat=heat, documents=documents,
                   document_id=document_id, models=models, job=repository.job_out(jobs[0]) if jobs else None,
                   dimensions=DIMENSIONS, explain=explain)
