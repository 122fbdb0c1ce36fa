"""The size limit on request bodies, enforced as the body arrives.

A body is judged twice: by its ``Content-Length`` before a byte is read, and by counting while it
is read, which is the only way to limit a chunked body (it announces no length). Uploads (``POST``
to the upload path, ``/api/v1/documents``) are held to ``max_upload_bytes``; every other body to
``max_request_bytes``. Either way the answer is 413 with the limit and the setting that sets it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse

from .settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Multipart framing around the file: a request this much over the file limit may still carry a file
# under it, so the body limit leaves room and the exact check is on the file itself (documents.py).
MULTIPART_SLACK = 64 * 1024


class BodyTooLarge(HTTPException):
    """413, raised from inside the body stream; an HTTPException so that FastAPI's body parsing,
    which turns other exceptions into a 400, passes it on to the 413 answer."""

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=413, detail=detail)


def _body_limit(settings: Settings, upload_path: str, method: str, path: str) -> tuple[int, str, str]:
    """The limit in bytes for this request, the setting that sets it, and what to do when over it."""
    if method == "POST" and path == upload_path:
        return settings.max_upload_bytes + MULTIPART_SLACK, "max_upload_bytes", "split the file"
    return settings.max_request_bytes, "max_request_bytes", "send fewer or shorter texts per request"


class BodyLimit:
    """Pure ASGI middleware (it must wrap ``receive``, which Starlette's ``@app.middleware`` cannot)."""

    def __init__(self, app: ASGIApp, settings: Settings, upload_path: str) -> None:
        self.app = app
        self.settings = settings
        self.upload_path = upload_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting, advice = _body_limit(self.settings, self.upload_path, scope["method"], scope["path"])
        # The upload's own limit is the file's; the slack is ours, so the message names the file limit.
        shown = self.settings.max_upload_bytes if setting == "max_upload_bytes" else limit
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            what = "the upload" if setting == "max_upload_bytes" else "the request body"
            response = JSONResponse({"detail": f"{what} is {int(length)} bytes, over the limit of {shown} bytes "
                                               f"(setting {setting}); {advice}"}, status_code=413)
            await response(scope, receive, send)
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(f"the request body is over the limit of {shown} bytes (setting {setting}); "
                                       f"{advice}")
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:
            # Read outside FastAPI's request handling (no route caught it): answer here if we still can.
            if started:
                raise
            await JSONResponse({"detail": exc.detail}, status_code=413)(scope, receive, send)
