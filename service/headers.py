"""Security headers on every answer of the service, added by one ASGI middleware.

Pages may run only our own scripts and styles (no inline script, no inline event handler), may not
be framed, and no answer but a static asset may be stored by the browser or a proxy: pages and API
answers carry transcript text, and after signing out the Back button must not show them again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
# FastAPI's interactive API docs are one inline script over Swagger UI / ReDoc from a CDN; they hold
# no transcript text. They keep working under this looser policy, and still cannot be framed.
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
               "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
               "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
               "https://cdn.redoc.ly; worker-src blob:; connect-src 'self'; frame-ancestors 'none'; "
               "base-uri 'none'; object-src 'none'")
DOCS_PATHS = ("/docs", "/redoc")
STATIC_PREFIX = "/static/"

_COMMON = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"cross-origin-opener-policy", b"same-origin")]


def _encode(policy: str, cacheable: bool) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-security-policy", policy.encode("ascii")), *_COMMON]
    if not cacheable:
        headers.append((b"cache-control", b"no-store"))
    return headers


PAGE_HEADERS = _encode(PAGE_POLICY, cacheable=False)
DOCS_HEADERS = _encode(DOCS_POLICY, cacheable=False)
STATIC_HEADERS = _encode(PAGE_POLICY, cacheable=True)  # our own CSS, JS and icon: no personal data


def headers_for(path: str) -> list[tuple[bytes, bytes]]:
    if path.startswith(STATIC_PREFIX):
        return STATIC_HEADERS
    if path.startswith(DOCS_PATHS):
        return DOCS_HEADERS
    return PAGE_HEADERS


class SecurityHeaders:
    """Sets (replacing any the app set) the headers for the request's path on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive, send) -> None:  # noqa: ANN001 - ASGI callables
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope.get("path", ""))
        names = {name for name, _ in extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)
