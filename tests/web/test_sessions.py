"""The browser's session, CSRF tokens, the security headers and the sign-in limit, in-process.

The browser tests (test_browser.py) show the same pages working under these rules in Chromium.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from service import repository
from service.db import Database
from service.headers import PAGE_POLICY
from service.main import create_app
from service.security import hash_token
from service.signin_limit import SigninLimiter
from service.tables import BrowserSession, Decision, as_utc
from service.web.routes import catalogue
from tests.service.conftest import auth, form_token, sign_in

INTERVIEW = ("I: Hoe ervaar je de ruimte om je lessen anders in te richten?\n"
             "L7: In mijn eigen lessen kan ik doen wat ik wil, daar word ik niet op gecontroleerd.\n"
             "I: En in de sectie?\n"
             "L7: Daar heb ik voorgesteld om samen de toetsen te herzien.\n")


@pytest.fixture
def segment_id(client, users) -> int:
    r = client.post("/api/v1/documents", headers=auth(users["admin"]),
                    files={"file": ("startinterview_L7.txt", INTERVIEW.encode("utf-8"))}, data={"respondent": "L7"})
    assert r.status_code == 201, r.text
    return r.json()["segments"][0]["id"]


def _sessions(settings) -> list[BrowserSession]:
    db = Database(settings.resolved_database_url())
    try:
        return db.read(lambda s: list(s.scalars(select(BrowserSession))))
    finally:
        db.dispose()


def _decisions(settings) -> list[Decision]:
    db = Database(settings.resolved_database_url())
    try:
        return db.read(lambda s: list(s.scalars(select(Decision))))
    finally:
        db.dispose()


def _page_csrf(client: TestClient) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/documenten").text).group(1)


def test_the_session_cookie_is_a_random_id_not_the_token(client, users, settings):
    token = users["anna"]
    csrf = form_token(client.get("/aanmelden").text)
    r = client.post("/aanmelden", data={"token": token, "next": "/documenten", "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    cookies = r.headers.get_list("set-cookie")
    assert not any(token in c for c in cookies)  # the API token never reaches the browser's cookies
    session_cookie = next(c for c in cookies if c.startswith("codeerhulp_session="))
    flags = [part.strip().lower() for part in session_cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags
    assert "secure" not in flags  # plain HTTP here; see the next test for HTTPS
    assert f"max-age={int(settings.session_hours * 3600)}" in flags
    session_id = session_cookie.split(";")[0].split("=", 1)[1]
    stored = _sessions(settings)
    assert [s.id_hash for s in stored] == [hash_token(session_id)]  # the database holds only its hash
    assert client.get("/api/v1/users/me").json()["name"] == "anna"  # the cookie alone reads the API


@pytest.mark.parametrize("how", ["https", "setting"])
def test_the_session_cookie_is_secure_over_https_or_by_setting(settings, users, how):
    if how == "setting":
        app, base_url = create_app(settings.model_copy(update={"secure_cookies": True})), "http://testserver"
    else:  # what uvicorn makes of a trusted proxy's X-Forwarded-Proto: https
        app, base_url = create_app(settings), "https://testserver"
    with TestClient(app, base_url=base_url) as client:
        page = client.get("/aanmelden")
        assert "secure" in page.headers["set-cookie"].lower()  # the sign-in form's cookie too
        csrf = form_token(page.text)
        # Sent by hand: over plain HTTP (the setting's case) a client keeps a Secure cookie to itself.
        r = client.post("/aanmelden", data={"token": users["anna"], "csrf_token": csrf},
                        headers={"Cookie": f"codeerhulp_signin={csrf}"}, follow_redirects=False)
        session_cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("codeerhulp_session="))
        assert "secure" in [part.strip().lower() for part in session_cookie.split(";")]


def test_sign_out_ends_the_session_on_the_server(client, users, settings):
    sign_in(client, users["anna"])
    session_id = client.cookies.get("codeerhulp_session")
    csrf = _page_csrf(client)
    r = client.post("/afmelden", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/aanmelden?afgemeld=1"
    assert _sessions(settings) == []
    # The old cookie, kept by someone (or the Back button's request), no longer opens anything.
    with TestClient(client.app, cookies={"codeerhulp_session": session_id}) as replay:
        assert replay.get("/documenten", follow_redirects=False).status_code == 303
        assert replay.get("/api/v1/documents").status_code == 401


def test_an_expired_session_is_refused_and_cleared_at_the_next_sign_in(client, users, settings):
    sign_in(client, users["anna"])
    db = Database(settings.resolved_database_url())
    try:  # as if session_hours had passed since this sign-in
        db.write(lambda s: s.execute(update(BrowserSession).values(
            expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1))))
    finally:
        db.dispose()
    assert client.get("/documenten", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/users/me").status_code == 401
    client.cookies.clear()
    sign_in(client, users["bram"])  # a new sign-in deletes the expired row
    rows = _sessions(settings)
    assert len(rows) == 1 and as_utc(rows[0].expires_at) > dt.datetime.now(dt.timezone.utc)


def test_a_form_without_its_csrf_token_is_refused(client, users, settings):
    # Sign-in: without the form's token, or with a token that is not the one in its cookie.
    client.get("/aanmelden")
    for data in ({"token": users["anna"]}, {"token": users["anna"], "csrf_token": "forged"}):
        r = client.post("/aanmelden", data=data, follow_redirects=False)
        assert r.status_code == 403 and catalogue()["signin"]["error_form"] in r.text
        assert "codeerhulp_session" not in r.headers.get("set-cookie", "")
    assert _sessions(settings) == []
    # Sign-out without the session's token: refused, and the session lives on.
    sign_in(client, users["anna"])
    for data in ({}, {"csrf_token": "forged"}):
        r = client.post("/afmelden", data=data, follow_redirects=False)
        assert r.status_code == 403 and catalogue()["errors"]["signout_refused"] in r.text
    assert client.get("/documenten", follow_redirects=False).status_code == 200
    assert len(_sessions(settings)) == 1


def test_a_decision_from_the_browser_session_needs_the_pages_csrf_token(client, users, settings, segment_id):
    sign_in(client, users["anna"])
    body = {"segment_id": segment_id, "action": "no_code"}
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        r = client.post("/api/v1/decisions", json=body, headers=headers)
        assert r.status_code == 403 and r.headers["x-csrf-refused"] == "1" and "CSRF" in r.json()["detail"]
    assert _decisions(settings) == []
    r = client.post("/api/v1/decisions", json=body, headers={"X-CSRF-Token": _page_csrf(client)})
    assert r.status_code in (200, 201), r.text
    assert r.json()["coder"] == "anna" and [d.action for d in _decisions(settings)] == ["no_code"]
    # With an API token no CSRF token is needed: no other site can make a browser send that header.
    r = client.post("/api/v1/decisions", json={**body, "action": "reject"}, headers=auth(users["bram"]))
    assert r.status_code in (200, 201), r.text


def _assert_security_headers(r, cacheable: bool = False) -> None:
    h = r.headers
    policy = h["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy and "script-src 'self';" in policy
    assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    if cacheable:
        assert "no-store" not in h.get("cache-control", "")
    else:
        assert h["cache-control"] == "no-store", (r.request.url, h.get("cache-control"))


def _assert_no_inline_script_or_style(html: str) -> None:
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag  # data blocks are never run
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), "an inline event handler"
    assert not re.search(r"<[^>]+\sstyle\s*=", html) and "<style" not in html, "inline style"
    assert "javascript:" not in html


def test_every_answer_carries_the_security_headers_and_pages_have_no_inline_script(client, users, segment_id):
    anna = auth(users["anna"])
    client.post("/api/v1/decisions", headers=anna, json={"segment_id": segment_id, "action": "accept"})
    answers = [client.get("/aanmelden"), client.get("/health"), client.get("/health/ready"),
               client.get("/api/v1/documents", headers=anna), client.get("/api/v1/documents/1", headers=anna),
               client.get("/api/v1/documents"),  # 401
               client.get("/bestaat-niet", headers={"Accept": "text/html"}),  # the Dutch 404 page
               client.post("/api/v1/suggest", headers={**anna, "Content-Length": "999999999"}),  # 413 before reading
               client.get("/openapi.json")]
    sign_in(client, users["admin"])
    pages = [client.get("/documenten"), client.get("/documenten/1"), client.get("/overeenstemming"),
             client.get("/documenten/999")]
    assert answers[4].status_code == 200 and "gecontroleerd" in answers[4].text  # transcript text: not stored
    for r in answers + pages:
        _assert_security_headers(r)
    assert answers[-2].status_code == 413
    for page in [answers[0], answers[6], *pages]:
        assert page.headers["content-type"].startswith("text/html")
        _assert_no_inline_script_or_style(page.text)
    assert "<svg" in pages[2].text  # the agreement plots are there, without a style attribute
    _assert_security_headers(client.get("/static/app.js"), cacheable=True)  # our own code: may be cached
    docs = client.get("/docs")  # FastAPI's interactive docs need their inline script, but may not be framed
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    assert docs.headers["x-frame-options"] == "DENY" and docs.headers["cache-control"] == "no-store"


def test_even_an_unexpected_server_error_carries_the_headers(settings, users, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(repository, "list_documents", broken)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        r = client.get("/api/v1/documents", headers=auth(users["anna"]))
    assert r.status_code == 500
    _assert_security_headers(r)
    assert r.headers["content-security-policy"] == PAGE_POLICY


def test_failed_sign_ins_are_limited_per_client_address(settings, users):
    settings = settings.model_copy(update={"signin_failures_per_minute": 3})
    app = create_app(settings)
    t = catalogue()["signin"]
    with TestClient(app, client=("192.0.2.10", 5000)) as client:
        csrf = form_token(client.get("/aanmelden").text)

        def attempt(token: str):  # noqa: ANN202
            return client.post("/aanmelden", data={"token": token, "csrf_token": csrf}, follow_redirects=False)

        assert [attempt(f"cdh_guess{i}").status_code for i in range(3)] == [401, 401, 401]
        refused = attempt("cdh_guess4")
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
        assert t["error_too_many"].split("{")[0] in refused.text and 'lang="nl"' in refused.text
        # A right token is refused as well while the address is over the limit.
        assert attempt(users["anna"]).status_code == 429
        assert "codeerhulp_session" not in client.cookies
        # The API with a token is not the sign-in form: it is not limited by it.
        assert client.get("/api/v1/users/me", headers=auth(users["anna"])).status_code == 200
    with TestClient(app, client=("192.0.2.11", 5000)) as other:  # another address signs in as usual
        sign_in(other, users["anna"])


def test_the_limit_forgets_failures_after_a_minute_and_keeps_memory_bounded(monkeypatch):
    now = [1000.0]
    limiter = SigninLimiter(2, clock=lambda: now[0])
    limiter.failed("a")
    now[0] += 30
    limiter.failed("a")
    assert limiter.retry_after("a") == 30 and limiter.retry_after("b") is None
    now[0] += 30.5  # the first failure is over a minute old
    assert limiter.retry_after("a") is None
    limiter.failed("a")
    assert limiter.retry_after("a") is not None
    monkeypatch.setattr("service.signin_limit.MAX_ADDRESSES", 3)
    for address in ("b", "c", "d", "e"):
        limiter.failed(address)
    assert len(limiter._failures) == 3 and "a" not in limiter._failures  # the oldest activity is dropped
