"""How errors become answers: each domain error has its status, and every answer can be encoded.

A client sent something wrong: it gets a 4xx whose message says what to change, never a 500.
Validation errors keep FastAPI's shape (a list of ``loc``, ``msg``, ``type``) but never echo the
input back: it may be transcript text (personal data), and a lone surrogate in it could not even be
encoded as the answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from training.artifacts import ArtifactError
from training.codebook import CodebookError
from training.segmenting import InputError

from .. import repository
from ..batching import Overloaded
from ..db import WriteConflict
from ..registry import NoModelError

STATUS_OF = ((repository.NotFound, 404), (repository.Conflict, 409), (WriteConflict, 409),
             (repository.TooLarge, 413), (repository.Invalid, 422), (InputError, 422), (CodebookError, 422),
             (ArtifactError, 422), (NoModelError, 503))


def printable(value: Any) -> str | int:
    """A value as JSON can carry it: lone surrogates (and other unencodable text) as \\u escapes."""
    if isinstance(value, int):
        return value
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def _message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid"))
    reason = (error.get("ctx") or {}).get("error")
    if error.get("type") == "json_invalid" and reason:
        message = f"{message}: {reason}"  # where the JSON broke, e.g. "Expecting value"
    return printable(message)  # type: ignore[return-value]


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    detail = [{"loc": [printable(part) for part in error.get("loc", ())], "msg": _message(error),
               "type": printable(error.get("type", "invalid"))} for error in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


def _handler(status_code: int):  # noqa: ANN202 - Starlette handler signature
    async def handler(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": printable(exc)}, status_code=status_code)

    return handler


async def _overloaded(_request: Request, exc: Exception) -> JSONResponse:
    # A full suggestion queue is a moment's overload, not a fault: the client may retry.
    return JSONResponse({"detail": printable(exc)}, status_code=503, headers={"Retry-After": "1"})


HttpErrorHandler = Callable[[Request, HTTPException], Awaitable[Response]]


def _http_error(other: HttpErrorHandler) -> HttpErrorHandler:
    async def handler(request: Request, exc: HTTPException) -> Response:
        # FastAPI answers a JSON body it cannot decode with "There was an error parsing the body":
        # say what is wrong when the cause is known.
        cause = exc.__cause__
        if exc.status_code == 400 and isinstance(cause, UnicodeDecodeError):
            return JSONResponse({"detail": f"the request body is not UTF-8 text (byte {cause.start}); "
                                           "send JSON in UTF-8"}, status_code=400)
        return await other(request, exc)

    return handler


def add_error_handlers(app: FastAPI, other_http_errors: HttpErrorHandler = http_exception_handler) -> None:
    """Register every handler; ``other_http_errors`` answers HTTP errors (the pages' Dutch error page
    for a browser)."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error(other_http_errors))
    for exc_type, code in STATUS_OF:
        app.add_exception_handler(exc_type, _handler(code))
    app.add_exception_handler(Overloaded, _overloaded)
